"""Alembic environment: migrates the connection daemon.state.schema hands over, inside its transaction."""

from __future__ import annotations

from alembic import context

from daemon.state.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=True,
    # The caller's transaction (BEGIN IMMEDIATE on SQLite) covers the whole upgrade.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
