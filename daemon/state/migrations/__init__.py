"""Alembic migrations of the state schema (run by daemon.state.schema; no alembic.ini needed)."""
