"""The `partnerships` command: classify, review approve/reject, status, check, and error exits."""

from __future__ import annotations

import getpass
import subprocess
import sys
from pathlib import Path

import pytest
from factories import bayside_has_ended, example_done_actions, raw_email, run_cli

from daemon.settings import PROJECT_ROOT

EXAMPLE_EML = raw_email(message_id="c1@westbrook.edu", subject="Re: Hub service",
                        body="We would like to go ahead with the Medium tier at $3,000 per month.\n\n"
                             "On Mon, Oct 5, 2026 at 9:00 AM Sam <sam@2i2c.org> wrote:\n> Any news?\n")


def test_classify_prints_intent_rule_phrases_and_has_no_side_effects(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    eml = tmp_path / "confirm.eml"
    eml.write_bytes(EXAMPLE_EML)
    code, out, _ = run_cli("classify", str(eml), "--state", str(tmp_path / "state"))
    assert code == 0
    assert "intent:     service_confirmation" in out
    assert "rule:       confirm-tier-at-price (service_confirmation.toml)" in out
    assert "go ahead with" in out and "confidence: 0.95" in out and "tier=medium" in out
    assert not (tmp_path / "state").exists()


def test_classify_reports_unreadable_input_with_exit_1(tmp_path: Path) -> None:
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    good = tmp_path / "good.eml"
    good.write_bytes(EXAMPLE_EML)
    code, out, _ = run_cli("classify", str(empty), str(good))
    assert code == 1
    assert f"{empty}: cannot classify" in out and "service_confirmation" in out


def test_bad_config_exits_2_naming_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[addresses]\noperations = "nope"\n')
    code, _, err = run_cli("check", "--config", str(config))
    assert code == 2 and "operations: 'nope' is not an e-mail address" in err


def test_bad_rules_fail_check(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "decline.toml").write_text('intent = "decline"\n[[rule]]\nname = "r1"\ntext_regex = ["("]\n')
    config = tmp_path / "c.toml"
    config.write_text(f'[daemon]\nrules_dir = "{rules}"\n')
    code, _, err = run_cli("check", "--config", str(config))
    assert code == 2 and "decline.toml: rule 'r1': text_regex: bad regular expression" in err


def test_check_passes_on_defaults() -> None:
    code, out, _ = run_cli("check")
    assert code == 0 and "rules: " in out and "templates: ok" in out


def test_review_approve_executes_exactly_the_proposed_actions(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    assert run_cli("run", "--once", "--state", state)[0] == 0
    code, listing, _ = run_cli("review", "list", "--state", state)
    assert code == 0
    assert "from:     grants@harborview-ocean.org" in listing and "proposes: forward it to operations" in listing
    item_id = next(line.split()[0].lstrip("#") for line in listing.splitlines()
                   if "Harborview" in line and line.startswith("#"))
    outbox = tmp_path / "state" / "outbox"
    before = set(outbox.iterdir())
    code, out, _ = run_cli("review", "approve", item_id, "--state", state)
    assert code == 0 and f"approved by {getpass.getuser()}" in out
    new_files = set(outbox.iterdir()) - before
    assert len(new_files) == 1 and b"t21m2.fe23@harborview-ocean.org" in new_files.pop().read_bytes()
    assert "done: set_status" in out
    # deciding twice is refused
    code, _, err = run_cli("review", "reject", item_id, "--state", state)
    assert code == 2 and "already approved" in err


def test_review_reject_records_and_does_nothing(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    run_cli("run", "--once", "--state", state)
    listing = run_cli("review", "list", "--state", state)[1]
    item_id = next(line.split()[0].lstrip("#") for line in listing.splitlines() if line.startswith("#"))
    files = set((tmp_path / "state" / "outbox").iterdir())
    code, out, _ = run_cli("review", "reject", item_id, "--state", state)
    assert code == 0 and "rejected" in out
    assert set((tmp_path / "state" / "outbox").iterdir()) == files
    assert f"#{item_id} " not in run_cli("review", "list", "--state", state)[1]


def test_status_shows_cursors_and_queues(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    run_cli("run", "--once", "--state", state)
    code, out, _ = run_cli("status", "--state", state)
    assert code == 0
    assert "mbox:inbox.mbox: last uid 63" in out
    # Bayside's end of service waits, pending, for its stated date (December 31)
    assert f"actions: {0 if bayside_has_ended() else 1} pending, {example_done_actions()} done, 0 failed" in out
    assert "review items open: 3" in out and "quarantined messages: 0" in out


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "daemon", "run", "--once", "--dry-run", "--state",
                             str(tmp_path / "s")], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "[dry run] messages read: 63" in result.stdout and "create_lead create_lead:westbrook.edu" in result.stdout
