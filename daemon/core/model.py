"""A small linear model over the words of a message, for what no cue names: it only ever proposes a review.

The weights are a reviewed JSON file (rules/model/weights.json) rebuilt from eval/dev by `python eval/train.py`, or,
once `partnerships learn` has installed one, the model learned from eval/dev and the team's labels under the state
directory (LEARNED_FILE), which then takes precedence:
per feature (a word or a pair of words, lower case without accents; subject words prefixed "s:") one weight per
intent. Scoring is a sparse dot product and a softmax: no numerical library and nothing downloaded at run time.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from daemon.core.language import fold
from daemon.errors import RuleError

MODEL_FILE = "model/weights.json"
LEARNED_FILE = "model/weights.json"  # under the state directory
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def features(text: str, subject: str = "") -> set[str]:
    words = _TOKEN.findall(fold(text))
    found = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
    return found | {f"s:{w}" for w in _TOKEN.findall(fold(subject))}


@dataclass(frozen=True)
class LinearModel:
    intents: tuple[str, ...]
    bias: tuple[float, ...]
    weights: dict[str, tuple[float, ...]]

    def probabilities(self, found: Iterable[str]) -> dict[str, float]:
        weights = self.weights
        rows = [weights[feature] for feature in found if feature in weights]
        # Column sums in C (zip transposes the rows); the order of the features is a set's, so no sum was ever
        # more exact than another.
        columns = zip(*rows, strict=True) if rows else ((),) * len(self.bias)
        scores = [sum(column, bias) for bias, column in zip(self.bias, columns, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {intent: e / total for intent, e in zip(self.intents, exps, strict=True)}

    def as_json(self) -> dict[str, object]:
        return {"intents": list(self.intents), "bias": list(self.bias),
                "weights": {f: list(w) for f, w in sorted(self.weights.items())}}


def learned_model(state_dir: Path) -> Path:
    return state_dir / LEARNED_FILE


def load_model(rules_dir: Path, intents: tuple[str, ...], learned: Path | None = None) -> LinearModel | None:
    """`learned` when that file exists, else rules/model/weights.json, else None (cues and phrase rules alone)."""
    path = learned if learned is not None and learned.is_file() else rules_dir / MODEL_FILE
    if not path.is_file():
        return None
    label = str(path) if path == learned else MODEL_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleError(label, None, f"unreadable model: {exc}") from None
    return model_from_json(data, intents, label)


def model_from_json(data: object, intents: tuple[str, ...], label: str = MODEL_FILE) -> LinearModel:
    try:
        names = tuple(data["intents"])  # type: ignore[index]
        bias = tuple(float(b) for b in data["bias"])  # type: ignore[index]
        weights = {str(f): tuple(float(v) for v in row) for f, row in data["weights"].items()}  # type: ignore[index]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RuleError(label, None, f"unreadable model: {exc}") from None
    unknown = set(names) - set(intents)
    if unknown or len(bias) != len(names) or any(len(row) != len(names) for row in weights.values()):
        raise RuleError(label, None, "intents, bias and weight rows do not fit together"
                        + (f" (unknown intents {sorted(unknown)})" if unknown else ""))
    return LinearModel(names, bias, weights)
