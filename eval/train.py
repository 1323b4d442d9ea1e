"""Rebuild rules/model/weights.json from eval/dev (never eval/test): a multinomial logistic regression over word
and word-pair features of each message's new text and subject (daemon/core/model.py).

Usage: python eval/train.py [--ham DIR]      (deterministic: fixed seed and order; prints the dev accuracy)

Besides eval/dev, half of the shared ham corpus (../shared/corpus/ham by default; the half whose path hashes
even, see `ham_examples`) is used as ordinary mail (`other`), so that the model learns what sales mail is not;
the other half stays unseen, for `partnerships eval` on ham.

Review the diff of weights.json like any rule change, then run `partnerships eval eval/ --labels eval/labels.csv`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
from collections import Counter
from pathlib import Path

from daemon.core.message import MalformedMessage, parse
from daemon.core.model import MODEL_FILE, LinearModel, features
from daemon.core.rules import INTENTS, OTHER
from daemon.settings import Config

ROOT = Path(__file__).resolve().parent
SEED, EPOCHS, RATE, L2, MIN_COUNT = 14, 40, 0.2, 1e-4, 2


def examples() -> list[tuple[set[str], int]]:
    names = (*INTENTS, OTHER)
    rows = [r for r in csv.DictReader((ROOT / "labels.csv").open(encoding="utf-8")) if r["split"] == "dev"]
    found = []
    for row in rows:
        message = parse((ROOT / row["file"]).read_bytes())
        found.append((features(message.new_text, message.subject), names.index(row["intent"])))
    return found


def in_training_half(path: Path, root: Path) -> bool:
    return hashlib.sha256(path.relative_to(root).as_posix().encode()).digest()[0] % 2 == 0


def ham_examples(root: Path) -> list[tuple[set[str], int]]:
    other = (*INTENTS, OTHER).index(OTHER)
    found = []
    for path in sorted(root.rglob("*.eml")):
        if not in_training_half(path, root):
            continue
        try:
            message = parse(path.read_bytes())
        except MalformedMessage:
            continue
        found.append((features(message.new_text[:4000], message.subject), other))
    return found


def train(data: list[tuple[set[str], int]], classes: int) -> tuple[list[float], dict[str, list[float]]]:
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


def render(model: LinearModel) -> str:
    """One feature per line, so that a change to the model reads as a diff of the words it moved."""
    rows = ",\n".join(f"  {json.dumps(f, ensure_ascii=False)}: {json.dumps(list(w))}" for f, w in
                       sorted(model.weights.items()))
    return (f'{{"intents": {json.dumps(list(model.intents))},\n "bias": {json.dumps(list(model.bias))},\n'
            f' "weights": {{\n{rows}\n }}\n}}\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ham", type=Path, default=ROOT.parent.parent / "shared" / "corpus" / "ham")
    args = parser.parse_args()
    names = (*INTENTS, OTHER)
    data = examples()
    dev = len(data)
    if args.ham.is_dir():
        data += ham_examples(args.ham)
    else:
        print(f"no ham corpus at {args.ham}: trained on eval/dev alone")
    bias, weights = train(data, len(names))
    kept = {f: tuple(round(w, 4) for w in row) for f, row in weights.items() if max(map(abs, row)) >= 0.01}
    model = LinearModel(names, tuple(round(b, 4) for b in bias), kept)
    path = Config().rules_dir / MODEL_FILE
    path.write_text(render(model), encoding="utf-8")
    right = sum(1 for found, label in data[:dev]
                if max(model.probabilities(found).items(), key=lambda kv: kv[1])[0] == names[label])
    print(f"{path}: {len(kept)} features, dev accuracy {right / dev:.3f} ({dev} dev messages, "
          f"{len(data) - dev} ham messages as other)")


if __name__ == "__main__":
    main()
