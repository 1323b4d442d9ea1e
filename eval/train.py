"""Rebuild rules/model/weights.json from eval/dev (never eval/test): a multinomial logistic regression over word
and word-pair features of each message's new text and subject (daemon/core/model.py; the training itself is
daemon/evaluation/learn.py, shared with `partnerships learn`).

Usage: python eval/train.py [--ham DIR]      (deterministic: fixed seed and order; prints the dev accuracy)

Besides eval/dev, half of the shared ham corpus (../shared/corpus/ham by default; the half whose path hashes
even, see `in_training_half`) is used as ordinary mail (`other`), so that the model learns what sales mail is not;
the other half stays unseen, for `partnerships eval` on ham.

Review the diff of weights.json like any rule change, then run `partnerships eval eval/ --labels eval/labels.csv`.
The team's own labels are added by `partnerships learn`, which installs its model under the state directory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from daemon.core.model import MODEL_FILE
from daemon.evaluation.learn import accuracy, build_model, dev_examples, ham_examples, render
from daemon.settings import Config

ROOT = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ham", type=Path, default=ROOT.parent.parent / "shared" / "corpus" / "ham")
    args = parser.parse_args()
    dev = dev_examples(ROOT)
    ham = ham_examples(args.ham) if args.ham.is_dir() else []
    if not ham:
        print(f"no ham corpus at {args.ham}: trained on eval/dev alone")
    model = build_model(dev + ham)
    path = Config().rules_dir / MODEL_FILE
    path.write_text(render(model), encoding="utf-8")
    print(f"{path}: {len(model.weights)} features, dev accuracy {accuracy(model, dev):.3f} ({len(dev)} dev messages, "
          f"{len(ham)} ham messages as other)")


if __name__ == "__main__":
    main()
