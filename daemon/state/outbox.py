"""The outbox: the one place actions are recorded, so every side effect is carried out at most once by its key."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from daemon.core.decide import Action
from daemon.state.models import PENDING, ActionRow, utcnow


def enqueue(session: Session, actions: Iterable[Action], *, message_id: str | None = None) -> None:
    """Record `actions` as pending in the caller's transaction; an action whose key exists is left alone."""
    rows = action_rows(actions, message_id=message_id)
    if rows:
        session.execute(insert(ActionRow).on_conflict_do_nothing(index_elements=["key"]), rows)


def action_rows(actions: Iterable[Action], *, message_id: str | None) -> list[dict[str, Any]]:
    """The outbox rows of `actions`: pending, due now."""
    now = utcnow()
    return [{"key": action.key, "kind": action.kind, "message_id": message_id or action.payload.get("message_id"),
             "payload": action.payload, "status": PENDING, "attempts": 0, "created_at": now, "updated_at": now,
             "next_attempt_at": now} for action in actions]
