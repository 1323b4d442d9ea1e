"""The figures `partnerships eval` prints, computed from (label, prediction) pairs: pure, no I/O.

- wrong automatic actions: an action intent at or above `min_confidence` that is not the label;
- detected: share of messages whose label is not `other` that got the right intent (acted on, or proposed
  for review below `min_confidence`);
- acted unaided: share of those that got the right intent at or above `min_confidence`.

Mail without labels gets only its `Distribution`: what was predicted, with no claim of right or wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from daemon.core.decide import FORWARD_INTENTS, TRANSITIONS
from daemon.core.rules import INTENTS, OTHER

ACTION_INTENTS = frozenset(TRANSITIONS) | frozenset(FORWARD_INTENTS)
ALL_INTENTS = (*INTENTS, OTHER)
# fact -> the labelled intent whose messages it is scored on
FACT_INTENTS = {"tier": "service_confirmation", "price": "service_confirmation",
                "currency": "service_confirmation", "start_date": "service_confirmation",
                "month": "delivery_affirmation"}


@dataclass(frozen=True)
class Case:
    """One message: its label and what the classifier said (facts as strings, "" when not stated)."""

    file: str
    label: str
    intent: str
    confidence: float
    facts: dict[str, str] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)
    rule: str | None = None


@dataclass(frozen=True)
class Report:
    cases: int
    min_confidence: float
    confusion: dict[str, dict[str, int]]  # label -> predicted -> count
    per_intent: dict[str, dict[str, float | int]]  # intent -> precision, recall, support
    wrong_automatic: tuple[str, ...]  # files
    automatic: int
    proposed: int  # action intents below min_confidence (review items)
    detected: float | None
    acted_unaided: float | None
    facts: dict[str, tuple[int, int]]  # fact -> (right, stated)
    misses: tuple[tuple[str, str, str, float], ...]  # (file, label, predicted, confidence)

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases, "min_confidence": self.min_confidence,
            "wrong_automatic_actions": len(self.wrong_automatic), "wrong_automatic_files": list(self.wrong_automatic),
            "automatic_actions": self.automatic, "proposed_for_review": self.proposed,
            "detected": self.detected, "acted_unaided": self.acted_unaided, "per_intent": self.per_intent,
            "confusion": self.confusion,
            "facts": {name: {"right": right, "stated": stated, "accuracy": _share(right, stated)}
                      for name, (right, stated) in self.facts.items()},
            "misses": [{"file": f, "label": label, "predicted": p, "confidence": c} for f, label, p, c in self.misses],
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def score(cases: Sequence[Case], min_confidence: float) -> Report:
    confusion = {label: dict.fromkeys(ALL_INTENTS, 0) for label in ALL_INTENTS}
    for case in cases:
        confusion.setdefault(case.label, dict.fromkeys(ALL_INTENTS, 0))
        confusion[case.label][case.intent] = confusion[case.label].get(case.intent, 0) + 1
    per_intent: dict[str, dict[str, float | int]] = {}
    predicted = Counter(c.intent for c in cases)
    for intent in ALL_INTENTS:
        right = confusion.get(intent, {}).get(intent, 0)
        support = sum(confusion.get(intent, {}).values())
        per_intent[intent] = {"precision": _share(right, predicted[intent]) or 0.0,
                              "recall": _share(right, support) or 0.0, "support": support}
    sure = [c for c in cases if c.intent in ACTION_INTENTS and c.confidence >= min_confidence]
    unsure = [c for c in cases if c.intent in ACTION_INTENTS and c.confidence < min_confidence]
    wanted = [c for c in cases if c.label != OTHER]
    found = [c for c in wanted if c.intent == c.label]
    unaided = [c for c in found if c.confidence >= min_confidence]
    facts: dict[str, tuple[int, int]] = {}
    for name, intent in FACT_INTENTS.items():
        stated = [c for c in cases if c.label == intent and c.expected.get(name)]
        right = sum(1 for c in stated if _same(name, c.facts.get(name, ""), c.expected[name]))
        facts[name] = (right, len(stated))
    return Report(
        cases=len(cases), min_confidence=min_confidence, confusion=confusion, per_intent=per_intent,
        wrong_automatic=tuple(c.file for c in sure if c.intent != c.label), automatic=len(sure),
        proposed=len(unsure), detected=_share(len(found), len(wanted)),
        acted_unaided=_share(len(unaided), len(wanted)), facts=facts,
        misses=tuple((c.file, c.label, c.intent, c.confidence) for c in cases if c.intent != c.label),
    )


def _same(name: str, got: str, expected: str) -> bool:
    if name == "tier":
        return got.casefold() == expected.casefold()
    if name == "price":
        try:
            return got != "" and float(got) == float(expected)
        except ValueError:
            return False
    return got.upper() == expected.upper() if name == "currency" else got == expected


def render(report: Report, title: str) -> str:
    """The human-readable report."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [f"== {title}: {report.cases} messages (min_confidence {report.min_confidence:.2f})",
             f"wrong automatic actions: {len(report.wrong_automatic)}",
             f"detected:                {pct(report.detected)}",
             f"acted unaided:           {pct(report.acted_unaided)}",
             f"automatic actions:       {report.automatic}",
             f"proposed for review:     {report.proposed}"]
    for name, (right, stated) in report.facts.items():
        if stated:
            lines.append(f"{name + ' accuracy:':25}{pct(_share(right, stated))} ({right}/{stated})")
    lines.append("")
    lines.append(f"{'intent':22} precision  recall  support")
    for intent, row in report.per_intent.items():
        if row["support"] or report.confusion.get(intent) is not None:
            lines.append(f"{intent:22} {row['precision']:9.3f}  {row['recall']:6.3f}  {row['support']:7}")
    short = dict(zip(ALL_INTENTS, ("first", "confirm", "affirm", "contrct", "wait", "decline", "ended", "other"),
                     strict=True))
    lines.append("")
    lines.append("confusion (rows: label, columns: predicted)")
    lines.append(" " * 22 + " ".join(f"{short[i]:>7}" for i in ALL_INTENTS))
    for label, row in report.confusion.items():
        if sum(row.values()):
            lines.append(f"{label:22}" + " ".join(f"{row.get(i, 0):7}" for i in ALL_INTENTS))
    for file in report.wrong_automatic:
        lines.append(f"WRONG AUTOMATIC: {file}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Distribution:
    """Unlabelled mail: per predicted intent, (messages, automatic actions, proposed for review)."""

    cases: int
    min_confidence: float
    predicted: dict[str, tuple[int, int, int]]

    @property
    def automatic(self) -> int:
        return sum(row[1] for row in self.predicted.values())

    @property
    def proposed(self) -> int:
        return sum(row[2] for row in self.predicted.values())

    def as_json(self) -> dict[str, Any]:
        return {"cases": self.cases, "min_confidence": self.min_confidence, "labelled": False,
                "automatic_actions": self.automatic, "proposed_for_review": self.proposed,
                "predicted": {intent: {"messages": n, "automatic": a, "proposed": p}
                              for intent, (n, a, p) in self.predicted.items()}}


def distribution(cases: Sequence[Case], min_confidence: float) -> Distribution:
    predicted: dict[str, tuple[int, int, int]] = {}
    for intent in ALL_INTENTS:
        mine = [c for c in cases if c.intent == intent]
        acting = intent in ACTION_INTENTS
        automatic = sum(1 for c in mine if acting and c.confidence >= min_confidence)
        proposed = sum(1 for c in mine if acting and c.confidence < min_confidence)
        if mine:
            predicted[intent] = (len(mine), automatic, proposed)
    return Distribution(len(cases), min_confidence, predicted)


def render_distribution(report: Distribution, title: str) -> str:
    share = f" ({report.proposed / report.cases:.2%} of the messages)" if report.cases else ""
    lines = [f"== {title}: {report.cases} messages (min_confidence {report.min_confidence:.2f}); no labels.csv, so"
             " predictions only (nothing is counted right or wrong)",
             f"automatic actions:       {report.automatic}",
             f"proposed for review:     {report.proposed}{share}",
             "",
             f"{'predicted intent':22} messages  automatic  proposed"]
    lines += [f"{intent:22} {n:8}  {a:9}  {p:8}" for intent, (n, a, p) in report.predicted.items()]
    return "\n".join(lines)
