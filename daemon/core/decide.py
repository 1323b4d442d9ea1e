"""Turn a classified message and its lead into the actions to take (pure: no I/O, no clock)."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from daemon.core.authority import Concern
from daemon.core.automated import FORWARD_SUBJECT_TAG
from daemon.core.extract import affirmed_month
from daemon.core.kinds import ActionKind
from daemon.core.lead import ACTIVE_LEAD, ACTIVE_SERVICE, INACTIVE_LEAD, INACTIVE_SERVICE, NEEDS_ADMIN, WAITING, Lead
from daemon.core.lookalike import skeleton
from daemon.core.message import Message
from daemon.core.organisation import MAX_NAME, organisation
from daemon.core.rules import Classification
from daemon.core.sanitize import clean, clean_block
from daemon.core.stated_dates import end_date
from daemon.core.threads import PUBLIC_MAIL_DOMAINS
from daemon.core.trust import TrustVerdict
from daemon.settings import Addresses, domain_of

# intent -> (status it moves the lead to, statuses that move is allowed from)
TRANSITIONS: dict[str, tuple[str, frozenset[str]]] = {
    "service_confirmation": (NEEDS_ADMIN, frozenset({ACTIVE_LEAD, INACTIVE_LEAD, WAITING, INACTIVE_SERVICE})),
    "waiting": (WAITING, frozenset({ACTIVE_LEAD, INACTIVE_LEAD})),
    "decline": (INACTIVE_LEAD, frozenset({ACTIVE_LEAD, WAITING, NEEDS_ADMIN})),
    "service_ended": (INACTIVE_SERVICE, frozenset({ACTIVE_SERVICE, NEEDS_ADMIN})),
}
FORWARD_INTENTS = ("service_confirmation", "delivery_affirmation", "contract")
EVIDENCE_KIND = {"service_confirmation": "confirmation", "delivery_affirmation": "affirmation",
                 "contract": "contract"}
INTENT_LABELS = {
    "service_confirmation": "Service confirmation",
    "delivery_affirmation": "Delivery affirmation",
    "contract": "Contract",
}
NEW_TEXT_EXCERPT = 4000
MAX_SUBJECT = 200
MAX_REASON = 1000


@dataclass(frozen=True)
class Action:
    kind: str  # an ActionKind (daemon.core.kinds)
    key: str  # idempotency key: the same key is never carried out twice
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "payload": self.payload}


@dataclass(frozen=True)
class Review:
    key: str
    reason: str
    proposed: tuple[Action, ...]


@dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    review: Review | None = None
    note: str = ""  # why nothing (more) happens, for the log
    lead_name: str | None = None
    needs_raw: bool = False  # whether an action may attach the original message

    @property
    def summary(self) -> str:
        kinds = [a.kind for a in self.actions] + (["review"] if self.review else [])
        return ",".join(kinds) or "none"


@dataclass(frozen=True)
class Situation:
    """Everything `decide` looks at, gathered by the pipeline."""

    message: Message
    classification: Classification
    lead: Lead | None
    externals: tuple[str, ...]
    sender_role: str
    thread_id: str
    min_confidence: float
    addresses: Addresses
    automated: str | None = None
    trust: TrustVerdict | None = None  # None: not assessed (e.g. automated mail)
    concern: Concern | None = None  # why the sender may not act alone (daemon.core.authority); None: a contact
    limits: ForwardLimits | None = None  # forwards already made in the day before this message, and the caps
    # What the existing leads' names look like (lookalike.skeleton): a new lead never takes or extends one.
    taken_names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ForwardLimits:
    """How many forwards the lead and the sender caused in the 24 hours before the message, and the caps."""

    lead_count: int
    sender_count: int
    per_lead: int
    per_sender: int

    def exceeded(self, lead_name: str, sender: str) -> str | None:
        if self.lead_count >= self.per_lead:
            return (f"rate limit: {self.lead_count} forwards for {lead_name} in 24 hours "
                    f"(max_forwards_per_lead = {self.per_lead})")
        if self.sender_count >= self.per_sender:
            return (f"rate limit: {self.sender_count} forwards from {clean(sender, 120)} in 24 hours "
                    f"(max_forwards_per_sender = {self.per_sender})")
        return None


@dataclass
class ForwardLog:
    """When forwards were decided, per lead and per sender, so that a day's forwards can be capped."""

    times: dict[str, list[datetime]] = field(default_factory=dict)

    def add(self, lead_ref: str | None, sender: str | None, when: datetime | None) -> None:
        if when is None:
            return
        for key in (f"lead:{lead_ref}", f"sender:{sender}"):
            insort(self.times.setdefault(key, []), when)  # kept in order: a count is two bisections

    def limits(self, lead_ref: str | None, sender: str | None, when: datetime | None, *, per_lead: int,
               per_sender: int) -> ForwardLimits:
        """Forwards in the 24 hours before `when` (all of them when the time is unknown)."""
        def count(key: str) -> int:
            times = self.times.get(key, [])
            if when is None:
                return len(times)
            return bisect_right(times, when + timedelta(minutes=5)) - bisect_right(times, when - timedelta(days=1))
        return ForwardLimits(count(f"lead:{lead_ref}"), count(f"sender:{sender}"), per_lead, per_sender)


