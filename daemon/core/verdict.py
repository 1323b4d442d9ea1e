"""One message classified the way `partnerships classify` reports it: sender role, facts, intent, month.

`classify` reports the evaluation `run` makes (`verdict_of` an `Evaluation`); `eval` measures the classifier
alone with `classify_message`, which treats an external sender as a known contact (the evaluation set has no
leads table, so its figures measure the classifier, not lead matching).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.core.automated import detect_automated
from daemon.core.evaluate import Evaluation
from daemon.core.extract import Facts, affirmed_month, facts_of
from daemon.core.lead import Lead
from daemon.core.message import Message
from daemon.core.rules import Classification, Context, RuleSet
from daemon.core.threads import direction_of, external_participants, match_lead, sender_role
from daemon.settings import Addresses


@dataclass(frozen=True)
class Verdict:
    message: Message
    classification: Classification
    facts: Facts
    sender_role: str
    automated: str | None  # why the message is skipped (auto-reply, bounce, list mail, our own), else None
    month: str | None  # YYYY-MM, delivery affirmations only

    @property
    def intent(self) -> str:
        return self.classification.intent

    def record(self, file: str) -> dict[str, Any]:
        """The `classify --json` object (README "JSON output": keys are stable)."""
        facts, result = self.facts, self.classification
        return {
            "file": file, "message_id": self.message.message_id, "intent": result.intent, "rule": result.rule,
            "confidence": result.confidence, "matched": list(result.matched), "sender_role": self.sender_role,
            "month": self.month, "tier": facts.tier,
            "price": str(facts.price) if facts.price is not None else None, "skipped": self.automated,
        }


def verdict_of(evaluation: Evaluation) -> Verdict:
    """What `classify` reports of the evaluation `run` makes of the same message."""
    message, result = evaluation.message, evaluation.classification
    return Verdict(message, result, result.facts, evaluation.sender_role, evaluation.automated,
                   _month(result, message))


def _month(result: Classification, message: Message) -> str | None:
    if result.intent != "delivery_affirmation":
        return None
    return affirmed_month(result.facts, message.date.date() if message.date else None)[0]


def classify_message(message: Message, rules: RuleSet, addresses: Addresses, tier_names: Iterable[str],
                     leads: Sequence[Lead] = (), *, external_is_contact: bool = False) -> Verdict:
    """Classify without side effects. `external_is_contact`: treat an external sender as a known contact of
    its lead (the evaluation set has no leads table; its figures measure the classifier, not lead matching)."""
    automated = detect_automated(message, own_id_domain=addresses.daemon_id_domain)
    lead = match_lead(external_participants(message, addresses), list(leads))
    direction = direction_of(message.from_addr, addresses)
    role = sender_role(message.from_addr, lead, addresses)
    if external_is_contact and role == "unknown" and direction == "inbound":
        role = "lead_contact"
    facts = facts_of(message, tier_names)
    result = rules.classify(message, Context(direction=direction, sender_role=role), facts)
    return Verdict(message, result, facts, role, automated, _month(result, message))
