"""Decisions on the human review queue, shared by `partnerships review` and the web desk.

Approving queues exactly the actions the item proposed, in the same transaction that closes the item: with
SQLite's BEGIN IMMEDIATE two people clicking at once are serialised, and the second finds the item decided.
Carrying the queued actions out is the caller's job (the executor lives above this package)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.message import MalformedMessage, parse
from daemon.errors import DaemonError
from daemon.state.models import (
    APPROVED,
    FAILED,
    OPEN,
    PENDING,
    REJECTED,
    ActionRow,
    LabelledExample,
    ReviewItem,
    StoredMessage,
    utcnow,
)

log = logging.getLogger("daemon.review")
VERDICTS = {"approve": APPROVED, "reject": REJECTED}


class ReviewError(DaemonError):
    """The item does not exist or was decided before; nothing was changed."""


@dataclass(frozen=True)
class Decided:
    item_id: int
    status: str
    decided_by: str
    decided_at: datetime
    queued: tuple[str, ...]  # keys of the actions approving queued


def decide_review(sessions: sessionmaker[Session], item_id: int, verdict: str, user: str) -> Decided:
    """Close an open item as approved (queueing its proposed actions) or rejected, in one transaction."""
    if verdict not in VERDICTS:
        raise ReviewError(f"unknown decision {verdict!r}; expected approve or reject")
    now = utcnow()
    with sessions.begin() as session:
        item = _open_item(session, item_id)
        item.status, item.decided_by, item.decided_at = VERDICTS[verdict], user, now
        queued = tuple(_queue(session, item, now)) if verdict == "approve" else ()
        decided = Decided(item.id, item.status, user, now, queued)
    log.info("review decided id=%d decision=%s by=%s queued=%d", item_id, decided.status, user, len(queued))
    return decided


def _open_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise ReviewError(f"review item #{item_id} does not exist")
    if item.status != OPEN:
        raise ReviewError(f"review item #{item_id} is already {item.status} by {item.decided_by}")
    return item


def _queue(session: Session, item: ReviewItem, now: datetime) -> list[str]:
    keys = []
    for action in item.proposed:
        proposed = insert(ActionRow).values(
            key=action["key"], kind=action["kind"], message_id=item.message_id, payload=action["payload"],
            created_at=now, updated_at=now, next_attempt_at=now)
        # An action that failed permanently (e.g. a field missing in the leads table) gets another try.
        session.execute(proposed.on_conflict_do_update(
            index_elements=["key"], where=ActionRow.status == FAILED,
            set_={"status": PENDING, "attempts": 0, "last_error": None, "next_attempt_at": now}))
        keys.append(action["key"])
    return keys


def relabel(sessions: sessionmaker[Session], item_id: int, intent: str, user: str, *,
            intents: tuple[str, ...]) -> LabelledExample:
    """Record that the item's message means `intent` (a labelled example for the classifier). The item stays
    open: what to do about it is still approve or reject."""
    if intent not in intents:
        raise ReviewError(f"{intent!r} is not one of the known intents ({', '.join(intents)})")
    with sessions.begin() as session:
        item = _open_item(session, item_id)
        stored = session.query(StoredMessage).filter(StoredMessage.message_id == item.message_id).one_or_none()
        example = LabelledExample(message_id=item.message_id, review_item_id=item.id, text=_text_of(stored),
                                  intent=intent, previous_intent=item.intent, labelled_by=user,
                                  labelled_at=utcnow())
        session.add(example)
    log.info("review relabelled id=%d intent=%s previous=%s by=%s", item_id, intent, example.previous_intent, user)
    return example


def _text_of(stored: StoredMessage | None) -> str:
    """What the sender wrote (subject and new text); the subject alone when the original was not kept."""
    if stored is None:
        return ""
    if stored.raw is not None:
        try:
            message = parse(stored.raw)
            return f"{message.subject}\n\n{message.new_text}".strip()
        except MalformedMessage:
            pass
    return stored.subject
