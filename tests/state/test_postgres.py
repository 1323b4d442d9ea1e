"""The state on a real PostgreSQL server (a throw-away cluster): the same migrations, the same commands."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from factories import run_cli
from sqlalchemy import select, text

from daemon.errors import StateError
from daemon.service.scheduler import record_invoice
from daemon.state.models import ActionRow, Base, StoredMessage, SyncCursor, make_sessions
from daemon.state.schema import DatabaseLock, head_revision, open_engine, upgrade

pytestmark = pytest.mark.sqlite_only("choose their PostgreSQL databases themselves")


def revision_of(url: str) -> str | None:
    engine = open_engine(url, migrate=False)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_migrations_create_the_schema_the_models_describe(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
    assert revision_of(postgres_url) == head_revision()


def test_upgrade_from_the_first_revision_and_a_newer_schema_refused(postgres_url: str) -> None:
    engine = open_engine(postgres_url, migrate=False)
    upgrade(engine, postgres_url, "0001")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO quarantine (sha256, source, reason, size, created_at)"
                                " VALUES ('abc', 'imap:INBOX', 'no headers', 3, now())"))
    done = upgrade(engine, postgres_url)
    assert done is not None and (done.before, done.after, done.backup) == ("0001", head_revision(), None)
    with engine.begin() as connection:
        assert connection.execute(text("SELECT sha256, raw FROM quarantine")).all() == [("abc", None)]
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(StateError, match="written by a newer partnerships-daemon"):
        make_sessions(postgres_url)


def test_two_processes_upgrading_at_once_upgrade_once(postgres_url: str) -> None:
    results: list[object] = []

    def open_state() -> None:
        engine = open_engine(postgres_url, migrate=False)
        try:
            results.append(upgrade(engine, postgres_url))
        except Exception as exc:  # the assertion below shows it
            results.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_state) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(result is not None for result in results) == 1, results
    assert revision_of(postgres_url) == head_revision()


def test_upserts_record_once_on_postgresql(postgres_url: str) -> None:
    sessions = make_sessions(postgres_url)
    assert record_invoice(sessions, "2026-10") is True
    assert record_invoice(sessions, "2026-10") is False
    with sessions() as session:
        assert session.scalars(select(ActionRow.key)).all() == ["invoice:2026-10"]
    sessions.kw["bind"].dispose()


def test_run_and_status_against_postgresql_from_the_config(postgres_url: str, tmp_path: Path) -> None:
    password_url = postgres_url.replace("postgres@", "postgres:not-a-real-secret@")
    config = tmp_path / "partnerships.toml"
    examples = Path(__file__).resolve().parents[2] / "examples"
    config.write_text(f'[daemon]\ndatabase_url = "{password_url}"\nstate_dir = "{tmp_path / "state"}"\n'
                      f'[source]\npath = "{examples / "inbox.mbox"}"\n[leads]\nseed_csv = "{examples / "leads.csv"}"\n'
                      '[trust]\nauthserv_ids = ["mx.google.com"]\n')
    code, out, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "forwards written: 2" in out, err  # 4 more went To operations directly
    code, out, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "forwards written: 0" in out, err
    sessions = make_sessions(postgres_url)
    with sessions() as session:
        stored = session.scalars(select(StoredMessage)).all()
        assert len(stored) > 5
        assert session.scalars(select(SyncCursor)).all()
        assert session.scalars(select(ActionRow)).all()
    sessions.kw["bind"].dispose()
    code, out, err = run_cli("status", "--config", str(config))
    assert code == 0 and "not-a-real-secret" not in out + err and "postgres:***@127.0.0.1" in out
    assert not (tmp_path / "state" / "partnerships.sqlite3").exists()


def test_one_acting_daemon_per_database_on_any_host(postgres_url: str, tmp_path: Path) -> None:
    config = tmp_path / "partnerships.toml"
    config.write_text(f'[daemon]\ndatabase_url = "{postgres_url}"\nstate_dir = "{tmp_path / "state"}"\n')
    engine = open_engine(postgres_url)
    other_host = DatabaseLock(engine, "db").acquire()  # a daemon elsewhere, with its own state directory
    try:
        code, _, err = run_cli("run", "--once", "--config", str(config))
        assert code == 2 and "another `partnerships run` is acting on" in err and "(on any host)" in err
    finally:
        other_host.release()
        engine.dispose()
    code, _, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err


def test_a_database_that_cannot_be_reached_is_one_line_without_the_password(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("PARTNERSHIPS_DATABASE_URL", f"postgresql+psycopg://partnerships:s3cret-pw@127.0.0.1:{port}/x")
    for command in (["status"], ["run", "--once"]):
        code, out, err = run_cli(*command, "--state", str(tmp_path / "state"))
        assert code == 2, (command, err)
        assert err.startswith(f"partnerships: cannot reach the database postgresql+psycopg://partnerships:***@127.0.0.1:"
                              f"{port}/x: ") and err.count("\n") == 1, err
        assert "s3cret-pw" not in out + err and "Traceback" not in err
