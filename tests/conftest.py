"""Shared pytest fixtures."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airtable_server import AirtableServer
from airtable_support import seeded_server
from servers import DovecotServer, PostgresCluster, RecordingSMTPServer, dovecot_binary

# --- Real-server fixtures: Dovecot IMAP and a recording SMTP server (tests/servers.py) -------


@pytest.fixture
def seeded_airtable() -> Iterator[AirtableServer]:
    """The local Airtable server with the partnerships base and the example leads."""
    yield from seeded_server()


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


def _uses_module_fixture(request: pytest.FixtureRequest) -> bool:
    definitions = request.node._fixtureinfo.name2fixturedefs  # pytest has no public view of it
    return any(chain[-1].scope == "module" for name, chain in definitions.items()
               if name != "_module_state_on_postgres")


def _open_on(url: str, engines: list[Any]) -> Callable[..., Any]:
    """daemon.state.schema.open_engine, with any SQLite path replaced by `url`."""
    import daemon.state.schema

    real_open = daemon.state.schema.open_engine

    def open_on_postgres(target: Path | str, *, migrate: bool = True) -> Any:
        engine = real_open(url if isinstance(target, Path) else target, migrate=migrate)
        engines.append(engine)
        return engine

    return open_on_postgres


def _redirect(patch: pytest.MonkeyPatch, url: str, engines: list[Any]) -> None:
    import daemon.state.models
    import daemon.state.schema

    opener = _open_on(url, engines)
    patch.setenv("PARTNERSHIPS_DATABASE_URL", url)
    patch.setattr(daemon.state.schema, "open_engine", opener)
    patch.setattr(daemon.state.models, "open_engine", opener)


@pytest.fixture(autouse=True, scope="module")
def _module_state_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL mode: a module's database, for states that module-scoped fixtures build (they run before any
    function-scoped fixture)."""
    if not POSTGRES_MODE or request.node.get_closest_marker("sqlite_only"):
        yield
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = f"db{next(_database_numbers)}"
    engines: list[Any] = []
    with pytest.MonkeyPatch.context() as patch:
        _redirect(patch, cluster.create_database(name), engines)
        yield
    for engine in engines:
        engine.dispose()
    cluster.drop_database(name)


@pytest.fixture(autouse=True)
def _state_on_postgres(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PostgreSQL mode: every state a test opens lives in one new database on the cluster (or the module's, when a
    module-scoped fixture built it): a SQLite path given in-process is replaced by it, and
    PARTNERSHIPS_DATABASE_URL carries it to configs and subprocesses."""
    if not POSTGRES_MODE or request.node.get_closest_marker("sqlite_only") or _uses_module_fixture(request):
        yield
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    name = f"db{next(_database_numbers)}"
    engines: list[Any] = []
    _redirect(monkeypatch, cluster.create_database(name), engines)
    try:
        yield
    finally:
        for engine in engines:
            engine.dispose()
        cluster.drop_database(name)
