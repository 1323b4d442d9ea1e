"""One message classified the way `partnerships classify` and `partnerships eval` report it: sender role, facts,
intent, month, taken from the evaluation `run` makes (`verdict_of` an `Evaluation`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daemon.core.evaluate import Evaluation
from daemon.core.extract import Facts, affirmed_month
from daemon.core.message import Message
from daemon.core.rules import Classification


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
