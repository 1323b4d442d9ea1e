"""Schema migrations of the state: fresh, from the first revision with data, from a state made before migrations,
from a newer build (refused), downgrade (refused), SQLite batch mode, and the models matching the revisions."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from factories import run_cli
from sqlalchemy.exc import IntegrityError

from daemon.errors import StateError
from daemon.state.models import Base, Quarantined, StoredMessage, make_sessions
from daemon.state.schema import MIGRATIONS_DIR, head_revision, open_engine, upgrade

FIRST = "0001"
pytestmark = pytest.mark.sqlite_only("read and write the SQLite file directly; PostgreSQL: test_postgres.py")


def state_at(path: Path, revision: str) -> None:
    """A state file at an old revision, as an older build left it."""
    engine = open_engine(path, migrate=False)
    upgrade(engine, path, revision)
    engine.dispose()


def sql(path: Path, statement: str) -> list[tuple[object, ...]]:
    connection = sqlite3.connect(path)
    try:
        rows = connection.execute(statement).fetchall()
        connection.commit()
        return rows
    finally:
        connection.close()


def add_messages(path: Path, count: int) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executemany(
            "INSERT INTO messages (message_id, thread_id, source, subject, direction, sender_role, thread_ids,"
            " participants, received_at) VALUES (?, ?, 'mbox', 'Hub service', 'inbound', 'lead_contact', '[]',"
            " '[]', '2026-11-30 10:00:00')",
            [(f"m{n}@westbrook.edu", f"t{n % 50}@westbrook.edu") for n in range(count)])
        connection.execute("INSERT INTO quarantine (sha256, source, reason, size, created_at)"
                           " VALUES ('abc', 'mbox', 'no headers', 12, '2026-11-30 10:00:00')")
        connection.commit()
    finally:
        connection.close()


def test_a_new_state_gets_the_whole_schema_without_a_backup(tmp_path: Path) -> None:
    db = tmp_path / "state" / "partnerships.sqlite3"
    make_sessions(db)
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert not (db.parent / "backup").exists()


def test_upgrade_from_the_first_revision_keeps_the_data_and_backs_up_first(tmp_path: Path) -> None:
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, FIRST)
    add_messages(db, 20)
    sessions = make_sessions(db)
    with sessions() as session:
        assert session.query(StoredMessage).count() == 20
        held = session.query(Quarantined).one()
        assert (held.sha256, held.reason, held.raw, held.error_type, held.retried_at) == (
            "abc", "no headers", None, None, None)
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    (backup,) = (tmp_path / "backup").iterdir()
    assert backup.name.endswith(".sqlite3") and stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    # The copy is the state as it was before the upgrade, readable on its own.
    assert sql(backup, "SELECT version_num FROM alembic_version") == [(FIRST,)]
    assert sql(backup, "SELECT count(*) FROM messages") == [(20,)]


def test_a_state_made_before_migrations_is_adopted_and_upgraded_loudly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, FIRST)
    add_messages(db, 3)
    # What every build before migrations left: the tables, no version, and (older still) fewer columns.
    sql(db, "DROP TABLE alembic_version")
    sql(db, "ALTER TABLE actions DROP COLUMN sending_by")
    with caplog.at_level(logging.WARNING, logger="daemon.state"):
        sessions = make_sessions(db)
    assert "has no schema revision (made before migrations)" in caplog.text
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert "sending_by" in {row[1] for row in sql(db, "PRAGMA table_info(actions)")}
    with sessions() as session:
        assert session.query(StoredMessage).count() == 3
    assert len(list((tmp_path / "backup").iterdir())) == 1


def test_a_foreign_database_missing_a_required_column_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "partnerships.sqlite3"
    sql(db, "CREATE TABLE messages (id INTEGER PRIMARY KEY, subject TEXT)")
    with pytest.raises(StateError, match="table messages of this state lacks required column"):
        make_sessions(db)


def test_a_state_from_a_newer_build_is_refused_with_one_line(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "partnerships.sqlite3"
    make_sessions(db)
    sql(db, "UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(StateError, match="written by a newer partnerships-daemon"):
        make_sessions(db)
    code, out, err = run_cli("status", "--state", str(state))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "schema revision '0099'" in err
    assert sql(db, "SELECT version_num FROM alembic_version") == [("0099",)]


def test_downgrade_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, head_revision())
    engine = open_engine(db, migrate=False)
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        with pytest.raises(StateError, match="restore a copy from state/backup/"):
            command.downgrade(config, FIRST)
    engine.dispose()
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert "retried_at" in {row[1] for row in sql(db, "PRAGMA table_info(quarantine)")}


def test_batch_mode_column_change_keeps_constraints(tmp_path: Path) -> None:
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, FIRST)
    add_messages(db, 1)
    sessions = make_sessions(db)
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(Quarantined(sha256="abc", source="mbox", reason="again", size=1, raw=b"x"))
    with sessions.begin() as session:
        session.add(Quarantined(sha256="def", source="mbox", reason="bad", size=1, raw=b"\x00\xff",
                                error_type="MalformedMessage"))
    with sessions() as session:
        assert session.query(Quarantined).filter_by(sha256="def").one().raw == b"\x00\xff"


def test_the_models_match_the_migrated_schema(tmp_path: Path) -> None:
    engine = open_engine(tmp_path / "partnerships.sqlite3")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_db_commands_report_and_upgrade(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, _ = run_cli("db", "current", "--state", str(state))
    assert code == 0 and "revision: none" in out and f"this build: {head_revision()}" in out
    assert not state.exists()
    state.mkdir()
    state_at(state / "partnerships.sqlite3", FIRST)
    code, out, _ = run_cli("db", "current", "--state", str(state))
    assert code == 0 and f"revision: {FIRST}\n" in out
    code, out, _ = run_cli("db", "upgrade", "--state", str(state))
    assert code == 0 and f"upgraded from {FIRST} to {head_revision()}; backup {state / 'backup'}" in out
    code, out, _ = run_cli("db", "upgrade", "--state", str(state))
    assert code == 0 and "already at this build's schema" in out and f"revision: {head_revision()}\n" in out


@pytest.mark.parametrize(("url", "message"), [
    ("http//user:hunter2@db", "is not a database URL"),
    ("mysql://user:hunter2@db/partnerships", "'mysql' is not supported"),
    ("postgresql+pg8000://user:hunter2@db/partnerships", "needs the driver 'pg8000'"),
])
def test_a_bad_database_url_is_one_line_without_its_password(url: str, message: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARTNERSHIPS_DATABASE_URL", url)
    for words in (("status",), ("db", "current")):
        code, out, err = run_cli(*words)
        assert code == 2 and err.count("\n") == 1 and message in err
        assert "hunter2" not in out + err


def test_two_processes_opening_an_old_state_at_once_upgrade_it_once(tmp_path: Path) -> None:
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, FIRST)
    add_messages(db, 50)
    script = ("import sys; from pathlib import Path; from daemon.state.schema import open_engine, upgrade;"
              "engine = open_engine(Path(sys.argv[1]), migrate=False);"
              "print('upgraded' if upgrade(engine, Path(sys.argv[1])) else 'found it done')")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
                 for _ in range(3)]
    outputs = sorted(process.communicate(timeout=60)[0].strip() for process in processes)
    assert all(process.returncode == 0 for process in processes)
    assert outputs.count("upgraded") == 1, outputs
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert sql(db, "SELECT count(*) FROM messages") == [(50,)]


def test_the_thread_index_tables_are_filled_from_the_messages_already_recorded(tmp_path: Path) -> None:
    """0005: a state recorded by a build that threaded in memory keeps threading after the upgrade."""
    db = tmp_path / "partnerships.sqlite3"
    state_at(db, "0004")
    connection = sqlite3.connect(db)
    try:
        connection.executemany(
            "INSERT INTO messages (message_id, thread_id, source, subject, direction, sender_role, thread_ids,"
            " participants, received_at) VALUES (?, ?, 'mbox', ?, 'inbound', 'lead_contact', ?, ?,"
            " '2026-11-30 10:00:00')",
            [("a@x", "a@x", "Hub service", '["a@x"]', '["ada@lakeside.edu", "partnerships@2i2c.org"]'),
             ("b@x", "a@x", "Re: Hub service", '["b@x", "a@x", "p@x"]', '["ada@lakeside.edu"]'),
             ("c@x", "c@x", "RE: hub  service", '["c@x", "p@x"]', '["bob@elsewhere.org"]')])
        connection.commit()
    finally:
        connection.close()
    make_sessions(db)
    assert sql(db, "SELECT ref, thread_id FROM thread_refs ORDER BY ref") == [
        ("a@x", "a@x"), ("b@x", "a@x"), ("c@x", "c@x"), ("p@x", "a@x")]
    assert sql(db, "SELECT thread_id, person FROM thread_subjects WHERE subject_key = 'hub service' ORDER BY id") == [
        ("a@x", ""), ("a@x", "ada@lakeside.edu"), ("a@x", "partnerships@2i2c.org"), ("c@x", ""),
        ("c@x", "bob@elsewhere.org")]
