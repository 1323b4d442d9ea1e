"""Dialect-neutral upserts: the INSERT ... ON CONFLICT of the database a session talks to (SQLite or PostgreSQL).

Both dialects' Insert offer the same `on_conflict_do_nothing` / `on_conflict_do_update` / `excluded`, so callers
write one statement whichever store the state is in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import ReturnTypeFromArgs

INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def insert(session: Session, table: Any) -> Any:
    """`INSERT INTO table` with ON CONFLICT clauses for the session's database."""
    dialect = session.get_bind().dialect.name
    try:
        return INSERTS[dialect](table)
    except KeyError:
        raise NotImplementedError(f"no upsert for the {dialect} dialect") from None


class greatest(ReturnTypeFromArgs[Any]):
    """The larger of its arguments: GREATEST() in PostgreSQL, the two-argument scalar MAX() in SQLite."""

    inherit_cache = True


@compiles(greatest)
def _greatest(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"MAX({compiler.process(element.clauses, **kw)})"