def key_id(message: Message) -> str:
    """The Message-ID as it may appear in action keys, which end up in headers and in the leads' notes: a
    sender chooses it, so without control characters or bidi overrides (unchanged for any normal id)."""
    return clean(message.message_id, 250)


def new_lead_key(externals: Sequence[str]) -> str:
    """Creating a lead is keyed by the community's domain, so two threads never create two leads."""
    first = externals[0]
    domain = domain_of(first)
    return f"create_lead:{first if domain in PUBLIC_MAIL_DOMAINS else domain}"


NO_LEAD = "no lead: no external participant or partnerships@ not involved"


def is_relevant(message: Message, addresses: Addresses) -> bool:
    """A sales conversation involves the shared mailbox; anything else is not ours to act on."""
    return addresses.partnerships in message.recipients or message.from_addr == addresses.partnerships


def creates_lead(message: Message, lead: Lead | None, externals: Sequence[str], role: str,
                 automated: str | None, addresses: Addresses) -> bool:
    """A new external conversation involving partnerships@ with no lead yet starts one."""
    return (lead is None and automated is None and bool(externals) and role != "operations"
            and is_relevant(message, addresses))


def due_activations(leads: Sequence[Lead], today: date) -> list[Action]:
    """Needs Admin -> Active Service for every lead whose recorded service start date has arrived."""
    return [
        Action(ActionKind.SET_STATUS, f"status:activate:{lead.id}:{lead.service_start.isoformat()}", {
            "lead": lead.id, "lead_name": lead.name, "from": NEEDS_ADMIN, "to": ACTIVE_SERVICE,
            "rule": "service-start-date", "message_id": None, "date": lead.service_start.isoformat(),
        })
        for lead in leads
        if lead.status == NEEDS_ADMIN and lead.service_start is not None and lead.service_start <= today
    ]


