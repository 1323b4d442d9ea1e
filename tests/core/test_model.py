"""The linear model (rules/model/weights.json): loading, scoring, and that what only it sees is never acted on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from factories import make_message

from daemon.core.evidence import MODEL_CONFIDENCE
from daemon.core.extract import extract_facts
from daemon.core.message import parse
from daemon.core.model import LinearModel, features, load_model
from daemon.core.rules import INTENTS, OTHER, Context, RuleSet, load_rules
from daemon.errors import RuleError
from daemon.settings import Config

CONFIG = Config()
EVAL = Path(__file__).resolve().parents[2] / "eval"
NAMES = (*INTENTS, OTHER)


def test_features_are_folded_words_pairs_and_subject_words() -> None:
    assert features("Wir bestätigen", "Re: Angebot") == {"wir", "bestatigen", "wir bestatigen", "s:re", "s:angebot"}


def test_the_shipped_model_loads_and_scores() -> None:
    model = load_model(CONFIG.rules_dir, NAMES)
    assert model is not None and set(model.intents) == set(NAMES)
    # a message it was trained on (eval/dev) gets its label
    message = parse((EVAL / "dev" / "wait-en-d1-1.eml").read_bytes())
    probabilities = model.probabilities(features(message.new_text, message.subject))
    assert abs(sum(probabilities.values()) - 1) < 1e-9
    assert max(probabilities, key=probabilities.get) == "waiting"


def test_a_model_only_finding_is_a_review_proposal(tmp_path: Path) -> None:
    # A model that is sure of "decline" whenever it sees "zebra": no cue says so, so it may only propose.
    rules_dir = tmp_path / "rules"
    (rules_dir / "model").mkdir(parents=True)
    for path in CONFIG.rules_dir.glob("*.toml"):
        (rules_dir / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copytree(CONFIG.rules_dir / "lexicon", rules_dir / "lexicon")
    weights = {"zebra": [5.0 if name == "decline" else 0.0 for name in NAMES]}
    (rules_dir / "model" / "weights.json").write_text(json.dumps(
        {"intents": list(NAMES), "bias": [0.0] * len(NAMES), "weights": weights}), encoding="utf-8")
    rules: RuleSet = load_rules(rules_dir)
    text = "About the hub: zebra."
    message = make_message(new_text=text, subject="Re: Hub proposal")
    result = rules.classify(message, Context("inbound", "lead_contact"),
                            extract_facts(text, message.subject, None, ()))
    assert (result.intent, result.confidence) == ("decline", MODEL_CONFIDENCE)
    assert result.confidence < CONFIG.min_confidence and result.rule_file == "model/weights.json"
    assert result.sentence == "About the hub: zebra."


def test_a_broken_model_file_names_itself(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.json").write_text('{"intents": ["nope"], "bias": [0], "weights": {}}')
    with pytest.raises(RuleError, match=r"weights\.json"):
        load_model(tmp_path, NAMES)
    (tmp_path / "model" / "weights.json").write_text("{")
    with pytest.raises(RuleError, match="unreadable"):
        load_model(tmp_path, NAMES)


def test_probabilities_follow_the_weights() -> None:
    model = LinearModel(("a", "b"), (0.0, 0.0), {"x": (2.0, 0.0)})
    assert model.probabilities({"x"})["a"] > 0.85 and model.probabilities(set())["a"] == 0.5
