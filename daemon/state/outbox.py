"""The outbox: the one place actions are recorded, so every side effect is carried out at most once by its key."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from daemon.core.decide import Action
from daemon.state.models import ActionRow, utcnow


def enqueue(session: Session, actions: Iterable[Action], *, message_id: str | None = None) -> None:
    """Record `actions` as pending in the caller's transaction; an action whose key exists is left alone."""
    now = utcnow()
    for action in actions:
        session.execute(insert(ActionRow).values(
            key=action.key, kind=action.kind, message_id=message_id or action.payload.get("message_id"),
            payload=action.payload, created_at=now, updated_at=now, next_attempt_at=now,
        ).on_conflict_do_nothing(index_elements=["key"]))
