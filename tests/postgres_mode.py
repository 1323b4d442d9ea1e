"""The suite's PostgreSQL mode (PARTNERSHIPS_TEST_DATABASE=postgresql): every state a test opens lives in a database of
its own on the session's throw-away cluster, as it would in a deployment that gives each state a `database_url`.

A state is known by its SQLite path (``<state_dir>/partnerships.sqlite3``). In this process, opening that path, or a
config whose database is the URL in PARTNERSHIPS_DATABASE_URL, reaches the state's database, made on first use as a
copy of a template the migrations built once per session. Subprocesses get PARTNERSHIPS_DATABASE_URL: the database of
the first state the scope opened (`env_for_state` names another state's). `clone_state` copies a state's database
with its directory. No pytest in here: conftest.py decides when a scope's `StateDatabases` is active."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from servers import PostgresCluster

MODE_VARIABLE = "PARTNERSHIPS_TEST_DATABASE"
MODES = ("sqlite", "postgresql")
URL_VARIABLE = "PARTNERSHIPS_DATABASE_URL"
DB_FILE = "partnerships.sqlite3"
TEMPLATE = "state_template"
_REAL_POPEN = subprocess.Popen
_names = (f"db{number}" for number in itertools.count(1))


def mode() -> str:
    """The database the suite runs on; a misspelt value is an error, never a silent SQLite run."""
    chosen = os.environ.get(MODE_VARIABLE, "sqlite")
    if chosen not in MODES:
        raise ValueError(f"{MODE_VARIABLE}={chosen!r}: use one of {', '.join(MODES)}")
    return chosen


def new_name() -> str:
    """A database name not used before on this process's cluster."""
    return next(_names)


def make_template(cluster: PostgresCluster) -> str:
    """A database at this build's schema head, the template of every state's database (migrating each new database
    costs ~0.1 s; copying the template ~0.02 s). No connection to it stays open: CREATE DATABASE ... TEMPLATE needs
    that."""
    from daemon.state.schema import open_engine

    open_engine(cluster.create_database(TEMPLATE)).dispose()
    return TEMPLATE


class Patcher(Protocol):
    """What redirect() needs of pytest.MonkeyPatch."""

    def setattr(self, target: Any, name: str, value: Any) -> None: ...
    def setenv(self, name: str, value: str) -> None: ...


class StateDatabases:
    """The databases of one scope (a test, or a module whose fixtures build states): one per state, made on first
    use, dropped by close()."""

    def __init__(self, cluster: PostgresCluster, template: str) -> None:
        self.cluster = cluster
        self.template = template
        self.default = new_name()  # the first state's: PARTNERSHIPS_DATABASE_URL names it
        self._by_path: dict[Path, str] = {}
        self._created: list[str] = []
        self._engines: list[tuple[str, Any]] = []
        self._lock = threading.RLock()

    @property
    def default_url(self) -> str:
        return self.cluster.url(self.default)

    def url_for(self, db_path: Path) -> str:
        """The database of the state whose SQLite file would be `db_path`."""
        key = db_path.resolve()
        with self._lock:
            name = self._by_path.get(key)
            if name is None:
                name = self.default if self.default not in self._by_path.values() else new_name()
                self._by_path[key] = name
            self._create(name)
        return self.cluster.url(name)

    def ensure_default(self) -> None:
        """The first state's database exists (a subprocess about to start may open it)."""
        with self._lock:
            self._create(self.default)

    def opened(self, url: str, engine: Any) -> None:
        with self._lock:
            self._engines.append((url, engine))

    def clone(self, source_dir: Path, target_dir: Path) -> None:
        """The state copied to `target_dir` gets a copy of `source_dir`'s database (none if that was never opened:
        the copy then starts as empty as the original)."""
        with self._lock:
            source = self._by_path.get((source_dir / DB_FILE).resolve())
            if source is None:
                return
            self._release(source)
            target = new_name()
            self.cluster.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}" STRATEGY FILE_COPY')
            self._created.append(target)
            self._by_path[(target_dir / DB_FILE).resolve()] = target

    def close(self) -> None:
        with self._lock:
            for _, engine in self._engines:
                engine.dispose()
            self._engines.clear()
            for name in self._created:
                self.cluster.drop_database(name)
            self._created.clear()

    def _create(self, name: str) -> None:
        if name not in self._created:
            self.cluster.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" STRATEGY FILE_COPY')
            self._created.append(name)

    def _release(self, name: str) -> None:
        """No connection to `name` stays open (a template must have none): pooled ones are closed, any other is
        ended; the engines' pre-ping replaces what they lose."""
        url = self.cluster.url(name)
        for opened_url, engine in self._engines:
            if opened_url == url:
                engine.dispose()
        self.cluster.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")


_active: list[StateDatabases] = []


@contextlib.contextmanager
def active(databases: StateDatabases, patch: Patcher) -> Iterator[StateDatabases]:
    """`databases` serve every state opened while the context lasts (the caller's `patch` undoes the redirection);
    they are dropped at its end."""
    _redirect(databases, patch)
    _active.append(databases)
    try:
        yield databases
    finally:
        _active.remove(databases)
        databases.close()


def env_for_state(state_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess working on the state in `state_dir` (unchanged on SQLite)."""
    env = dict(os.environ if base is None else base)
    if _active:
        env[URL_VARIABLE] = _active[-1].url_for(state_dir / DB_FILE)
    return env


def clone_state(source_dir: Path, target_dir: Path) -> None:
    """After copying a state directory: on PostgreSQL, copy its database too (nothing to do on SQLite)."""
    if _active:
        _active[-1].clone(source_dir, target_dir)


def _redirect(databases: StateDatabases, patch: Patcher) -> None:
    import daemon.state.models
    import daemon.state.schema
    from daemon.settings import Config

    real_open = daemon.state.schema.open_engine
    real_database = Config.database

    def open_engine(target: Path | str, *, migrate: bool = True) -> Any:
        url = databases.url_for(target) if isinstance(target, Path) else target
        engine = real_open(url, migrate=migrate)
        databases.opened(url, engine)
        return engine

    def database(config: Config) -> Path | str:
        where = real_database.fget(config)  # type: ignore[attr-defined]
        return databases.url_for(config.db_path) if where == databases.default_url else where

    class Popen(_REAL_POPEN):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if (kwargs.get("env") or os.environ).get(URL_VARIABLE) == databases.default_url:
                databases.ensure_default()
            super().__init__(*args, **kwargs)

    patch.setenv(URL_VARIABLE, databases.default_url)
    patch.setattr(daemon.state.schema, "open_engine", open_engine)
    patch.setattr(daemon.state.models, "open_engine", open_engine)
    patch.setattr(Config, "database", property(database))
    patch.setattr(subprocess, "Popen", Popen)
