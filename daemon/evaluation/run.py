"""`partnerships eval` end to end: find the labels, evaluate every message with the Evaluator, score per split.

Shared by `eval` and `learn` (which measures a candidate model the same way before installing it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from daemon.core.evaluate import Evaluator
from daemon.core.rules import RuleSet, rules_of
from daemon.evaluation.dataset import cases, find_labels, load_labels
from daemon.evaluation.metrics import Case, Distribution, Report, distribution, render, render_distribution, score
from daemon.pipeline import evaluation_settings
from daemon.settings import Config


@dataclass(frozen=True)
class Outcome:
    source: Path
    labels: Path | None  # the labels.csv used; None: predictions only
    reports: dict[str, Report]  # per split, when labelled
    unlabelled: Distribution | None = None

    def as_json(self) -> dict[str, object]:
        if self.unlabelled is not None:
            return {"all": self.unlabelled.as_json()}
        return {split: report.as_json() for split, report in self.reports.items()}

    def text(self) -> str:
        if self.unlabelled is not None:
            return render_distribution(self.unlabelled, str(self.source))
        head = f"labels: {self.labels}\n"
        return head + "\n\n".join(render(report, f"{self.source} [{split}]") for split, report in self.reports.items())

    def render(self, as_json: bool) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False) if as_json else self.text()

    @property
    def empty(self) -> bool:
        return not self.reports and (self.unlabelled is None or not self.unlabelled.cases)


def evaluate(source: Path, config: Config, labels: Path | None = None, split: str | None = None,
             rules: RuleSet | None = None) -> Outcome:
    """Every message of `source` (a folder of .eml files or an mbox) through the Evaluator, each on its own, an
    unknown inbound sender taken for a contact (an evaluation set has no leads table). `labels`: labels.csv,
    else the one beside `source` (see find_labels), else predictions only."""
    labels = labels or find_labels(source)
    evaluator = Evaluator(evaluation_settings(config), rules or rules_of(config), unknown_is_contact=True,
                          classify_unrelated=True)
    rows = load_labels(labels) if labels else None
    root = labels.parent if labels else source
    groups: dict[str, list[Case]] = {}
    for group, case in cases(source, rows, root, evaluator, config.max_message_bytes, split):
        groups.setdefault(group, []).append(case)
    if rows is None:
        return Outcome(source, None, {}, distribution([c for found in groups.values() for c in found],
                                                      config.min_confidence))
    return Outcome(source, labels, {group: score(found, config.min_confidence)
                                    for group, found in sorted(groups.items())})
