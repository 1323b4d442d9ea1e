"""One message never stops the daemon: unauthenticated first mail, a failure at any stage of one message
(quarantined, the rest processed, retried to success), classify agreeing with run, damaged state refused,
one writer at a time, single .eml replays and non-ASCII passwords."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import raw_email, run_cli
from sqlalchemy import insert, select

from daemon.core import evaluate as evaluate_module
from daemon.core.maniac import ManiacRules
from daemon.core.rules import RuleSet
from daemon.settings import PROJECT_ROOT
from daemon.state import ledger
from daemon.state.models import (
    ActionRow,
    Classification,
    LeadRow,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    make_sessions,
)

EXAMPLE = PROJECT_ROOT / "examples" / "inbox.mbox"


def other_server_mbox(tmp_path: Path) -> Path:
    """The example mailbox as a mailbox at another provider would hold it: authenticated by mx.other.example."""
    path = tmp_path / "other-server.mbox"
    path.write_bytes(EXAMPLE.read_bytes().replace(b"mx.google.com", b"mx.other.example"))
    return path


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for data in messages:
        box.add(data)
    box.close()
    return path


def test_unauthenticated_first_mail_waits_in_review_and_approval_attaches_its_evidence(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, err = run_cli("replay", str(other_server_mbox(tmp_path)), "--state", str(state))
    assert code in (0, 1) and "Traceback" not in err, err
    assert "forwards written: 0" in out and "status changes: 0" in out
    assert not list((state / "outbox").glob("*.eml")) if (state / "outbox").exists() else True
    sessions = make_sessions(state / "partnerships.sqlite3")
    with sessions() as session:
        items = list(session.scalars(select(ReviewItem).where(ReviewItem.status == "open")))
        assert session.scalar(select(ActionRow.id).where(ActionRow.kind.in_(("forward", "set_status")))) is None
        # Every proposed creation and move waits for a person.
        proposed = {action["kind"] for item in items for action in item.proposed}
        assert {"create_lead", "forward"} <= proposed
        westbrook = next(item for item in items if item.message_id.startswith("t01m1.")
                         and any(a["kind"] == "create_lead" for a in item.proposed))
        pending_evidence = list(session.scalars(select(ManiacRow).where(ManiacRow.message_id == westbrook.message_id)))
    assert pending_evidence and all(row.lead_id.startswith("new:") for row in pending_evidence)

    code, out, err = run_cli("review", "approve", str(westbrook.id), "--state", str(state))
    assert code == 0, err
    with sessions() as session:
        lead = session.scalar(select(LeadRow).where(LeadRow.domain == "westbrook.edu"))
        assert lead is not None
        attached = list(session.scalars(select(ManiacRow).where(ManiacRow.message_id == westbrook.message_id)))
    assert attached and {row.lead_id for row in attached} == {str(lead.id)}
    code, out, _ = run_cli("lead", "show", "westbrook.edu", "--state", str(state))
    assert code == 0 and attached[0].quote[:40] in out


def test_replaying_again_after_the_review_changes_nothing(tmp_path: Path) -> None:
    state, mbox = tmp_path / "state", other_server_mbox(tmp_path)
    assert run_cli("replay", str(mbox), "--state", str(state))[0] in (0, 1)
    code, out, err = run_cli("replay", str(mbox), "--state", str(state))
    assert code in (0, 1) and "Traceback" not in err
    assert "already seen: 63" in out


# -- a failure at each stage of one message ------------------------------------------------------------------

FAULTY_ID = "faulty@westbrook.edu"


def three_messages(tmp_path: Path) -> Path:
    def mail(number: int, message_id: str) -> bytes:
        return raw_email(message_id=message_id, subject=f"Hub question {number}",
                         body=f"Hello, we teach 300 undergraduates a year and are curious about a hub ({number}).")
    return write_mbox(tmp_path / "three.mbox", [mail(1, "first@westbrook.edu"), mail(2, FAULTY_ID),
                                                mail(3, "third@westbrook.edu")])


def _raise_for_faulty(original: Callable[..., Any], message_of: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if message_of(*args, **kwargs).message_id == FAULTY_ID:
            raise RuntimeError("injected failure")
        return original(*args, **kwargs)
    return wrapper


def _fail_classify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RuleSet, "classify", _raise_for_faulty(RuleSet.classify, lambda self, message, *a: message))


def _fail_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluate_module, "decide",
                        _raise_for_faulty(evaluate_module.decide, lambda situation: situation.message))


def _fail_maniac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ManiacRules, "extract",
                        _raise_for_faulty(ManiacRules.extract, lambda self, message: message))


def _fail_record_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store raises for the faulty message (written with its batch, then alone), after part of its rows were
    written: the savepoint must undo them, and the others of its batch are recorded."""
    original = ledger.write_bundles

    def write_bundles(connection: Any, bundles: list[Any]) -> None:
        if any(b.message["message_id"] == FAULTY_ID for b in bundles):
            connection.execute(insert(StoredMessage).values(message_id=FAULTY_ID, thread_id="x", source="partial"))
            raise OSError("injected: disk hiccup")
        original(connection, bundles)

    monkeypatch.setattr(ledger, "write_bundles", write_bundles)


