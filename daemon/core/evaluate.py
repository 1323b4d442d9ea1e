"""One evaluation of a message, shared by `run`, `replay` and `classify`: thread, match the lead, classify, decide.

The `Evaluator` holds what earlier messages taught (the thread index, which thread belongs to which lead, the
leads read this cycle, MANIAC-T evidence per lead) in memory; it does no I/O. The pipeline loads that memory from
the state at start and records each verdict; `classify` loads it read-only and records nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from daemon.core.authority import LeadDomains, lead_addresses, sender_concern
from daemon.core.automated import detect_automated, echoes_own_forward
from daemon.core.decide import NO_LEAD, Action, Decision, ForwardLog, Situation, creates_lead, decide, maniac_note
from daemon.core.extract import NO_FACTS, facts_of
from daemon.core.kinds import ActionKind
from daemon.core.lead import Lead
from daemon.core.lookalike import skeleton
from daemon.core.maniac import EvidencePiece, ManiacRules, checklist, merge
from daemon.core.message import Message
from daemon.core.rules import Classification, Context, RuleSet, not_classified
from daemon.core.threads import (
    LeadIndex,
    ThreadIndex,
    direction_of,
    sender_role,
    thread_message_ids,
)
from daemon.core.trust import arrival_time, assess_sender
from daemon.settings import Addresses, TrustSettings

NEW_LEAD_PREFIX = "new:"  # a lead not created yet is referred to as new:<the key of the action creating it>

# What each lead's name looks like, once per name: a first import creates thousands of leads, each compared with
# every name (lookalike.skeleton takes microseconds).
_looks = lru_cache(maxsize=1 << 16)(skeleton)


@dataclass(frozen=True)
class EvaluationSettings:
    """The parts of the configuration an evaluation reads."""

    addresses: Addresses
    trust: TrustSettings
    min_confidence: float
    tier_names: tuple[str, ...] = ()
    sent_sources: frozenset[str] = frozenset()  # sources holding only our own sent mail (imap:<Sent folder>)
    max_forwards_per_lead: int = 3  # in 24 hours; more go to review (a loop, or a flood)
    max_forwards_per_sender: int = 3


@dataclass(frozen=True)
class Evaluation:
    """The verdict on one message, with everything that explains it."""

    message: Message
    thread_id: str
    thread_method: str
    lead: Lead | None
    classification: Classification
    decision: Decision
    direction: str
    sender_role: str
    automated: str | None
    maniac: tuple[EvidencePiece, ...] = ()  # new MANIAC-T evidence found in this message

    @property
    def lead_reference(self) -> str | None:
        """The lead's id, `new:<key>` for a lead this message creates or proposes to create, else None."""
        if self.lead is not None:
            return self.lead.id
        decision = self.decision
        proposed = decision.review.proposed if decision.review else ()
        create = next((a for a in (*decision.actions, *proposed) if a.kind == ActionKind.CREATE_LEAD), None)
        return f"{NEW_LEAD_PREFIX}{create.key}" if create else None

    @property
    def intent(self) -> str:
        return "skipped" if self.automated else self.classification.intent