def decide(situation: Situation) -> Decision:
    message, classification = situation.message, situation.classification
    if situation.automated:
        return Decision(note=f"skipped: {situation.automated}")
    if situation.sender_role == "operations":
        return _from_operations(situation)
    actions: list[Action] = []
    lead = situation.lead
    creating = False
    if lead is not None:
        lead_ref, lead_name, status = lead.id, lead.name, lead.status
    elif creates_lead(message, lead, situation.externals, situation.sender_role, situation.automated,
                      situation.addresses):
        create = _create_lead(situation)
        actions.append(create)
        creating = True
        lead_ref, lead_name, status = f"new:{create.key}", create.payload["name"], ACTIVE_LEAD
    else:
        return Decision(note=NO_LEAD)

    intent = classification.intent
    proposed: list[Action] = []
    reasons: list[str] = []
    if intent in TRANSITIONS:
        target, allowed = TRANSITIONS[intent]
        if status != target:
            if status in allowed:
                proposed.append(_set_status(situation, lead_ref, lead_name, status, target))
            else:
                reasons.append(f"{status} -> {target} is not an allowed move for {lead_name}")
    if intent in FORWARD_INTENTS:
        facts = _set_facts(situation, lead_ref, lead_name)
        proposed.extend([facts] if facts is not None else [])
        proposed.append(_record_evidence(situation, lead_ref))
        proposed.append(_forward(situation, lead_ref, lead_name, status))
        limited = situation.limits.exceeded(lead_name, message.from_addr or "") if situation.limits else None
        if limited:
            reasons.append(limited)
    if proposed:
        authority = _authority_reasons(situation, lead_name, creating=creating)
        reasons.extend(authority)
        contact = _proposed_contact(situation, lead_ref, lead_name) if authority and not creating else None
        if contact is not None:
            proposed.insert(0, contact)
    if proposed and classification.confidence < situation.min_confidence:
        reasons.append(f"confidence {classification.confidence:.2f} is below {situation.min_confidence:.2f}"
                       f" ({clean(classification.explanation)})")
    concern = situation.concern
    if concern is not None and concern.impersonation and (actions or proposed):
        # A lookalike domain or a borrowed name must not even start a lead by itself.
        reasons.insert(0, concern.reason)
        proposed, actions = actions + proposed, []
    if situation.trust is not None and not situation.trust.trusted and (actions or proposed):
        # A forged sender must not create leads, move statuses or reach the accountants by itself.
        reasons.insert(0, f"sender not verified: {situation.trust.reason}")
        proposed, actions = actions + proposed, []
    if reasons:
        review = Review(key=f"review:{key_id(message)}", reason=clean("; ".join(reasons), MAX_REASON),
                        proposed=tuple(proposed))
        return Decision(tuple(actions), review, lead_name=lead_name, needs_raw=True)
    return Decision(tuple(actions + proposed), lead_name=lead_name,
                    needs_raw=any(a.kind == ActionKind.FORWARD for a in proposed))


def _authority_reasons(situation: Situation, lead_name: str, *, creating: bool) -> list[str]:
    """Why a status move or forward may not happen by itself: only a recorded contact of an existing lead may
    cause one; the first message of a new lead creates the lead and nothing more."""
    if situation.sender_role == "team":
        return []  # the team's own mail: rules decide what it may do, trust decides whether it is the team
    if creating:
        return [f"first message of the new lead {lead_name}: it creates the lead, anything more needs a person"]
    if situation.sender_role == "lead_contact":
        return []
    concern = situation.concern
    return [concern.reason if concern else
            f"sender {clean(situation.message.from_addr, 120)} is not a known contact of {lead_name}"]


def _proposed_contact(situation: Situation, lead_ref: str, lead_name: str) -> Action | None:
    """An authenticated sender who poses as no one may become a contact of the lead, when a person approves the
    review item (its only way in: a contact is never added by mail alone)."""
    sender, concern, trust = situation.message.from_addr, situation.concern, situation.trust
    if not sender or (concern is not None and concern.impersonation) or trust is None or not trust.trusted:
        return None
    return Action(ActionKind.ADD_CONTACT, f"contact:{lead_ref}:{sender}", {
        "lead": lead_ref, "lead_name": lead_name, "address": sender, "message_id": key_id(situation.message)})


def _create_lead(situation: Situation) -> Action:
    externals = situation.externals
    key = new_lead_key(externals)
    domain = domain_of(externals[0])
    community_domain = None if domain in PUBLIC_MAIL_DOMAINS else domain
    return Action(ActionKind.CREATE_LEAD, key, {
        "name": new_lead_name(situation, community_domain or externals[0]),
        "contact_emails": list(externals),
        "domain": community_domain,
        "status": ACTIVE_LEAD,
        "reason": f"new external thread {situation.thread_id} involving partnerships@",
        "message_id": situation.message.message_id,
    })


def new_lead_name(situation: Situation, fallback: str) -> str:
    """The organisation the first contact states in their signature or display name, else `fallback` (the
    domain). Not when the team writes (its signature is ours), nor a name another lead has or imitates."""
    message = situation.message
    stated = organisation(message) if message.from_addr == situation.externals[0] else None
    if stated and not _borrows_a_name(skeleton(stated), situation.taken_names):
        return clean(stated, MAX_NAME)
    return fallback


