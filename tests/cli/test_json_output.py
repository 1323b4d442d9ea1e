"""The machine-readable forms: pinned JSON keys and exit codes of the read commands."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
from factories import bayside_has_ended, cascade_has_started, example_done_actions, raw_email, run_cli

from daemon.settings import PROJECT_ROOT

CLASSIFY_KEYS = {"file", "message_id", "intent", "rule", "confidence", "matched", "sender_role", "month", "tier",
                 "price", "skipped"}
LEAD_KEYS = {"name", "status", "contacts", "domain", "tier", "fee", "service_start", "last_activity",
             "pending_review_items"}
STATUS_KEYS = {"state", "connection", "sources", "actions", "unfinished_actions", "review_items_open",
               "quarantined", "last_invoice_batch", "daemon_pid", "smtp", "oauth"}
REVIEW_KEYS = {"id", "thread", "message_id", "lead_id", "intent", "reason", "created_at", "proposed",
               # added by the readable review queue
               "status", "community", "sender", "subject", "excerpt", "proposals", "decided_by", "decided_at",
               "comment"}


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = str(tmp_path_factory.mktemp("json") / "state")
    assert run_cli("run", "--once", "--state", directory)[0] == 0
    return directory


def example(message_id_prefix: str, directory: Path) -> Path:
    box = mailbox.mbox(str(PROJECT_ROOT / "examples" / "inbox.mbox"))
    for key in box.iterkeys():
        data = box.get_bytes(key)
        if f"Message-ID: <{message_id_prefix}".encode() in data:
            path = directory / f"{message_id_prefix}.eml"
            path.write_bytes(data)
            return path
    raise AssertionError(message_id_prefix)


def test_classify_json_keys_and_values(tmp_path: Path) -> None:
    files = [example(prefix, tmp_path) for prefix in ("t12m2", "t01m5", "t07m2")]
    code, out, _ = run_cli("classify", "--json", *map(str, files))
    assert code == 0
    affirmation, confirmation, auto_reply = (json.loads(line) for line in out.splitlines())
    for record in (affirmation, confirmation, auto_reply):
        assert set(record) == CLASSIFY_KEYS
    assert (affirmation["intent"], affirmation["month"]) == ("delivery_affirmation", "2026-10")
    # No state: no leads, so (as `run` would) the sender who opens a new community's conversation is its contact.
    assert affirmation["sender_role"] == "lead_contact"
    assert (confirmation["intent"], confirmation["tier"], confirmation["price"]) == (
        "service_confirmation", "medium", "3000")
    assert confirmation["rule"] == "confirm-tier-at-price" and confirmation["matched"]
    assert auto_reply["skipped"] and auto_reply["skipped"].startswith("auto-submitted")


def test_classify_uses_leads_of_a_given_state(state: str, tmp_path: Path) -> None:
    code, out, _ = run_cli("classify", "--json", "--state", state, str(example("t12m2", tmp_path)))
    assert code == 0 and json.loads(out)["sender_role"] == "lead_contact"


def test_classify_exit_1_reports_each_bad_input_and_goes_on(tmp_path: Path) -> None:
    good = tmp_path / "good.eml"
    good.write_bytes(raw_email())
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    code, out, _ = run_cli("classify", "--json", str(empty), str(tmp_path / "missing.eml"), str(good))
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [set(r) for r in records[:2]] == [{"file", "error"}, {"file", "error"}]
    assert records[2]["file"] == str(good) and set(records[2]) == CLASSIFY_KEYS


def test_leads_json_and_status_filter(state: str) -> None:
    code, out, _ = run_cli("leads", "--json", "--state", state)
    leads = json.loads(out)
    assert code == 0 and len(leads) == 22 and all(set(lead) == LEAD_KEYS for lead in leads)
    harborview = next(lead for lead in leads if lead["name"] == "Harborview Institute of Oceanography")
    assert harborview["pending_review_items"] == 1 and harborview["last_activity"].startswith("2026-11-12")
    code, out, _ = run_cli("leads", "--json", "--status", "Needs Admin", "--state", state)
    assert sorted(lead["name"] for lead in json.loads(out)) == [
        *([] if cascade_has_started() else ["Cascade Institute for Climate Research"]),
        "Prairie State University Physics Education", "Westbrook University"]
    assert run_cli("leads", "--status", "Maybe", "--state", state)[0] == 2


def test_status_json(state: str) -> None:
    code, out, _ = run_cli("status", "--json", "--state", state)
    report = json.loads(out)
    assert code == 0 and set(report) == STATUS_KEYS
    ended = bayside_has_ended()  # Bayside's end of service waits, pending, for December 31
    assert report["actions"] == {"pending": 0 if ended else 1, "uncertain": 0, "done": example_done_actions(),
                                 "failed": 0}
    assert report["sources"] == [{"source": "mbox:inbox.mbox", "uidvalidity": None, "last_uid": 63,
                                  "last_sync": report["sources"][0]["last_sync"]}]
    assert report["review_items_open"] == 3 and report["quarantined"] == 0


def test_review_list_json(state: str) -> None:
    code, out, _ = run_cli("review", "list", "--json", "--state", state)
    items = json.loads(out)
    assert code == 0 and len(items) == 3 and all(set(item) == REVIEW_KEYS for item in items)
    harborview = next(item for item in items if item["message_id"].startswith("t21m2"))
    # Issue 15: approving also records the same-domain sender as a contact.
    assert [p["kind"] for p in harborview["proposed"]] == ["add_contact", "set_status", "set_facts", "record_evidence",
                                                         "forward"]


def test_state_from_environment(state: str, monkeypatch: pytest.MonkeyPatch) -> None:
    named = json.loads(run_cli("status", "--json", "--state", state)[1])
    monkeypatch.setenv("PARTNERSHIPS_STATE", state)
    from_environment = json.loads(run_cli("status", "--json")[1])
    assert from_environment["state"] == named["state"] and from_environment == named
    assert from_environment["actions"]["done"] > 0  # the module's replayed state, not a new one


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        run_cli("frobnicate")
    assert caught.value.code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\nnope = 1\n")
    assert run_cli("status", "--config", str(bad))[0] == 2


def test_replay_accepts_mbox_maildir_and_eml_folder(tmp_path: Path) -> None:
    folder = tmp_path / "emls"
    folder.mkdir()
    example("t22m1", folder)
    maildir = mailbox.Maildir(str(tmp_path / "md"))
    maildir.add(raw_email(message_id="md1@meadowlark.edu", sender="Laura <lchen@meadowlark.edu>"))
    for source in (folder, tmp_path / "md", PROJECT_ROOT / "examples" / "inbox.mbox"):
        code, out, _ = run_cli("replay", str(source), "--dry-run", "--state", str(tmp_path / "s"))
        assert code == 0 and "[dry run] messages read:" in out
