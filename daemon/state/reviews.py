"""The review queue as people read and decide it, shared by `partnerships review` and the web desk: items with
their message, proposals and decisions, and the labelled examples people give the classifier.

Approving queues exactly the actions the item proposed, in the same transaction that closes the item: with
SQLite's BEGIN IMMEDIATE two people clicking at once are serialised, and the second finds the item decided.
Carrying the queued actions out is the caller's job (the executor lives above this package)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.wording import describe, excerpt
from daemon.errors import DaemonError
from daemon.state.examples import OTHER, add_example, new_text
from daemon.state.models import (
    APPROVED,
    OPEN,
    REJECTED,
    LabelledExample,
    ReviewDecision,
    ReviewItem,
    StoredMessage,
    utcnow,
)
from daemon.state.outbox import requeue

log = logging.getLogger("daemon.review")


@dataclass(frozen=True)
class ReviewView:
    id: int
    status: str
    community: str
    sender: str
    subject: str
    excerpt: str
    intent: str
    reason: str
    proposals: tuple[str, ...]  # in words
    record: dict[str, Any]  # the JSON form (stable keys plus the readable ones)


class ReviewRefused(DaemonError):
    """A decision that cannot be taken (unknown item, already decided, nothing to approve); nothing changed."""


@dataclass(frozen=True)
class Decided:
    item_id: int
    status: str
    decided_by: str
    decided_at: datetime
    queued: tuple[str, ...]  # keys of the actions approving queued


def _community(item: ReviewItem, names: Mapping[str, str]) -> str:
    if item.lead_id and item.lead_id in names:
        return names[item.lead_id]
    create = next((a for a in item.proposed if a["kind"] == "create_lead"), None)
    if create is not None:
        return f"{create['payload'].get('name')} (new lead)"
    return "(no lead)"


def review_views(sessions: sessionmaker[Session], names: Mapping[str, str], *,
                 include_closed: bool = False) -> list[ReviewView]:
    """Open items (with `include_closed`, every item), oldest first, readable by the sales team."""
    query = select(ReviewItem).order_by(ReviewItem.id)
    if not include_closed:
        query = query.where(ReviewItem.status == OPEN)
    views = []
    with sessions() as session:
        for item in session.scalars(query):
            stored = session.scalar(select(StoredMessage).where(StoredMessage.message_id == item.message_id))
            decision = session.scalar(select(ReviewDecision).where(ReviewDecision.review_id == item.id)
                                      .order_by(ReviewDecision.id.desc()).limit(1))
            community = _community(item, names)
            words = tuple(describe(a["kind"], a.get("payload") or {}, community) for a in item.proposed)
            sender = stored.from_addr or "" if stored else ""
            subject = stored.subject if stored else ""
            text = excerpt(new_text(stored))
            record = {
                "id": item.id, "thread": item.thread_id, "message_id": item.message_id, "lead_id": item.lead_id,
                "intent": item.intent, "reason": item.reason, "created_at": item.created_at.isoformat() + "Z",
                "proposed": [{"kind": a["kind"], "key": a["key"]} for a in item.proposed],
                "status": item.status, "community": community, "sender": sender, "subject": subject,
                "excerpt": text, "proposals": list(words), "decided_by": item.decided_by,
                "decided_at": item.decided_at.isoformat() + "Z" if item.decided_at else None,
                "comment": decision.comment if decision else None,
            }
            views.append(ReviewView(item.id, item.status, community, sender, subject, text, item.intent,
                                    item.reason, words, record))
    return views


def decide_review(sessions: sessionmaker[Session], review_id: int, *, approve: bool, by: str,
                  comment: str | None = None, now: datetime | None = None) -> Decided:
    """Record the decision; an approval queues exactly the proposed actions (forwards say who approved them)."""
    moment = now or utcnow()
    queued: list[str] = []
    with sessions.begin() as session:
        item = _open_item(session, review_id)
        if approve and not item.proposed:
            raise ReviewRefused(f"review item #{review_id} proposes nothing to carry out, so it cannot be approved; "
                                "reject it (with --comment) to close it")
        item.status = APPROVED if approve else REJECTED
        item.decided_by, item.decided_at = by, moment
        session.add(ReviewDecision(review_id=review_id, decision=item.status, decided_by=by, comment=comment,
                                   at=moment))
        add_example(session, item, item.intent if approve else OTHER, by, moment)  # a label for `learn`
        if approve:
            for action in item.proposed:
                payload = dict(action["payload"])
                if action["kind"] == "forward":
                    payload["vars"] = {**payload.get("vars", {}), "approved_by": by}
                # An action that failed permanently (e.g. a field missing in the leads table) gets another try.
                requeue(session, action["key"], action["kind"], payload, item.message_id, moment)
                queued.append(action["key"])
        decided = Decided(item.id, item.status, by, moment, tuple(queued))
    log.info("review decided id=%d decision=%s by=%s queued=%d", review_id, decided.status, by, len(queued))
    return decided


def _open_item(session: Session, item_id: int) -> ReviewItem:
    # FOR UPDATE: on PostgreSQL two people deciding at once would otherwise both read it open (SQLite's BEGIN
    # IMMEDIATE already serialises them); the second waits and then finds it decided.
    item = session.get(ReviewItem, item_id, with_for_update=True)
    if item is None:
        raise ReviewRefused(f"review item #{item_id} does not exist")
    if item.status != OPEN:
        raise ReviewRefused(f"review item #{item_id} is already {item.status} by {item.decided_by}")
    return item


def relabel(sessions: sessionmaker[Session], item_id: int, intent: str, user: str, *,
            intents: tuple[str, ...], open_only: bool = True) -> LabelledExample:
    """Record that the item's message means `intent` (a labelled example for the classifier). The item keeps its
    status: what to do about an open one is still approve or reject. `open_only=False` (`review reclassify`)
    also labels the message of an item already decided."""
    if intent not in intents:
        raise ReviewRefused(f"{intent!r} is not one of the known intents ({', '.join(intents)})")
    with sessions.begin() as session:
        item = _open_item(session, item_id) if open_only else session.get(ReviewItem, item_id)
        if item is None:
            raise ReviewRefused(f"review item #{item_id} does not exist")
        example = add_example(session, item, intent, user, utcnow())
    log.info("review relabelled id=%d intent=%s previous=%s by=%s", item_id, intent, example.previous_intent, user)
    return example