def _borrows_a_name(looks: str, taken: frozenset[str]) -> bool:
    """The same name as a lead, or one that holds a lead's name ("Bayside Genomics Institute" next to "Bayside
    Genomics") or is held in it: a stranger's new lead would pass for that community in notes and forwards."""
    return any(looks == name or (min(len(looks), len(name)) >= 8 and (looks in name or name in looks))
               for name in taken)


def _set_status(situation: Situation, lead_ref: str, lead_name: str, old: str, new: str) -> Action:
    classification = situation.classification
    payload: dict[str, Any] = {
        "lead": lead_ref,
        "lead_name": lead_name,
        "from": old,
        "to": new,
        "rule": classification.rule,
        "message_id": key_id(situation.message),  # shown in the lead's notes
        "date": _date(situation.message),
    }
    if new == INACTIVE_SERVICE and situation.message.date is not None:
        # A service ends on the date the mail states: the executor holds the move until then, also when the
        # message itself is not kept. Without a Date header the executor works it out from the stored message.
        payload["effective"] = stated_end(situation.message)
    return Action(ActionKind.SET_STATUS, f"status:{key_id(situation.message)}:{new}", payload)


SERVICE_STATUSES = (ACTIVE_SERVICE, INACTIVE_SERVICE)  # a start recorded now would be a guess about the past


def _set_facts(situation: Situation, lead_ref: str, lead_name: str) -> Action | None:
    """What the mail states becomes lead data, recorded like a status move: a confirmation's tier and monthly fee
    (with its currency), and the service start. The start is recorded only where the lead has none (the table's
    value wins) and comes from, in this order: the date a confirmation or contract states; else, for a lead not
    yet in service, the month a first delivery affirmation affirms (its first day: the service ran then; not only
    `Needs Admin`, since the confirmation's own move may still be on its way). Operations' word that the hub is
    set up is the third signal (`_from_operations`). `Needs Admin` becomes `Active Service` once the recorded
    date has come (`due_activations`)."""
    intent, facts = situation.classification.intent, situation.classification.facts
    stated: dict[str, Any] = {}
    if intent == "service_confirmation":
        stated |= {"tier": facts.tier, "monthly_fee": str(facts.price) if facts.price is not None else None,
                   "currency": facts.currency}
    lead = situation.lead
    if lead is None or lead.service_start is None:
        if intent in ("service_confirmation", "contract") and facts.start_date is not None:
            stated["service_start"] = facts.start_date.isoformat()
        elif intent == "delivery_affirmation" and lead is not None and lead.status not in SERVICE_STATUSES:
            month, _ = _affirmed_month(situation)
            stated["service_start"] = f"{month}-01" if month else None
    if not any(stated.get(name) for name in ("tier", "monthly_fee", "service_start")):
        return None
    return _facts_action(situation.message, lead_ref, lead_name, intent, stated)


def _facts_action(message: Message, lead_ref: str, lead_name: str, intent: str, stated: dict[str, Any]) -> Action:
    """The `set_facts` action of a message, once per message whichever signal it carries."""
    return Action(ActionKind.SET_FACTS, f"facts:{key_id(message)}", {
        "lead": lead_ref, "lead_name": lead_name, "message_id": key_id(message), "date": _date(message),
        "intent": intent, **stated})


# Operations saying the community's hub or admin set-up is done ("the hub is now live", "admin infrastructure has
# been set up"): a present or perfect statement, never a future, a question or a negation.
_SET_UP_DONE = re.compile(
    r"\b(?:hub|jupyterhub|service|deployment|admin(?:istrative)?\s+(?:set-?up|infrastructure)|infrastructure)\b"
    r"[^.!?\n]{0,60}?\b(?:is|are|has\s+been|have\s+been)\s+(?:now\s+)?"
    r"(?:live|ready|up\s+and\s+running|set\s+up|deployed|running|in\s+place|operational|launched)\b(?![^.!?\n]*\?)",
    re.IGNORECASE)


