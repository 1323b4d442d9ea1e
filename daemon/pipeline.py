"""One message through the daemon: parse, thread, match, classify, decide, record (one transaction), act."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.actions.executor import Executor, Outcome
from daemon.core.automated import detect_automated
from daemon.core.decide import Action, Decision, Situation, creates_lead, decide, due_activations, maniac_note
from daemon.core.extract import facts_of
from daemon.core.lead import Lead
from daemon.core.maniac import EvidencePiece, ManiacRules, checklist, merge
from daemon.core.message import MalformedMessage, Message, parse
from daemon.core.rules import Classification as Classified
from daemon.core.rules import Context, RuleSet
from daemon.core.threads import (
    ThreadIndex,
    direction_of,
    external_participants,
    match_lead,
    sender_role,
    thread_message_ids,
)
from daemon.core.trust import assess_sender
from daemon.errors import ActionError
from daemon.io import RawItem
from daemon.io.send import KEY_HEADER
from daemon.leads.base import LeadStore
from daemon.settings import Config
from daemon.state.models import (
    ActionRow,
    Classification,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    Thread,
    get_meta,
    naive_utc,
    set_meta,
    utcnow,
)
from daemon.state.upsert import greatest, insert

log = logging.getLogger("daemon.pipeline")
INSTALLED_KEY = "installed_on"  # meta: the first day this state ran against IMAP, the default `since`


@dataclass
class Summary:
    """What a run did, for the CLI's report."""

    read: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    quarantined: list[str] = field(default_factory=list)
    reviews: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)  # dry run: what would have been done
    held_back: list[str] = field(default_factory=list)  # dated before `since`: recorded, what it would have done


@dataclass(frozen=True)
class Evaluation:
    """The pure part's verdict on one message."""

    message: Message
    thread_id: str
    thread_method: str
    lead: Lead | None
    classification: Classified
    decision: Decision
    direction: str
    sender_role: str
    automated: str | None
    maniac: tuple[EvidencePiece, ...] = ()  # new MANIAC-T evidence found in this message


