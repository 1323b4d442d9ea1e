"""Reports over the state for `status`, `leads`, `lead show`, the digest and the web desk: read-only queries that
return plain data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.maniac import EvidencePiece
from daemon.state.ledger import evidence_piece
from daemon.state.models import (
    DONE,
    FAILED,
    OPEN,
    PENDING,
    UNCERTAIN,
    ActionRow,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    get_meta,
)

CONNECTION_KEY = "connection"  # meta: the daemon's last word on its mailbox connection
SMTP_KEY = "smtp"  # meta: the mail server's last answer to our login
LAST_SYNC_PREFIX = "last_sync:"  # meta: last_sync:<source> -> when a pass over it last completed
OAUTH_PREFIX = "oauth:"  # meta: oauth:<imap|smtp> -> "ok", or since when and why its token refresh fails
OAUTH_OK = "ok"


def oauth_refresh(sessions: sessionmaker[Session]) -> dict[str, str]:
    """Per mail channel signing in with OAuth2 (imap, smtp): "ok" or why its token cannot be refreshed."""
    return {key.removeprefix(OAUTH_PREFIX): value for key, value in get_meta(sessions, OAUTH_PREFIX).items()}


def oauth_problems(sessions: sessionmaker[Session]) -> dict[str, str]:
    """The channels whose token refresh fails now, and why (for the digest)."""
    return {channel: text for channel, text in oauth_refresh(sessions).items() if text != OAUTH_OK}


def last_activity_by_lead(sessions: sessionmaker[Session]) -> dict[str, datetime]:
    """The date of each lead's newest message."""
    with sessions() as session:
        rows = session.execute(select(StoredMessage.lead_id, func.max(StoredMessage.date))
                               .where(StoredMessage.lead_id.is_not(None)).group_by(StoredMessage.lead_id))
        return {lead_id: newest for lead_id, newest in rows if newest is not None}


def open_reviews_by_lead(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(ReviewItem.lead_id, func.count()).where(ReviewItem.status == OPEN)
                               .group_by(ReviewItem.lead_id))
        return {lead_id: count for lead_id, count in rows if lead_id is not None}


def lead_evidence(sessions: sessionmaker[Session], lead_id: str) -> list[EvidencePiece]:
    """The MANIAC-T evidence recorded for one lead, oldest first."""
    with sessions() as session:
        return [evidence_piece(row) for row in session.scalars(
            select(ManiacRow).where(ManiacRow.lead_id == lead_id).order_by(ManiacRow.id))]


@dataclass(frozen=True)
class ThreadSummary:
    thread_id: str
    messages: int
    first: datetime | None
    last: datetime | None
    subject: str


def lead_threads(sessions: sessionmaker[Session], lead_id: str) -> list[ThreadSummary]:
    """The lead's conversations, the most recently active last."""
    with sessions() as session:
        rows = session.execute(
            select(StoredMessage.thread_id, func.count(), func.min(StoredMessage.date), func.max(StoredMessage.date),
                   func.min(StoredMessage.subject))
            .where(StoredMessage.lead_id == lead_id).group_by(StoredMessage.thread_id)
            .order_by(func.max(StoredMessage.date)))
        return [ThreadSummary(*row) for row in rows]


def open_review_items(sessions: sessionmaker[Session]) -> list[ReviewItem]:
    with sessions() as session:
        return list(session.scalars(select(ReviewItem).where(ReviewItem.status == OPEN).order_by(ReviewItem.id)))


def status_report(sessions: sessionmaker[Session], state: str) -> dict[str, Any]:
    """The facts `status` shows, as plain data (also its --json form)."""
    meta = get_meta(sessions)
    with sessions() as session:
        cursors = list(session.scalars(select(SyncCursor).order_by(SyncCursor.source)))
        counts = dict(session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all())
        unfinished = list(session.scalars(select(ActionRow).where(ActionRow.status.in_((PENDING, UNCERTAIN, FAILED)))
                                          .order_by(ActionRow.id)))
        last_batch = session.scalar(select(ActionRow).where(ActionRow.kind == "send_invoice")
                                    .order_by(ActionRow.key.desc()).limit(1))
        return {
            "state": state,
            "connection": meta.get(CONNECTION_KEY),
            "smtp": meta.get(SMTP_KEY),
            "oauth": {key.removeprefix(OAUTH_PREFIX): value for key, value in meta.items()
                      if key.startswith(OAUTH_PREFIX)},
            "sources": [{"source": c.source, "uidvalidity": c.uidvalidity, "last_uid": c.last_uid,
                         "last_sync": meta.get(f"{LAST_SYNC_PREFIX}{c.source}")} for c in cursors],
            "actions": {"pending": counts.get(PENDING, 0), "uncertain": counts.get(UNCERTAIN, 0),
                        "done": counts.get(DONE, 0), "failed": counts.get(FAILED, 0)},
            "unfinished_actions": [{"key": a.key, "kind": a.kind, "status": a.status, "attempts": a.attempts,
                                    "last_error": a.last_error} for a in unfinished],
            "review_items_open": session.scalar(select(func.count()).select_from(ReviewItem)
                                                .where(ReviewItem.status == OPEN)),
            "quarantined": session.scalar(select(func.count()).select_from(Quarantined)),
            "last_invoice_batch": ({"month": last_batch.key.removeprefix("invoice:"), "status": last_batch.status}
                                   if last_batch else None),
        }


def empty_status_report(state: str) -> dict[str, Any]:
    """`status` of a state with no database yet."""
    return {"state": state, "connection": None, "smtp": None, "oauth": {}, "sources": [],
            "actions": {"pending": 0, "uncertain": 0, "done": 0, "failed": 0}, "unfinished_actions": [],
            "review_items_open": 0, "quarantined": 0, "last_invoice_batch": None}
