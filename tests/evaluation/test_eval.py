"""`partnerships eval`: the figures over the labelled set in eval/, and the metric definitions."""

from __future__ import annotations

import json
from pathlib import Path

from factories import run_cli

from daemon.evaluation.metrics import Case, score

EVAL = Path(__file__).resolve().parents[2] / "eval"


def test_score_counts_wrong_automatic_detected_and_unaided() -> None:
    cases = [
        Case("a", "service_confirmation", "service_confirmation", 0.95),  # acted unaided
        Case("b", "service_confirmation", "service_confirmation", 0.5),  # detected, proposed for review
        Case("c", "decline", "other", 1.0),  # missed
        Case("d", "other", "decline", 0.9),  # a wrong automatic action
        Case("e", "other", "contract", 0.6),  # a wrong proposal: review catches it
        Case("f", "first_contact", "first_contact", 0.8),
    ]
    report = score(cases, 0.8)
    assert report.wrong_automatic == ("d",)
    assert (report.automatic, report.proposed) == (2, 2)
    assert report.detected == round(3 / 4, 4) and report.acted_unaided == round(2 / 4, 4)
    assert report.confusion["decline"]["other"] == 1
    assert report.per_intent["service_confirmation"] == {"precision": 1.0, "recall": 1.0, "support": 2}


def test_fact_accuracy_only_over_stated_facts() -> None:
    cases = [
        Case("a", "service_confirmation", "service_confirmation", 0.9, {"tier": "Medium", "price": "3000.00"},
             {"tier": "medium", "price": "3000"}),
        Case("b", "service_confirmation", "other", 1.0, {}, {"tier": "large", "price": ""}),
        Case("c", "delivery_affirmation", "delivery_affirmation", 0.9, {"month": "2026-10"}, {"month": "2026-09"}),
    ]
    facts = score(cases, 0.8).facts
    assert facts["tier"] == (1, 2) and facts["price"] == (1, 1) and facts["month"] == (0, 1)


def test_eval_command_over_the_labelled_set() -> None:
    code, out, _ = run_cli("eval", str(EVAL), "--labels", str(EVAL / "labels.csv"), "--json")
    assert code == 0
    reports = json.loads(out)
    assert set(reports) == {"dev", "test"}
    assert reports["dev"]["cases"] + reports["test"]["cases"] >= 400
    for report in reports.values():
        assert set(report["confusion"]) >= {"service_confirmation", "other"}
        assert 0 <= report["detected"] <= 1 and 0 <= report["acted_unaided"] <= 1
        assert report["wrong_automatic_actions"] == len(report["wrong_automatic_files"])


def test_eval_text_report_names_the_three_figures() -> None:
    code, out, _ = run_cli("eval", str(EVAL / "test"), "--labels", str(EVAL / "labels.csv"), "--split", "test")
    assert code == 0
    assert "[test]" in out and "[dev]" not in out
    for figure in ("wrong automatic actions:", "detected:", "acted unaided:", "tier accuracy:", "confusion"):
        assert figure in out


def test_eval_finds_labels_csv_in_the_parent_folder() -> None:
    code, out, _ = run_cli("eval", str(EVAL / "test"))
    assert code == 0
    assert f"labels: {EVAL / 'labels.csv'}" in out and "[test]" in out and "detected:" in out


def test_eval_without_labels_prints_predictions_only(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    sources = sorted((EVAL / "test").glob("*.eml"))[:12]
    for source in sources:
        (mail / source.name).write_bytes(source.read_bytes())
    code, out, _ = run_cli("eval", str(mail))
    assert code == 0
    assert "predictions only" in out and "WRONG" not in out and "detected:" not in out
    code, out, _ = run_cli("eval", str(mail), "--json")
    report = json.loads(out)["all"]
    assert code == 0 and report["labelled"] is False and report["cases"] == len(sources)
    assert "wrong_automatic_actions" not in report and "detected" not in report
    assert sum(row["messages"] for row in report["predicted"].values()) == len(sources)
