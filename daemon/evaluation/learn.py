"""Train the classifier's linear model (daemon/core/model.py) and, for `partnerships learn`, install it safely.

The training set is eval/dev (never eval/test), half of a ham corpus as ordinary mail (`other`, the half whose path
hashes even, see `in_training_half`; the other half stays unseen), and, for `learn`, the labelled examples the team
gave in the review queue (daemon/state/examples.py). Training is a deterministic multinomial logistic regression
(fixed seed and order). `learn` measures eval/test with the model in use and with the new one, and installs the new
one under the state directory (0600) only when none of its automatic actions on eval/test is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from daemon.core.message import MalformedMessage, parse
from daemon.core.model import LinearModel, features, learned_model
from daemon.core.rules import MODEL_INTENTS, OTHER, rules_of
from daemon.errors import DaemonError
from daemon.evaluation.metrics import Report
from daemon.evaluation.run import evaluate
from daemon.filemodes import open_private, private_dir
from daemon.settings import Config
from daemon.state.examples import Example

SEED, EPOCHS, RATE, L2, MIN_COUNT = 14, 40, 0.2, 1e-4, 2
TEXT_CHARS = 4000  # what the classifier reads of a message (core/evidence.ANALYSED_CHARS)
Sample = tuple[set[str], int]


def dev_examples(eval_dir: Path) -> list[Sample]:
    """eval/dev: the messages labels.csv puts in the `dev` split."""
    labels = eval_dir / "labels.csv"
    try:
        rows = [r for r in csv.DictReader(labels.open(encoding="utf-8")) if r["split"] == "dev"]
    except OSError as exc:
        raise DaemonError(f"no labelled set at {eval_dir} ({exc.strerror}): pass --eval DIR, a checkout's eval/") \
            from None
    found = []
    for row in rows:
        message = parse((eval_dir / row["file"]).read_bytes())
        found.append((features(message.new_text[:TEXT_CHARS], message.subject), MODEL_INTENTS.index(row["intent"])))
    return found


def in_training_half(path: Path, root: Path) -> bool:
    return hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()[0] % 2 == 0


def ham_examples(root: Path) -> list[Sample]:
    other = MODEL_INTENTS.index(OTHER)
    found = []
    for path in sorted(root.rglob("*.eml")):
        if not in_training_half(path, root):
            continue
        try:
            message = parse(path.read_bytes())
        except MalformedMessage:
            continue
        found.append((features(message.new_text[:TEXT_CHARS], message.subject), other))
    return found


def team_samples(examples: Iterable[Example]) -> list[Sample]:
    return [(features(e.text[:TEXT_CHARS], e.subject), MODEL_INTENTS.index(e.intent))
            for e in examples if e.intent in MODEL_INTENTS]


def train(data: list[Sample], classes: int = len(MODEL_INTENTS)) -> tuple[list[float], dict[str, list[float]]]:
    counts = Counter(f for found, _ in data for f in found)
    vocabulary = sorted(f for f, n in counts.items() if n >= MIN_COUNT)
    known = set(vocabulary)
    weights = {f: [0.0] * classes for f in vocabulary}
    bias = [0.0] * classes
    rng = random.Random(SEED)
    order = list(range(len(data)))
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = RATE / (1 + epoch * 0.1)
        for index in order:
            found, label = data[index]
            active = [f for f in found if f in known]
            scores = [bias[c] + sum(weights[f][c] for f in active) for c in range(classes)]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            for c in range(classes):
                gradient = exps[c] / total - (1.0 if c == label else 0.0)
                bias[c] -= rate * gradient
                for f in active:
                    weights[f][c] -= rate * (gradient + L2 * weights[f][c])
    return bias, weights


def build_model(data: list[Sample]) -> LinearModel:
    """Train and keep the weights that matter (rounded, so that a change reads as a diff of the words it moved)."""
    bias, weights = train(data)
    kept = {f: tuple(round(w, 4) for w in row) for f, row in weights.items() if max(map(abs, row)) >= 0.01}
    return LinearModel(MODEL_INTENTS, tuple(round(b, 4) for b in bias), kept)


def render(model: LinearModel) -> str:
    """One feature per line, so that a change to the model reads as a diff of the words it moved."""
    rows = ",\n".join(f"  {json.dumps(f, ensure_ascii=False)}: {json.dumps(list(w))}" for f, w in
                       sorted(model.weights.items()))
    return (f'{{"intents": {json.dumps(list(model.intents))},\n "bias": {json.dumps(list(model.bias))},\n'
            f' "weights": {{\n{rows}\n }}\n}}\n')


def accuracy(model: LinearModel, data: list[Sample]) -> float:
    right = sum(1 for found, label in data
                if max(model.probabilities(found).items(), key=lambda kv: kv[1])[0] == MODEL_INTENTS[label])
    return right / len(data) if data else 0.0


@dataclass(frozen=True)
class Learned:
    before: Report
    after: Report
    trained_on: dict[str, int]  # eval/dev, ham, team -> examples
    installed: Path | None  # where the new model went; None: refused
    refused: str = ""

    def text(self) -> str:
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        rows = [("wrong automatic actions", len(self.before.wrong_automatic), len(self.after.wrong_automatic)),
                ("detected", pct(self.before.detected), pct(self.after.detected)),
                ("acted unaided", pct(self.before.acted_unaided), pct(self.after.acted_unaided)),
                ("automatic actions", self.before.automatic, self.after.automatic),
                ("proposed for review", self.before.proposed, self.after.proposed)]
        lines = ["trained on " + ", ".join(f"{n} {what}" for what, n in self.trained_on.items()),
                 f"eval/test ({self.after.cases} messages)   model in use   new model"]
        lines += [f"  {name:26}{before!s:>12}   {after!s:>9}" for name, before, after in rows]
        lines += [f"  WRONG AUTOMATIC with the new model: {file}" for file in self.after.wrong_automatic]
        lines.append(f"installed: {self.installed} (loaded at the next start or reload)" if self.installed
                     else f"not installed: {self.refused}")
        return "\n".join(lines)


def learn(config: Config, team: list[Example], eval_dir: Path, ham_dir: Path | None = None) -> Learned:
    """Rebuild the model from eval/dev, the ham half and the team's examples; install it unless it makes an
    automatic action on eval/test wrong."""
    current = rules_of(config)
    dev = dev_examples(eval_dir)
    ham = ham_examples(ham_dir) if ham_dir is not None and ham_dir.is_dir() else []
    mine = team_samples(team)
    model = build_model(dev + ham + mine)
    labels, test = eval_dir / "labels.csv", eval_dir / "test"
    before = evaluate(test, config, labels, "test", current).reports.get("test")
    after = evaluate(test, config, labels, "test", replace(current, model=model)).reports.get("test")
    if before is None or after is None:
        raise DaemonError(f"{labels} labels no message of {test} as `test`: nothing to measure the new model on")
    counts = {"eval/dev": len(dev), "ham": len(ham), "team": len(mine)}
    if after.wrong_automatic:
        return Learned(before, after, counts, None,
                       f"{len(after.wrong_automatic)} automatic action(s) on eval/test would be wrong")
    path = learned_model(config.state_dir)
    install(render(model), path)
    return Learned(before, after, counts, path)


def install(text: str, path: Path) -> None:
    """Write `text` to `path` as 0600 in a 0700 folder, atomically (a reader sees the old file or the new one)."""
    private_dir(path.parent)
    partial = path.with_name(path.name + ".partial")
    descriptor = open_private(partial, os.O_WRONLY | os.O_TRUNC)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