STAGES = {"classify": _fail_classify, "decide": _fail_decide, "maniac": _fail_maniac, "record": _fail_record_once}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_failure_of_one_message_quarantines_it_and_the_rest_goes_on(stage: str, tmp_path: Path) -> None:
    state, mbox = tmp_path / "state", three_messages(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        STAGES[stage](patch)
        code, out, err = run_cli("replay", str(mbox), "--state", str(state))
    assert code == 1 and "Traceback" not in err  # 1: one message could not be processed
    sessions = make_sessions(state / "partnerships.sqlite3")
    with sessions() as session:
        recorded = set(session.scalars(select(StoredMessage.message_id)))
        entry = session.scalar(select(Quarantined))
        cursor = session.get(SyncCursor, "mbox:three.mbox")
    assert recorded == {"first@westbrook.edu", "third@westbrook.edu"}
    assert entry is not None and entry.raw is not None and FAULTY_ID.encode() in entry.raw
    assert entry.error_type in ("RuntimeError", "OSError") and "injected" in entry.reason
    assert cursor is not None and cursor.last_uid == 3  # moved past it
    code, out, _ = run_cli("status", "--state", str(state))
    assert "quarantined messages: 1" in out
    code, out, _ = run_cli("quarantine", "list", "--json", "--state", str(state))
    [listed] = json.loads(out)
    assert listed["error_type"] == entry.error_type
    code, out, _ = run_cli("quarantine", "show", str(listed["id"]), "--state", str(state))
    assert code == 0 and FAULTY_ID in out

    # After the fix (the fault is gone), a retry runs the whole pipeline on the stored bytes.
    code, out, err = run_cli("quarantine", "retry", "--all", "--state", str(state))
    assert code == 0, out + err
    with sessions() as session:
        assert FAULTY_ID in set(session.scalars(select(StoredMessage.message_id)))
        assert session.scalar(select(Quarantined)) is None
        assert session.get(SyncCursor, "mbox:three.mbox").last_uid == 3
        intent = session.scalar(select(Classification.intent).join(
            StoredMessage, StoredMessage.id == Classification.message_pk).where(StoredMessage.message_id == FAULTY_ID))
    assert intent is not None


def test_a_retry_that_fails_again_stays_quarantined_with_the_new_reason(tmp_path: Path) -> None:
    state, mbox = tmp_path / "state", three_messages(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        _fail_decide(patch)
        run_cli("replay", str(mbox), "--state", str(state))
        code, out, _ = run_cli("quarantine", "retry", "--all", "--state", str(state))
    assert code == 1 and "still quarantined" in out
    entries = ledger.quarantined(make_sessions(state / "partnerships.sqlite3"))
    assert len(entries) == 1 and entries[0].retried_at is not None


def test_a_malformed_message_is_kept_whole_and_retry_reports_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    mbox = write_mbox(tmp_path / "bad.mbox", [b"", raw_email(message_id="ok@westbrook.edu")])
    code, _, _ = run_cli("replay", str(mbox), "--state", str(state))
    assert code == 1
    code, out, _ = run_cli("quarantine", "retry", "1", "--state", str(state))
    assert code == 1 and "still quarantined" in out
    assert run_cli("quarantine", "retry", "99", "--state", str(state))[0] == 2


# -- classify and run agree ----------------------------------------------------------------------------------


def test_classify_gives_the_decisions_run_recorded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert run_cli("run", "--once", "--state", str(state))[0] == 0  # the embedded default: examples/inbox.mbox
    folder = tmp_path / "eml"
    folder.mkdir()
    files = []
    for position, message in enumerate(mailbox.mbox(str(EXAMPLE)), start=1):
        path = folder / f"{position:03}.eml"
        path.write_bytes(message.as_bytes())
        files.append(str(path))
    code, out, err = run_cli("classify", "--json", "--state", str(state), *files)
    assert code == 0, err
    classified = {record["message_id"]: record for record in map(json.loads, out.splitlines())}
    with make_sessions(state / "partnerships.sqlite3")() as session:
        recorded = session.execute(select(StoredMessage.message_id, Classification.intent, Classification.rule,
                                          Classification.confidence)
                                   .join(Classification, Classification.message_pk == StoredMessage.id)).all()
    assert len(recorded) == len(classified) == 63
    for message_id, intent, rule, confidence in recorded:
        record = classified[message_id]
        assert ("skipped" if record["skipped"] else record["intent"]) == intent, message_id
        assert (record["rule"], record["confidence"]) == (rule, confidence), message_id


# -- file sources read the leads table again on every pass ---------------------------------------------------


def test_a_lead_added_between_passes_is_matched_on_the_next_pass(tmp_path: Path) -> None:
    from daemon.core.lead import NewLead
    from daemon.io import iter_source
    from daemon.leads.sqlite import SqliteLeadStore
    from daemon.runtime import load_config, make_pipeline, open_runtime

    config_file = tmp_path / "partnerships.toml"
    mbox = write_mbox(tmp_path / "in.mbox", [])
    config_file.write_text(f'[daemon]\nstate_dir = "state"\n[source]\nkind = "mbox"\npath = "{mbox}"\n'
                           '[leads]\nseed_csv = ""\n')
    runtime = open_runtime(load_config(config_file))
    pipeline = make_pipeline(runtime, dry_run=False)
    pipeline.process_all(iter_source(mbox, "mbox"))
    # The team adds the community in the leads table while the daemon runs ...
    lead = SqliteLeadStore(runtime.sessions).create(
        NewLead(name="Lakeside Lab", contact_emails=("ada@lakeside.edu",), domain="lakeside.edu"), key="by-hand")
    write_mbox(mbox, [raw_email(sender="Ada <ada@lakeside.edu>", message_id="q@lakeside.edu")])
    pipeline.process_all(iter_source(mbox, "mbox"))  # ... and the next pass sees it
    with runtime.sessions() as session:
        assert session.scalar(select(StoredMessage.lead_id).where(StoredMessage.message_id == "q@lakeside.edu")) \
            == lead.id
        assert session.scalar(select(ActionRow.id).where(ActionRow.kind == "create_lead")) is None


# -- damaged or foreign state --------------------------------------------------------------------------------


@pytest.fixture
def used_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    assert run_cli("run", "--once", "--state", str(state))[0] == 0
    return state


def _refused(state: Path, *fragments: str) -> None:
    for command in (("status",), ("run", "--once"), ("replay", str(EXAMPLE)), ("leads",), ("review", "list")):
        code, _, err = run_cli(*command, "--state", str(state))
        assert code == 2 and "Traceback" not in err, (command, err)
        assert err.count("\n") == 1 and all(f in err for f in fragments), err


@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_garbage_database_is_refused(used_state: Path) -> None:
    (used_state / "partnerships.sqlite3").write_bytes(b"this is no database" * 100)
    for extra in ("-wal", "-shm"):
        (used_state / f"partnerships.sqlite3{extra}").unlink(missing_ok=True)
    _refused(used_state, "partnerships.sqlite3", "restore it from a backup")


@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_truncated_database_is_refused(used_state: Path) -> None:
    db = used_state / "partnerships.sqlite3"
    import sqlite3

    connection = sqlite3.connect(db)  # checkpoint the WAL into the file, then cut it
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for extra in ("-wal", "-shm"):
        (used_state / f"partnerships.sqlite3{extra}").unlink(missing_ok=True)
    db.write_bytes(db.read_bytes()[:6000])
    _refused(used_state, "partnerships.sqlite3")


@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_missing_column_names_the_upgrade(used_state: Path) -> None:
    import sqlite3

    with sqlite3.connect(used_state / "partnerships.sqlite3") as connection:
        connection.execute("ALTER TABLE quarantine DROP COLUMN error_type")
    _refused(used_state, "quarantine", "error_type", "upgrade")


@pytest.mark.parametrize("database", ["missing", "empty"])
@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_lost_database_beside_an_outbox_is_not_a_new_install(used_state: Path, database: str) -> None:
    assert list((used_state / "outbox").glob("*.eml"))
    for name in ("partnerships.sqlite3", "partnerships.sqlite3-wal", "partnerships.sqlite3-shm"):
        (used_state / name).unlink(missing_ok=True)
    if database == "empty":
        (used_state / "partnerships.sqlite3").touch()
    before = sorted(p.name for p in (used_state / "outbox").iterdir())
    _refused(used_state, "not a new install")
    assert sorted(p.name for p in (used_state / "outbox").iterdir()) == before  # nothing re-issued


@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_state_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("")
    _refused(state, "is a file")


@pytest.mark.sqlite_only("the guard of a damaged state reads the SQLite file (daemon.state.guard)")
def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    import sqlite3

    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "partnerships.sqlite3") as connection:
        connection.execute("CREATE TABLE photos (id INTEGER)")
    _refused(state, "not a partnerships-daemon database")


def test_new_install_is_an_empty_or_absent_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".gitignore").write_text("*\n")
    for state in (tmp_path / "absent", tmp_path / "empty"):
        code, out, _ = run_cli("run", "--once", "--state", str(state))
        assert code == 0 and "messages read: 63" in out