def _from_operations(situation: Situation) -> Decision:
    """Operations' mail is not evidence of the community's wishes; but its word that the hub is set up records the
    service start (the mail's day) of a lead in `Needs Admin` that has none, so the lead becomes `Active Service`."""
    lead, message = situation.lead, situation.message
    if (lead is None or lead.status != NEEDS_ADMIN or lead.service_start is not None or message.date is None
            or not _SET_UP_DONE.search(message.new_text)):
        return Decision(note="operations is internal: its mail is not evidence")
    action = _facts_action(message, lead.id, lead.name, "hub_set_up",
                           {"service_start": message.date.date().isoformat()})
    if situation.trust is not None and not situation.trust.trusted:
        return Decision(review=Review(key=f"review:{key_id(message)}", proposed=(action,), reason=clean(
            f"sender not verified: {situation.trust.reason}", MAX_REASON)), lead_name=lead.name, needs_raw=True)
    return Decision((action,), lead_name=lead.name)


def stated_end(message: Message, received: date | None = None) -> str | None:
    """The end date the message states (ISO), read against the day it was sent (else `received`); None when it
    names none or neither day is known."""
    sent = message.date.date() if message.date else received
    found = end_date(message.new_text, sent) if sent else None
    return found.isoformat() if found else None


def _affirmed_month(situation: Situation) -> tuple[str | None, bool]:
    sent = situation.message.date
    return affirmed_month(situation.classification.facts, sent.date() if sent else None)


def _record_evidence(situation: Situation, lead_ref: str) -> Action:
    intent, facts = situation.classification.intent, situation.classification.facts
    kind = EVIDENCE_KIND[intent]
    month, stated = _affirmed_month(situation) if kind == "affirmation" else (None, False)
    return Action(ActionKind.RECORD_EVIDENCE, f"evidence:{kind}:{key_id(situation.message)}", {
        "lead": lead_ref,
        "kind": kind,
        "message_id": situation.message.message_id,
        "date": _date(situation.message),
        "month": month,
        "month_stated": stated,
        "tier": facts.tier if kind == "confirmation" else None,
        "price": str(facts.price) if kind == "confirmation" and facts.price is not None else None,
    })


def _forward(situation: Situation, lead_ref: str, lead_name: str, status: str) -> Action:
    message, classification = situation.message, situation.classification
    intent, facts = classification.intent, classification.facts
    month, stated = _affirmed_month(situation) if intent == "delivery_affirmation" else (None, False)
    target = TRANSITIONS.get(intent, (status, frozenset()))[0]
    return Action(ActionKind.FORWARD, f"forward:{key_id(message)}:{intent}", {
        "lead": lead_ref,
        "template": f"forward_{intent}.txt.j2",
        "subject": clean(f"{FORWARD_SUBJECT_TAG} {INTENT_LABELS[intent]}: {lead_name} - {message.subject}",
                         MAX_SUBJECT),
        "message_id": message.message_id,
        "vars": {
            "intent": intent,
            "intent_label": INTENT_LABELS[intent],
            "community": lead_name,
            "status_before": status,
            "status_after": target,
            "tier": facts.tier,
            "price": str(facts.price) if facts.price is not None else None,
            "month": month,
            "month_stated": stated,
            "rule": classification.rule,
            "matched": [clean(phrase, 80) for phrase in classification.matched],
            "confidence": classification.confidence,
            # Every value from the mail is one clean line (the excerpt keeps its line breaks): a newline in a
            # display name or file name must not add lines of its own to the note operations reads.
            "original_from": clean(message.from_addr, 254),
            "original_from_name": clean(message.from_name, 120),
            "original_date": _date(message),
            "original_subject": clean(message.subject),
            "original_message_id": clean(message.message_id, 250),
            "attachments": [clean(a.filename or a.content_type, 120) for a in message.attachments[:20]],
            "new_text": clean_block(message.new_text, NEW_TEXT_EXCERPT),
        },
    })


def _date(message: Message) -> str | None:
    return message.date.isoformat() if message.date else None


def maniac_note(lead_ref: str, summary: str, day: str | None) -> Action:
    """The lead's MANIAC-T checklist line for its notes; keyed by content, so an unchanged one is never repeated."""
    digest = hashlib.sha256(summary.encode()).hexdigest()[:16]
    return Action(ActionKind.ADD_NOTE, f"maniac:{lead_ref}:{digest}", {
        "lead": lead_ref, "line": f"{day or 'undated'} {summary}", "message_id": None})