@dataclass
class Evaluator:
    settings: EvaluationSettings
    rules: RuleSet
    maniac: ManiacRules | None = None
    index: ThreadIndex = field(default_factory=ThreadIndex)
    thread_leads: dict[str, str] = field(default_factory=dict)
    # Threads whose lead is still "new:<create key>": pointed at the real lead once it is created.
    awaiting_lead: dict[str, list[str]] = field(default_factory=dict)
    leads: dict[str, Lead] = field(default_factory=dict)
    maniac_pieces: dict[str, list[EvidencePiece]] = field(default_factory=dict)
    forward_log: ForwardLog = field(default_factory=ForwardLog)
    # `partnerships eval`: an inbound sender nobody knows counts as a contact of its lead (the evaluation set has
    # no leads table; its figures measure the classifier, not lead matching).
    unknown_is_contact: bool = False
    # `classify` and `eval`: classify mail of no lead too (the pipeline decides it without: it cannot act).
    classify_unrelated: bool = False
    _indexed: tuple[LeadIndex, LeadDomains] | None = field(default=None, repr=False, compare=False)

    def evaluate(self, message: Message, source: str = "", raw: bytes = b"") -> Evaluation:
        """Thread, match, classify and decide: no database, no network, nothing remembered. `raw` (the bytes as
        received) lets a quoted or attached copy of one of our own forwards be recognised."""
        settings = self.settings
        addresses = settings.addresses
        automated = detect_automated(message, own_id_domain=addresses.daemon_id_domain) or echoes_own_forward(
            message, raw, own_id_domain=addresses.daemon_id_domain)
        assignment = self.index.assign(message, addresses)
        # Who picks the lead: inbound the From address alone (daemon.core.authority).
        externals = lead_addresses(message, addresses)
        lead = self._lead_for(assignment.thread_id, externals)
        role = sender_role(message.from_addr, lead, addresses)
        direction = direction_of(message.from_addr, addresses)
        creating = creates_lead(message, lead, externals, role, automated, addresses)
        if creating and message.from_addr in externals:
            # The person who opens a new lead's thread becomes its first contact.
            role = "lead_contact"
        elif self.unknown_is_contact and role == "unknown" and direction == "inbound":
            role = "lead_contact"
        # What the message says matters only where it can act (decide): mail a machine sent is skipped whatever it
        # says, and mail of no lead that does not involve partnerships@ starts nothing. Classifying those would be
        # most of the work of a first import for nothing; `classify` and `eval` still classify everything.
        unrelated = lead is None and not creating and role != "operations" and not self.classify_unrelated
        skipped = automated or (NO_LEAD if unrelated else None)
        facts = NO_FACTS if skipped else facts_of(message, settings.tier_names)
        classification = not_classified(skipped, facts) if skipped else self.rules.classify(
            message, Context(direction=direction, sender_role=role), facts)
        trust = None if skipped else assess_sender(
            message, settings.trust, outbound=direction == "outbound", from_sent_folder=source in settings.sent_sources)
        concern = None if skipped else sender_concern(message, lead, role, self._indexes()[1])
        limits = self.forward_log.limits(lead.id if lead else None, message.from_addr, arrival_time(message),
                                         per_lead=settings.max_forwards_per_lead,
                                         per_sender=settings.max_forwards_per_sender)
        # Only a new lead needs them: its name must not be (or imitate) another lead's.
        taken = frozenset(_looks(known.name) for known in self.leads.values()) if creating else frozenset()
        decision = decide(Situation(message=message, classification=classification, lead=lead,
                                    externals=externals, sender_role=role, thread_id=assignment.thread_id,
                                    min_confidence=settings.min_confidence, addresses=addresses,
                                    automated=automated, trust=trust, concern=concern, limits=limits,
                                    taken_names=taken))
        # MANIAC-T describes the community, so only what its own people write counts (a team offer names
        # prices too).
        evidence = tuple(self.maniac.extract(message)) if (
            self.maniac is not None and not automated and role == "lead_contact") else ()
        return Evaluation(message, assignment.thread_id, assignment.method, lead, classification, decision,
                          direction, role, automated, evidence)

    def _lead_for(self, thread_id: str, externals: tuple[str, ...]) -> Lead | None:
        reference = self.thread_leads.get(thread_id)
        if reference is not None:
            lead = self.leads.get(reference)
            if lead is not None:
                return lead
        return self._indexes()[0].match(externals) if externals else None

    def _indexes(self) -> tuple[LeadIndex, LeadDomains]:
        """The leads indexed by contact and domain, rebuilt only when the leads changed (the comparison of the
        snapshot is by identity first, which frozen leads make exact)."""
        leads = tuple(self.leads.values())
        if self._indexed is None or self._indexed[0].leads != leads:
            self._indexed = (LeadIndex(leads), LeadDomains(leads))
        return self._indexed

    # -- what the evaluator learns --------------------------------------------------------------------------

    def thread_reference(self, evaluation: Evaluation) -> str | None:
        """The lead the message's thread belongs to, else the message's own lead reference."""
        return self.thread_leads.get(evaluation.thread_id) or evaluation.lead_reference

    def maniac_update(self, evaluation: Evaluation) -> list[Action]:
        """Merge new MANIAC-T evidence into the lead's; a changed checklist becomes a line in its notes."""
        reference = evaluation.lead_reference
        if not evaluation.maniac or reference is None:
            return []
        merged, changed = merge(self.maniac_pieces.get(reference, []), evaluation.maniac)
        if not changed:
            return []
        self.maniac_pieces[reference] = merged
        if evaluation.lead is None and not any(a.kind == ActionKind.CREATE_LEAD for a in evaluation.decision.actions):
            return []  # the lead waits for a person's approval: its notes do not exist yet
        date = evaluation.message.date
        return [maniac_note(reference, checklist(merged), date.date().isoformat() if date else None)]

    def remember(self, evaluation: Evaluation) -> None:
        message = evaluation.message
        self.index.add(evaluation.thread_id, thread_message_ids(message), message.subject, message.participants,
                       self.settings.addresses)
        reference = evaluation.lead_reference
        if reference and evaluation.thread_id not in self.thread_leads:
            self.link_thread(evaluation.thread_id, reference)
        for action in evaluation.decision.actions:
            if action.kind == ActionKind.CREATE_LEAD:
                self.provisional_lead(action.key, action.payload)
        if any(action.kind == ActionKind.FORWARD for action in evaluation.decision.actions):
            self.forward_log.add(reference, message.from_addr, arrival_time(message))

    def provisional_lead(self, key: str, payload: dict[str, Any]) -> None:
        """Until the executor has created it (also after a crash), later messages of a new lead's first contact
        must find it: by the From address alone, nothing else would."""
        reference = f"{NEW_LEAD_PREFIX}{key}"
        self.leads.setdefault(reference, Lead(
            id=reference, name=payload["name"], status=payload["status"],
            contact_emails=tuple(payload["contact_emails"]), domain=payload["domain"]))

    def link_thread(self, thread_id: str, reference: str) -> None:
        self.thread_leads[thread_id] = reference
        if reference.startswith(NEW_LEAD_PREFIX):
            self.awaiting_lead.setdefault(reference, []).append(thread_id)

    def lead_created(self, create_key: str, lead_id: str) -> None:
        """A lead proposed as new:<key> exists now: its threads and evidence point at the real id."""
        reference = f"{NEW_LEAD_PREFIX}{create_key}"
        self.leads.pop(reference, None)
        for thread_id in self.awaiting_lead.pop(reference, []):
            self.thread_leads[thread_id] = lead_id
        pieces = self.maniac_pieces.pop(reference, None)
        if pieces:
            self.maniac_pieces.setdefault(lead_id, []).extend(pieces)

    def leads_changed(self, leads: Iterable[Lead]) -> None:
        for lead in leads:
            self.leads[lead.id] = lead

    def simulate(self, actions: Iterable[Action]) -> None:
        """Dry run: apply status moves to the in-memory leads only, so later messages see their effect (new
        leads are provisional leads in either mode, see `remember`)."""
        for action in actions:
            if action.kind == ActionKind.SET_STATUS:
                lead = self.leads.get(action.payload["lead"])
                if lead is not None:
                    self.leads[lead.id] = replace(lead, status=action.payload["to"])
