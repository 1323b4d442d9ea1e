"""Shared pytest fixtures."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from servers import DovecotServer, PostgresCluster, RecordingSMTPServer, dovecot_binary

# --- Real-server fixtures: Dovecot IMAP and a recording SMTP server (tests/servers.py) -------


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A started private Dovecot (user partnerships@example.test / secret), stopped afterwards."""
    if dovecot_binary() is None:
        pytest.fail(
            "'dovecot' is not installed; the IMAP tests need a real Dovecot. "
            "Run `bash scripts/install-test-deps.sh` (as root) first.",
            pytrace=False,
        )
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., RecordingSMTPServer]]:
    """Factory: ``smtp_server(mode="accept", **kwargs)`` returns a started RecordingSMTPServer;
    every server made is stopped at teardown."""
    started: list[RecordingSMTPServer] = []

    def make(mode: str = "accept", **kwargs: Any) -> RecordingSMTPServer:
        server = RecordingSMTPServer(mode, **kwargs)
        server.start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


# --- end of real-server fixtures --------------------------------------------------------------


# --- PostgreSQL: PARTNERSHIPS_TEST_DATABASE=postgresql runs every in-process state on a throw-away cluster --------

POSTGRES_MODE = os.environ.get("PARTNERSHIPS_TEST_DATABASE", "sqlite") == "postgresql"
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(f"{exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new empty database on the session's cluster, dropped afterwards."""
    name = f"db{next(_database_numbers)}"
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(autouse=True)
def _state_on_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """In PostgreSQL mode every state a test opens lives in one new database on the cluster: a SQLite path given
    in-process is replaced by it, and PARTNERSHIPS_DATABASE_URL carries it to configs and subprocesses."""
    if not POSTGRES_MODE or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    import daemon.state.models
    import daemon.state.schema

    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = f"db{next(_database_numbers)}"
    url = cluster.create_database(name)
    monkeypatch.setenv("PARTNERSHIPS_DATABASE_URL", url)
    real_open = daemon.state.schema.open_engine
    engines: list[Any] = []

    def open_on_postgres(target: Path | str, *, migrate: bool = True) -> Any:
        engine = real_open(url if isinstance(target, Path) else target, migrate=migrate)
        engines.append(engine)
        return engine

    monkeypatch.setattr(daemon.state.schema, "open_engine", open_on_postgres)
    monkeypatch.setattr(daemon.state.models, "open_engine", open_on_postgres)
    try:
        yield
    finally:
        for engine in engines:
            engine.dispose()
        cluster.drop_database(name)
