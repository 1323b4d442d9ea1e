"""Refuse a damaged or foreign state before anything touches it: one line naming the file and what to do.

A new install is only an absent or empty state directory. A missing or empty database beside an outbox or other
files is a lost database, not a fresh start: processing the mailbox again would repeat every forward."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import MetaData

from daemon.errors import StateError
from daemon.state.schema import head_revision

# Files that may exist in a state directory that has never held a database.
_NOT_STATE = ("run.lock",)


def check_state(db_path: Path, schema: MetaData) -> None:
    state_dir = db_path.parent
    if state_dir.exists() and not state_dir.is_dir():
        raise StateError(f"state {state_dir} is a file, not a directory; pass --state with a directory")
    if db_path.exists() and not db_path.is_file():
        raise StateError(f"state database {db_path} is not a file; move it away")
    if not db_path.exists() or db_path.stat().st_size == 0:
        others = sorted(p.name for p in state_dir.iterdir()
                        if not p.name.startswith(".") and p.name not in (*_NOT_STATE, db_path.name)) \
            if state_dir.is_dir() else []
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise StateError(f"state database {db_path} is {'empty' if db_path.exists() else 'missing'} but "
                             f"{state_dir} holds {shown}: this is not a new install; restore the database from "
                             "a backup, or move the directory away to start afresh (every message would be "
                             "processed and forwarded again)")
        return
    problem = _schema_problem(db_path, schema)
    if problem:
        raise StateError(f"state database {db_path}: {problem}")


def _schema_problem(db_path: Path, schema: MetaData) -> str | None:
    try:
        connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=15)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc}); check its permissions"
    try:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        ours = set(schema.tables)
        if tables and not tables & ours:
            return "is not a partnerships-daemon database; pass the right --state"
        if "alembic_version" not in tables:
            return None  # made before migrations: the upgrade on open adds what an older build lacked
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone() or (None,)
        if revision != head_revision():
            return None  # an older schema is upgraded on open; a newer one is refused there
        for name in sorted(tables & ours):
            have = {row[1] for row in connection.execute(f'PRAGMA table_info("{name}")')}
            missing = [c.name for c in schema.tables[name].columns if c.name not in have]
            if missing:
                return (f"table {name} lacks column(s) {', '.join(missing)}: the state is from an older build; "
                        "run `partnerships db upgrade` (or restore a backup made by the build that wrote it)")
    except sqlite3.DatabaseError as exc:
        return f"is damaged or not an SQLite database ({exc}); restore it from a backup"
    finally:
        connection.close()
    return None
