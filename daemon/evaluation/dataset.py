"""Read labelled mail for `partnerships eval`: labels.csv (given, or found beside the mail) and a folder of .eml
files or an mbox, each message evaluated by the Evaluator `run` and `classify` use."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from daemon.core.evaluate import Evaluator
from daemon.core.message import MalformedMessage, parse
from daemon.core.rules import OTHER
from daemon.core.verdict import Verdict, verdict_of
from daemon.errors import ConfigError
from daemon.evaluation.metrics import ALL_INTENTS, FACT_INTENTS, Case
from daemon.io import iter_source

UNSPLIT = "all"
LABELS_FILE = "labels.csv"


def find_labels(source: Path) -> Path | None:
    """labels.csv in the folder `source` is (or, for an mbox, holds it) or in that folder's parent: `eval/test`
    finds `eval/labels.csv`."""
    folder = source if source.is_dir() else source.parent
    return next((p for p in (folder / LABELS_FILE, folder.parent / LABELS_FILE) if p.is_file()), None)


def load_labels(path: Path) -> dict[str, dict[str, str]]:
    """labels.csv rows by `file` (a path relative to the folder of labels.csv, e.g. `test/conf-en-t1-1.eml`)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ConfigError(f"--labels {path}: {exc.strerror}") from None
    labels: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, start=2):
        if not row.get("file") or row.get("intent") not in ALL_INTENTS:
            raise ConfigError(f"--labels {path}:{number}: needs a file and an intent of {', '.join(ALL_INTENTS)}")
        labels[row["file"]] = row
    return labels


def _predicted_facts(verdict: Verdict) -> dict[str, str]:
    facts = verdict.facts
    return {"tier": facts.tier or "", "price": str(facts.price) if facts.price is not None else "",
            "currency": facts.currency or "", "start_date": facts.start_date.isoformat() if facts.start_date else "",
            "month": verdict.month or ""}


def cases(source: Path, labels: dict[str, dict[str, str]] | None, labels_root: Path, evaluator: Evaluator,
          max_size: int, split: str | None = None) -> Iterator[tuple[str, Case]]:
    """(split, case) per message. Without labels every message is a case whose label is empty: what was predicted,
    with nothing to compare it to. Nothing is remembered between messages: each is judged on its own."""
    root = labels_root.resolve()
    for item in iter_source(source):
        name = item.origin or f"{item.source}#{item.uid}"
        path = Path(name).resolve()
        key = path.relative_to(root).as_posix() if path.is_relative_to(root) else name
        row = labels.get(key) if labels is not None else {"intent": ""}
        if row is None:
            continue  # not labelled: not part of the evaluation
        row_split = row.get("split") or UNSPLIT
        if split and row_split != split:
            continue
        expected = {fact: row.get(fact, "") for fact in FACT_INTENTS}
        try:
            verdict = verdict_of(evaluator.evaluate(parse(item.data, max_size=max_size), item.source, item.data))
        except MalformedMessage:
            yield row_split, Case(key, row["intent"], OTHER, 1.0, {}, expected)
            continue
        intent = OTHER if verdict.automated else verdict.intent
        yield row_split, Case(key, row["intent"], intent, verdict.classification.confidence,
                              _predicted_facts(verdict), expected, verdict.classification.rule)
