"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import postgres_mode
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


# --- PostgreSQL: PARTNERSHIPS_TEST_DATABASE=postgresql runs every state on a throw-away cluster (postgres_mode.py) ----

try:
    POSTGRES_MODE = postgres_mode.mode() == "postgresql"
except ValueError as exc:
    raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every sqlite_only mark says why; under PostgreSQL those tests are skipped with that reason (they ran in the
    SQLite run)."""
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is None:
            continue
        if len(marker.args) != 1 or not isinstance(marker.args[0], str) or not marker.args[0].strip():
            raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.sqlite_only needs one reason string")
        if POSTGRES_MODE:
            item.add_marker(pytest.mark.skip(reason=f"sqlite_only ({marker.args[0]}): runs in the SQLite run"))


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
    name = postgres_mode.new_name()
    yield postgres_cluster.create_database(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def _state_template(postgres_cluster: PostgresCluster) -> str:
    return postgres_mode.make_template(postgres_cluster)


def _uses_module_fixture(request: pytest.FixtureRequest) -> bool:
    definitions = request.node._fixtureinfo.name2fixturedefs  # pytest has no public view of it
    return any(chain[-1].scope == "module" for name, chain in definitions.items()
               if name != "_module_state_on_postgres")


def _states_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    databases = postgres_mode.StateDatabases(cluster, request.getfixturevalue("_state_template"))
    with pytest.MonkeyPatch.context() as patch, postgres_mode.active(databases, patch):
        yield


@pytest.fixture(autouse=True, scope="module")
def _module_state_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL mode: the databases of the states that module-scoped fixtures build (they run before any
    function-scoped fixture), and of every state the tests using those fixtures open."""
    if POSTGRES_MODE:
        yield from _states_on_postgres(request)
    else:
        yield


@pytest.fixture(autouse=True)
def _state_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    """PostgreSQL mode: the databases of the states this test opens, made on first use and dropped afterwards
    (a test using a module-scoped fixture shares the module's)."""
    if POSTGRES_MODE and not _uses_module_fixture(request):
        yield from _states_on_postgres(request)
    else:
        yield