class Pipeline:
    def __init__(self, config: Config, sessions: sessionmaker[Session], leads: LeadStore, rules: RuleSet,
                 executor: Executor | None, *, dry_run: bool = False, maniac: ManiacRules | None = None) -> None:
        self.config = config
        self.sessions = sessions
        self.lead_store = leads
        self.rules = rules
        self.executor = executor
        self.dry_run = dry_run
        self.summary = Summary()
        self.tier_names = tuple(t.name for t in config.tiers)
        self.sent_sources = frozenset(f"imap:{folder}" for folder in config.sent_folders)
        self.index = ThreadIndex()
        self.thread_leads: dict[str, str] = {}
        # Threads whose lead is still "new:<create key>": pointed at the real lead once it is created.
        self.awaiting_lead: dict[str, list[str]] = {}
        self.known_ids: set[str] = set()
        self.known_hashes: set[str] = set()
        self.leads: dict[str, Lead] = {}
        self.maniac = maniac
        self.maniac_pieces: dict[str, list[EvidencePiece]] = {}
        self.since = self._first_day()
        self.refresh_leads()
        self._load_state()

    def refresh_leads(self) -> None:
        """Read the leads once (per sync cycle); matching then runs in memory."""
        try:
            self.leads = {lead.id: lead for lead in self.lead_store.all()}
        except ActionError as exc:
            if not exc.retryable or not self.leads:
                raise  # a refused token or a missing field needs a person; without any leads we cannot match
            log.warning("leads table unreachable, matching against the leads read before: %s", exc)

    def _load_state(self) -> None:
        addresses = self.config.addresses
        with self.sessions() as session:
            for thread in session.scalars(select(Thread)):
                if thread.lead_id:
                    self._link_thread(thread.id, thread.lead_id)
            rows = session.execute(select(StoredMessage.message_id, StoredMessage.thread_id, StoredMessage.subject,
                                          StoredMessage.thread_ids, StoredMessage.participants,
                                          StoredMessage.sha256))
            for message_id, thread_id, subject, ids, participants, sha in rows:
                self.known_ids.add(message_id)
                if sha:
                    self.known_hashes.add(sha)
                self.index.add(thread_id, ids or [message_id], subject, participants or [], addresses)
            self.known_hashes.update(session.scalars(select(Quarantined.sha256)))
            for row in session.scalars(select(ManiacRow).order_by(ManiacRow.id)):
                self.maniac_pieces.setdefault(row.lead_id, []).append(EvidencePiece(
                    row.letter, row.rule, row.quote, row.detail, row.message_id, row.date))

    # -- the pure part -------------------------------------------------------------------------------

    def evaluate(self, message: Message, source: str = "") -> Evaluation:
        """Thread, match, classify and decide: no database, no network."""
        addresses = self.config.addresses
        automated = detect_automated(message, own_id_domain=addresses.daemon_id_domain)
        assignment = self.index.assign(message, addresses)
        externals = external_participants(message, addresses)
        lead = self._lead_for(assignment.thread_id, externals)
        role = sender_role(message.from_addr, lead, addresses)
        direction = direction_of(message.from_addr, addresses)
        facts = facts_of(message, self.tier_names)
        if creates_lead(message, lead, externals, role, automated, addresses) and message.from_addr in externals:
            # The person who opens a new lead's thread becomes its first contact.
            role = "lead_contact"
        classification = self.rules.classify(message, Context(direction=direction, sender_role=role), facts)
        trust = None if automated else assess_sender(
            message, self.config.trust, outbound=direction == "outbound",
            from_sent_folder=source in self.sent_sources)
        decision = decide(Situation(message=message, classification=classification, lead=lead,
                                    externals=externals, sender_role=role, thread_id=assignment.thread_id,
                                    min_confidence=self.config.min_confidence, addresses=addresses,
                                    automated=automated, trust=trust))
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
        return match_lead(externals, list(self.leads.values()))

    # -- the edges ------------------------------------------------------------------------------------

    def process(self, item: RawItem) -> Evaluation | None:
        self.summary.read += 1
        digest = hashlib.sha256(item.data).hexdigest()
        if digest in self.known_hashes:
            self.summary.duplicates += 1
            self._advance_cursor_only(item)
            return None
        try:
            message = parse(item.data, max_size=self.config.max_message_bytes)
        except MalformedMessage as exc:
            self._quarantine(item, digest, exc.reason)
            return None
        if message.message_id in self.known_ids:
            self.summary.duplicates += 1
            log.info("duplicate message_id=%s source=%s uid=%s", message.message_id, item.source, item.uid)
            self._advance_cursor_only(item)
            return None
        evaluation = self.evaluate(message, item.source)
        historical = self.since is not None and (message.date is None or message.date.date() < self.since)
        if historical:
            evaluation = self._hold_back(evaluation)
        if evaluation.automated == "own message" and self.executor is not None and not self.dry_run:
            for key in message.header(KEY_HEADER):
                self.executor.confirm_delivered(key.strip())
        self._log(evaluation)
        self._count(evaluation)
        maniac_actions = [] if historical else self._maniac_update(evaluation)
        if self.dry_run:
            self._simulate(evaluation)
            self.summary.planned.extend(maniac_actions)
        else:
            self._record(item, digest, evaluation, maniac_actions)
        self._remember(evaluation, digest)
        if evaluation.decision.actions or maniac_actions:
            self.execute()
        return evaluation

    def _hold_back(self, evaluation: Evaluation) -> Evaluation:
        """First import: mail older than `since` is recorded (threads, leads matching) but never acted on;
        what it would have done is listed, as a dry run lists it."""
        decision = evaluation.decision
        would = [f"{action.kind} {action.key}" for action in decision.actions]
        if decision.review:
            would.append(f"review ({decision.review.reason})")
        if would:
            sent = evaluation.message.date.date().isoformat() if evaluation.message.date else "undated"
            self.summary.held_back.append(f"<{evaluation.message.message_id}> {sent}: {'; '.join(would)}")
        held = replace(decision, actions=(), review=None, needs_raw=False,
                       note=f"before since {self.since}: recorded, not acted on")
        # MANIAC-T evidence waits too: it would be filed under a lead that was not created.
        return replace(evaluation, decision=held, maniac=())

    def _first_day(self) -> date | None:
        """`since`: configured, else for IMAP the day this state first ran (kept in meta), else none."""
        if self.config.source.since is not None or self.config.source.kind != "imap":
            return self.config.source.since
        known = get_meta(self.sessions, INSTALLED_KEY).get(INSTALLED_KEY)
        if known:
            return date.fromisoformat(known)
        today = utcnow().date()
        if not self.dry_run:
            set_meta(self.sessions, {INSTALLED_KEY: today.isoformat()})
        return today

    def _maniac_update(self, evaluation: Evaluation) -> list[Action]:
        """Merge new MANIAC-T evidence into the lead's; a changed checklist becomes a line in its notes."""
        reference = self._lead_reference(evaluation)
        if not evaluation.maniac or reference is None:
            return []
        merged, changed = merge(self.maniac_pieces.get(reference, []), evaluation.maniac)
        if not changed:
            return []
        self.maniac_pieces[reference] = merged
        date = evaluation.message.date
        return [maniac_note(reference, checklist(merged), date.date().isoformat() if date else None)]

    def process_all(self, items: Iterable[RawItem]) -> Summary:
        started = utcnow()
        for item in items:
            self.process(item)
        self.finish_pass(started)
        return self.summary

    def finish_pass(self, started: datetime) -> None:
        """After a complete pass over the source: sends whose copy did not come back go out again; retries run."""
        if self.executor is not None and not self.dry_run:
            self.executor.resend_unconfirmed(started)
        self.execute()  # retries whose time has come
        self.activate_due(date.today())

    def execute(self) -> None:
        if self.dry_run or self.executor is None:
            return
        outcomes = self.executor.run_pending()
        if outcomes:
            self.summary.outcomes.extend(outcomes)
        # Taken over and cleared, so a long-running daemon neither grows these nor applies them again.
        self.leads.update(self.executor.changed_leads)
        self.executor.changed_leads.clear()
        for key, lead_id in self.executor.created_keys.items():
            for thread_id in self.awaiting_lead.pop(f"new:{key}", []):
                self.thread_leads[thread_id] = lead_id
        self.executor.created_keys.clear()

    def activate_due(self, today: date) -> None:
        """Needs Admin -> Active Service once a lead's recorded service start date has come."""
        actions = due_activations(list(self.leads.values()), today)
        if not actions:
            return
        if self.dry_run:
            self.summary.planned.extend(actions)
            return
        with self.sessions.begin() as session:
            self._insert_actions(session, actions, message_id=None)
        self.execute()

    def _log(self, evaluation: Evaluation) -> None:
        classification, decision = evaluation.classification, evaluation.decision
        lead = evaluation.lead.name if evaluation.lead else decision.lead_name or "-"
        log.info(
            "decision message_id=%s thread=%s lead=%r intent=%s rule=%s confidence=%.2f sender_role=%s "
            "actions=%s%s",
            evaluation.message.message_id, evaluation.thread_id, lead,
            "skipped" if evaluation.automated else classification.intent, classification.rule or "-",
            classification.confidence, evaluation.sender_role, decision.summary,
            f" note={decision.note!r}" if decision.note else "",
        )
        if decision.review:
            log.warning("review message_id=%s lead=%r reason=%r", evaluation.message.message_id, lead,
                        decision.review.reason)

    def _count(self, evaluation: Evaluation) -> None:
        if evaluation.automated:
            self.summary.skipped[evaluation.automated] += 1
        else:
            self.summary.intents[evaluation.classification.intent] += 1
        if evaluation.decision.review:
            self.summary.reviews.append(f"<{evaluation.message.message_id}>: {evaluation.decision.review.reason}")

    def _remember(self, evaluation: Evaluation, digest: str) -> None:
        message = evaluation.message
        self.known_ids.add(message.message_id)
        self.known_hashes.add(digest)
        self.index.add(evaluation.thread_id, thread_message_ids(message), message.subject, message.participants,
                       self.config.addresses)
        reference = self._lead_reference(evaluation)
        if reference and evaluation.thread_id not in self.thread_leads:
            self._link_thread(evaluation.thread_id, reference)

    def _link_thread(self, thread_id: str, reference: str) -> None:
        self.thread_leads[thread_id] = reference
        if reference.startswith("new:"):
            self.awaiting_lead.setdefault(reference, []).append(thread_id)

    def _lead_reference(self, evaluation: Evaluation) -> str | None:
        if evaluation.lead is not None:
            return evaluation.lead.id
        create = next((a for a in evaluation.decision.actions if a.kind == "create_lead"), None)
        return f"new:{create.key}" if create else None

    def _simulate(self, evaluation: Evaluation) -> None:
        """Dry run: apply the decision to the in-memory leads only, so later messages see its effect."""
        decision = evaluation.decision
        self.summary.planned.extend(decision.actions)
        for action in decision.actions:
            if action.kind == "create_lead":
                reference = f"new:{action.key}"
                self.leads[reference] = Lead(id=reference, name=action.payload["name"],
                                             status=action.payload["status"],
                                             contact_emails=tuple(action.payload["contact_emails"]),
                                             domain=action.payload["domain"])
            elif action.kind == "set_status":
                lead = self.leads.get(action.payload["lead"])
                if lead is not None:
                    self.leads[lead.id] = replace(lead, status=action.payload["to"])

    def _record(self, item: RawItem, digest: str, evaluation: Evaluation, extra_actions: list[Action]) -> None:
        """Message, classification, actions, review item and cursor: one transaction, all or nothing."""
        message, decision, classification = evaluation.message, evaluation.decision, evaluation.classification
        reference = self.thread_leads.get(evaluation.thread_id) or self._lead_reference(evaluation)
        with self.sessions.begin() as session:
            message_pk = session.scalar(insert(session, StoredMessage).values(
                message_id=message.message_id, thread_id=evaluation.thread_id, source=item.source,
                source_uid=item.uid, sha256=digest, subject=message.subject, from_addr=message.from_addr,
                date=naive_utc(message.date), direction=evaluation.direction,
                sender_role=evaluation.sender_role, lead_id=reference, skipped_reason=evaluation.automated,
                thread_ids=list(thread_message_ids(message)), participants=sorted(message.participants),
                raw=item.data if decision.needs_raw else None, received_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["message_id"]).returning(StoredMessage.id))
            if message_pk is None:  # another writer recorded it first
                return
            thread = insert(session, Thread).values(id=evaluation.thread_id, subject_key=message.subject[:200],
                                           lead_id=reference, created_at=utcnow())
            # A thread that started without a lead (internal, or a lead not yet created) takes the first one known.
            session.execute(thread.on_conflict_do_update(
                index_elements=["id"], set_={"lead_id": func.coalesce(Thread.lead_id, thread.excluded.lead_id)}))
            session.execute(insert(session, Classification).values(
                message_pk=message_pk, intent="skipped" if evaluation.automated else classification.intent,
                rule=classification.rule, rule_file=classification.rule_file,
                confidence=classification.confidence, matched=list(classification.matched),
                facts=classification.facts.as_json(),
                explanation=evaluation.automated or decision.note or classification.explanation,
            ))
            self._insert_actions(session, decision.actions, message_id=message.message_id)
            self._insert_actions(session, extra_actions, message_id=message.message_id)
            for piece in evaluation.maniac:
                session.execute(insert(session, ManiacRow).values(
                    lead_id=self._lead_reference(evaluation), letter=piece.letter, rule=piece.rule, quote=piece.quote,
                    detail=piece.detail, message_id=piece.message_id, date=naive_utc(piece.date),
                ).on_conflict_do_nothing(index_elements=["lead_id", "letter", "quote"]))
            if decision.review:
                session.execute(insert(session, ReviewItem).values(
                    key=decision.review.key, message_id=message.message_id, thread_id=evaluation.thread_id,
                    lead_id=reference, intent=classification.intent, reason=decision.review.reason,
                    proposed=[a.as_json() for a in decision.review.proposed], created_at=utcnow(),
                ).on_conflict_do_nothing(index_elements=["key"]))
            self._advance_cursor(session, item)

    @staticmethod
    def _insert_actions(session: Session, actions: Iterable[Action], *, message_id: str | None) -> None:
        now = utcnow()
        for action in actions:
            session.execute(insert(session, ActionRow).values(
                key=action.key, kind=action.kind, message_id=message_id or action.payload.get("message_id"),
                payload=action.payload, created_at=now, updated_at=now, next_attempt_at=now,
            ).on_conflict_do_nothing(index_elements=["key"]))

    def cursor(self, source: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, highest UID processed) for `source`; (None, 0) before the first message."""
        with self.sessions() as session:
            cursor = session.get(SyncCursor, source)
            return (cursor.uidvalidity, cursor.last_uid) if cursor else (None, 0)

    @staticmethod
    def _advance_cursor(session: Session, item: RawItem) -> None:
        """One upsert: a new UIDVALIDITY makes the old UIDs meaningless, so the resync starts the count again."""
        now = utcnow()
        upsert = insert(session, SyncCursor).values(source=item.source, uidvalidity=item.uidvalidity,
                                                    last_uid=item.uid, updated_at=now)
        same_validity = SyncCursor.uidvalidity.is_not_distinct_from(upsert.excluded.uidvalidity)
        session.execute(upsert.on_conflict_do_update(index_elements=["source"], set_={
            "last_uid": case((same_validity, greatest(SyncCursor.last_uid, upsert.excluded.last_uid)),
                             else_=upsert.excluded.last_uid),
            "uidvalidity": upsert.excluded.uidvalidity,
            "updated_at": now,
        }))

    def _advance_cursor_only(self, item: RawItem) -> None:
        if not self.dry_run:
            with self.sessions.begin() as session:
                self._advance_cursor(session, item)

    def _quarantine(self, item: RawItem, digest: str, reason: str) -> None:
        log.warning("quarantined source=%s uid=%s origin=%s reason=%r", item.source, item.uid, item.origin, reason)
        self.summary.quarantined.append(f"{item.origin or item.source}: {reason}")
        self.known_hashes.add(digest)
        if self.dry_run:
            return
        with self.sessions.begin() as session:
            session.execute(insert(session, Quarantined).values(
                sha256=digest, source=item.source, source_uid=item.uid, reason=reason, size=len(item.data),
                created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["sha256"]))
            self._advance_cursor(session, item)
