"""Opening the state database: engine set-up (SQLite file or PostgreSQL URL), schema migrations, backups.

Every command that opens the state goes through `open_engine`: a state at an older schema revision (or made
before migrations existed) is backed up and upgraded; one written by a newer build is refused."""

from __future__ import annotations

import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from daemon.errors import StateError

log = logging.getLogger("daemon.state")
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# Key of the PostgreSQL advisory lock that serialises upgrades from several hosts ("PDSchema").
UPGRADE_LOCK_KEY = 0x504453636865
RUN_LOCK_KEY = 0x504452756E  # "PDRun": the acting daemon


def refuse_downgrade() -> None:
    raise StateError("downgrading the state schema is not supported: restore a copy from state/backup/ instead")


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade` did: from which revision (None: a state made before migrations) to which, and the backup."""

    before: str | None
    after: str
    backup: Path | None
    created: bool = False  # an empty database got the whole schema


def database_url(target: Path | str) -> str:
    """A SQLite file path or a SQLAlchemy URL such as postgresql+psycopg://host/db."""
    return f"sqlite:///{target}" if isinstance(target, Path) else target


def describe(target: Path | str) -> str:
    """The state's location for messages: a path, or the URL without its password."""
    if isinstance(target, Path):
        return str(target)
    try:
        return make_url(target).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # never echo it: it may hold a password
        return "(a database URL that cannot be parsed)"


def open_engine(target: Path | str, *, migrate: bool = True) -> Engine:
    """The engine of the state at `target`, upgraded to this build's schema unless `migrate` is false."""
    engine = _sqlite_engine(target) if isinstance(target, Path) else _server_engine(target)
    if migrate:
        try:
            upgrade(engine, target)
        except OperationalError as exc:
            if isinstance(target, Path):
                raise
            # A database server that is down, refuses the login or does not know the database: one line.
            raise StateError(f"cannot reach the database {describe(target)}: {_driver_reason(exc, target)}") from exc
    return engine


def _driver_reason(exc: OperationalError, url: str) -> str:
    """The first line of the driver's message, with the URL's password blotted out should the driver echo it."""
    reason = (str(exc.orig) or type(exc.orig).__name__).splitlines()[0].strip()
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    return reason.replace(str(password), "***") if password else reason


def _sqlite_engine(db_path: Path) -> Engine:
    """SQLite in WAL mode with BEGIN IMMEDIATE, so writers serialise instead of failing mid-transaction."""
    if not db_path.parent.exists():
        db_path.parent.mkdir(parents=True, mode=0o700)
    if not db_path.exists():
        # Mail and lead data: readable by the daemon's user only (SQLite gives -wal/-shm the same mode).
        os.close(os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600))
    engine = create_engine(database_url(db_path), connect_args={"timeout": 15})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event control transactions instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _server_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message would echo the URL, password included
        raise StateError("[daemon] database_url is not a database URL") from None
    if parsed.get_backend_name() not in ("postgresql", "sqlite"):
        raise StateError(f"[daemon] database_url: {parsed.get_backend_name()!r} is not supported "
                         "(postgresql+psycopg://... or sqlite:///...)")
    # pre_ping: a server restart or a failover must not surface as an error in the next pass.
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        raise StateError(f"[daemon] database_url needs the driver {exc.name!r}: "
                         "pip install 'partnerships-daemon[postgresql]'") from None
    if engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", _without_nul, retval=True)
    return engine


def _without_nul(_connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                 executemany: bool) -> tuple[str, Any]:
    """PostgreSQL text cannot hold NUL: hostile mail with NUL in a header is stored with U+FFFD in its place
    (SQLite keeps it) instead of failing the whole message's transaction."""
    if executemany and isinstance(parameters, list):
        return statement, [_clean(row) for row in parameters]
    return statement, _clean(parameters)


def _clean(parameters: Any) -> Any:
    if isinstance(parameters, dict):
        if any(isinstance(value, str) and "\x00" in value for value in parameters.values()):
            return {key: value.replace("\x00", "\ufffd") if isinstance(value, str) else value
                    for key, value in parameters.items()}
        return parameters
    if isinstance(parameters, tuple | list) and any(isinstance(value, str) and "\x00" in value
                                                    for value in parameters):
        return type(parameters)(value.replace("\x00", "\ufffd") if isinstance(value, str) else value
                                for value in parameters)
    return parameters


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    head = scripts().get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The state's schema revision; None for an empty database or one made before migrations."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def has_tables(connection: Connection) -> bool:
    return bool(inspect(connection).get_table_names())


def upgrade(engine: Engine, target: Path | str, revision: str | None = None) -> Upgrade | None:
    """Bring the state to `revision` (default: this build's head); None when it already was there."""
    head = revision or head_revision()
    with engine.connect() as connection:
        before = current_revision(connection)
        legacy = before is None and has_tables(connection)
    if before == head:
        return None
    _refuse_unknown(before, target)
    backup = backup_sqlite(target) if isinstance(target, Path) and (before is not None or legacy) else None
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
        # Another process may have upgraded while this one waited for the write lock.
        before = current_revision(connection)
        if before == head:
            return None
        _refuse_unknown(before, target)
        legacy = before is None and has_tables(connection)
        if legacy:
            log.warning("state %s has no schema revision (made before migrations): adopting it as the baseline "
                        "and upgrading to %s", describe(target), head)
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        # Alembic's own info lines ("Context impl SQLiteImpl.") say nothing the line below does not.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        command.upgrade(config, head)
    created = before is None and not legacy
    if created:
        log.info("state %s created at schema %s", describe(target), head)
    else:
        log.warning("state %s upgraded from schema %s to %s%s", describe(target), before or "before migrations",
                    head, f" (backup: {backup})" if backup else "")
    return Upgrade(before, head, backup, created)


def _refuse_unknown(revision: str | None, target: Path | str) -> None:
    if revision is None:
        return
    try:
        known = scripts().get_revision(revision) is not None
    except CommandError:  # "Can't locate revision": a revision of a newer build
        known = False
    if not known:
        raise StateError(f"state {describe(target)} has schema revision {revision!r}, which this build "
                         f"(schema {head_revision()}) does not know: it was written by a newer partnerships-daemon; "
                         "install that version again, or restore a copy from state/backup/")


def backup_sqlite(db_path: Path) -> Path:
    """A consistent copy of the SQLite file (its backup API, safe while others write), mode 0600."""
    folder = db_path.parent / "backup"
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for attempt in range(100):
        copy = folder / (f"{stamp}.sqlite3" if attempt == 0 else f"{stamp}-{attempt}.sqlite3")
        try:
            os.close(os.open(copy, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            continue
    else:
        raise StateError(f"cannot create a backup file in {folder}")
    source = sqlite3.connect(db_path, timeout=15)
    try:
        destination = sqlite3.connect(copy)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return copy


def upgrade_state(target: Path | str) -> Upgrade | None:
    """`db upgrade`: the same upgrade every command does when it opens the state, reported."""
    engine = open_engine(target, migrate=False)
    try:
        return upgrade(engine, target)
    finally:
        engine.dispose()


def stamp_report(target: Path | str) -> dict[str, Any]:
    """`db current`: the state's revision and this build's, without changing anything."""
    if isinstance(target, Path) and not target.exists():
        return {"state": describe(target), "revision": None, "head": head_revision(), "made_before_migrations": False}
    engine = open_engine(target, migrate=False)
    try:
        with engine.connect() as connection:
            revision = current_revision(connection)
            legacy = revision is None and has_tables(connection)
    finally:
        engine.dispose()
    return {"state": describe(target), "revision": revision, "head": head_revision(),
            "made_before_migrations": legacy}


class DatabaseLock:
    """One acting daemon per shared PostgreSQL database, whichever host it runs on: a session advisory lock on a
    connection of its own, released with that connection (also when the process dies). SQLite: the state
    directory's file lock (daemon.service.lock) already covers it, so this does nothing there."""

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine = engine
        self.where = where
        self._connection: Connection | None = None

    def acquire(self) -> DatabaseLock:
        if self.engine.dialect.name != "postgresql":
            return self
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": RUN_LOCK_KEY}).scalar():
            connection.close()
            raise StateError(f"another `partnerships run` is acting on {self.where}; only one may "
                             "(on any host). `status`, `classify` and `review list` work beside it")
        self._connection = connection
        return self

    def release(self) -> None:
        if self._connection is not None:
            self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": RUN_LOCK_KEY})
            self._connection.close()
            self._connection = None