# -- single messages and passwords ---------------------------------------------------------------------------


def test_replay_of_one_eml_file_reads_that_message(tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(raw_email(message_id="single@westbrook.edu"))
    code, out, _ = run_cli("replay", str(eml), "--state", str(tmp_path / "state"))
    assert code == 0 and "messages read: 1" in out


def test_non_ascii_password_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text("pässwort\n")
    config = tmp_path / "partnerships.toml"
    config.write_text('[daemon]\nstate_dir = "state"\n[send]\nkind = "smtp"\nhost = "127.0.0.1"\nport = 2525\n'
                      'tls = "none"\nusername = "u"\npassword_file = "smtp-password"\n')
    code, _, err = run_cli("run", "--once", "--config", str(config), "--log-level", "warning")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert "smtp-password" in err and "non-ASCII" in err and "pässwort" not in err


# -- one writer at a time ------------------------------------------------------------------------------------


@pytest.fixture
def smtp_config(tmp_path: Path, smtp_server: Callable[..., Any]) -> Iterator[tuple[Path, Any]]:
    server = smtp_server()
    config = tmp_path / "partnerships.toml"
    config.write_text(f"""
[daemon]
state_dir = "state"
[source]
kind = "mbox"
path = "{EXAMPLE}"
[leads]
seed_csv = "{PROJECT_ROOT / 'examples' / 'leads.csv'}"
[trust]
authserv_ids = ["mx.google.com"]
own_relays = ["mx.google.com"]
[send]
kind = "smtp"
host = "127.0.0.1"
port = {server.port}
tls = "none"
""")
    yield config, server


@pytest.mark.slow
def test_concurrent_replays_and_run_send_each_forward_once(smtp_config: tuple[Path, Any]) -> None:
    config, server = smtp_config
    commands = [["replay", str(EXAMPLE)], ["replay", str(EXAMPLE)], ["run", "--once"]]
    processes = [subprocess.Popen([sys.executable, "-m", "daemon", *command, "--config", str(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for command in commands]
    results = [(p.wait(timeout=300), p.stdout.read().decode(), p.stderr.read().decode())  # type: ignore[union-attr]
               for p in processes]
    for code, _, err in results:
        assert code in (0, 1, 2) and "Traceback" not in err, err
    # Whatever waited for the lock left its actions recorded; one more pass carries out what is left.
    assert subprocess.run([sys.executable, "-m", "daemon", "run", "--once", "--config", str(config)],
                          capture_output=True, timeout=300).returncode == 0
    subjects = [m.message["Subject"] for m in server.messages]
    assert subjects, "nothing was forwarded at all"
    assert len(subjects) == len(set(subjects)), sorted(subjects)
    with make_sessions(config.parent / "state" / "partnerships.sqlite3")() as session:
        forwards = session.execute(select(ActionRow.status, ActionRow.result).where(ActionRow.kind == "forward")).all()
    assert forwards and {status for status, _ in forwards} == {"done"}
    # Those operations received directly are recorded, not forwarded (see "Forward notes").
    assert len([result for _, result in forwards if "sent_to" in result]) == len(subjects)


def test_status_of_an_absent_state_creates_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, _ = run_cli("status", "--state", str(state))
    assert code == 0 and "connection: none; last known: no run yet" in out
    assert "actions: 0 pending, 0 done, 0 failed" in out and "review items open: 0" in out
    assert not state.exists()


@pytest.mark.sqlite_only("an absent state is an absent SQLite file; a server's database always exists")
def test_status_says_an_absent_state_has_no_database_yet(tmp_path: Path) -> None:
    code, out, _ = run_cli("status", "--state", str(tmp_path / "state"))
    assert code == 0 and f"state: {tmp_path / 'state' / 'partnerships.sqlite3'} (none yet: no run so far)" in out
