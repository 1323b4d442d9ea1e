"""Turn a classified message and its lead into the actions to take (pure: no I/O, no clock)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from daemon.core.extract import affirmed_month
from daemon.core.lead import ACTIVE_LEAD, ACTIVE_SERVICE, INACTIVE_LEAD, INACTIVE_SERVICE, NEEDS_ADMIN, WAITING, Lead
from daemon.core.message import Message
from daemon.core.rules import Classification
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


@dataclass(frozen=True)
class Action:
    kind: str  # create_lead | set_status | forward | record_evidence | add_note
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


def new_lead_key(externals: Sequence[str]) -> str:
    """Creating a lead is keyed by the community's domain, so two threads never create two leads."""
    first = externals[0]
    domain = domain_of(first)
    return f"create_lead:{first if domain in PUBLIC_MAIL_DOMAINS else domain}"


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
        Action("set_status", f"status:activate:{lead.id}:{lead.service_start.isoformat()}", {
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
        return Decision(note="operations is internal: its mail is not evidence")
    actions: list[Action] = []
    lead = situation.lead
    if lead is not None:
        lead_ref, lead_name, status = lead.id, lead.name, lead.status
    elif creates_lead(message, lead, situation.externals, situation.sender_role, situation.automated,
                      situation.addresses):
        create = _create_lead(situation)
        actions.append(create)
        lead_ref, lead_name, status = f"new:{create.key}", create.payload["name"], ACTIVE_LEAD
    else:
        return Decision(note="no lead: no external participant or partnerships@ not involved")

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
        proposed.append(_record_evidence(situation, lead_ref))
        proposed.append(_forward(situation, lead_ref, lead_name, status))
        if situation.sender_role != "lead_contact":
            reasons.append(f"sender {message.from_addr} is not a known contact of {lead_name}")
    if proposed and classification.confidence < situation.min_confidence:
        reasons.append(f"confidence {classification.confidence:.2f} is below {situation.min_confidence:.2f}"
                       f" ({classification.explanation})")
    if situation.trust is not None and not situation.trust.trusted and (actions or proposed):
        # A forged sender must not create leads, move statuses or reach the accountants by itself.
        reasons.insert(0, f"sender not verified: {situation.trust.reason}")
        proposed, actions = actions + proposed, []
    if reasons:
        review = Review(key=f"review:{message.message_id}", reason="; ".join(reasons), proposed=tuple(proposed))
        return Decision(tuple(actions), review, lead_name=lead_name, needs_raw=True)
    return Decision(tuple(actions + proposed), lead_name=lead_name,
                    needs_raw=any(a.kind == "forward" for a in proposed))


def _create_lead(situation: Situation) -> Action:
    externals = situation.externals
    key = new_lead_key(externals)
    domain = domain_of(externals[0])
    community_domain = None if domain in PUBLIC_MAIL_DOMAINS else domain
    return Action("create_lead", key, {
        "name": community_domain or externals[0],
        "contact_emails": list(externals),
        "domain": community_domain,
        "status": ACTIVE_LEAD,
        "reason": f"new external thread {situation.thread_id} involving partnerships@",
        "message_id": situation.message.message_id,
    })


def _set_status(situation: Situation, lead_ref: str, lead_name: str, old: str, new: str) -> Action:
    classification = situation.classification
    return Action("set_status", f"status:{situation.message.message_id}:{new}", {
        "lead": lead_ref,
        "lead_name": lead_name,
        "from": old,
        "to": new,
        "rule": classification.rule,
        "message_id": situation.message.message_id,
        "date": _date(situation.message),
    })


def _affirmed_month(situation: Situation) -> tuple[str | None, bool]:
    sent = situation.message.date
    return affirmed_month(situation.classification.facts, sent.date() if sent else None)


def _record_evidence(situation: Situation, lead_ref: str) -> Action:
    intent, facts = situation.classification.intent, situation.classification.facts
    kind = EVIDENCE_KIND[intent]
    month, stated = _affirmed_month(situation) if kind == "affirmation" else (None, False)
    return Action("record_evidence", f"evidence:{kind}:{situation.message.message_id}", {
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
    return Action("forward", f"forward:{message.message_id}:{intent}", {
        "lead": lead_ref,
        "template": f"forward_{intent}.txt.j2",
        "subject": f"[partnerships] {INTENT_LABELS[intent]}: {lead_name} - {message.subject}".strip(),
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
            "matched": list(classification.matched),
            "confidence": classification.confidence,
            "original_from": message.from_addr or "",
            "original_from_name": message.from_name,
            "original_date": _date(message),
            "original_subject": message.subject,
            "original_message_id": message.message_id,
            "attachments": [a.filename or a.content_type for a in message.attachments],
            "new_text": message.new_text[:NEW_TEXT_EXCERPT],
        },
    })


def _date(message: Message) -> str | None:
    return message.date.isoformat() if message.date else None


def maniac_note(lead_ref: str, summary: str, day: str | None) -> Action:
    """The lead's MANIAC-T checklist line for its notes; keyed by content, so an unchanged one is never repeated."""
    digest = hashlib.sha256(summary.encode()).hexdigest()[:16]
    return Action("add_note", f"maniac:{lead_ref}:{digest}", {
        "lead": lead_ref, "line": f"{day or 'undated'} {summary}", "message_id": None})
