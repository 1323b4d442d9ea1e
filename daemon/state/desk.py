"""The read queries (and the two retry buttons) of the web desk and `partnerships status`, as plain data.

The web package imports no SQLAlchemy: every page's facts come from a function here, returned as frozen
dataclasses or dicts, in a handful of grouped queries so a page stays fast with thousands of messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.maniac import EvidencePiece
from daemon.state.models import (
    APPROVED,
    DONE,
    FAILED,
    OPEN,
    PENDING,
    ActionRow,
    Classification,
    LabelledExample,
    LeadStatusChange,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    utcnow,
)

Sessions = sessionmaker[Session]


# -- the review queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    intent: str
    by: str
    at: datetime


@dataclass(frozen=True)
class ReviewCard:
    id: int
    intent: str
    reason: str
    created_at: datetime
    lead_id: str | None
    proposed: list[dict[str, Any]]
    message_id: str
    from_addr: str | None
    subject: str
    date: datetime | None
    raw: bytes | None
    rule: str | None
    confidence: float | None
    matched: list[str]
    labels: list[Label]


def review_queue(sessions: Sessions, limit: int = 200) -> list[ReviewCard]:
    """Open items, oldest first, each with its message, classification and the labels people gave it."""
    with sessions() as session:
        rows = session.execute(
            select(ReviewItem, StoredMessage, Classification)
            .outerjoin(StoredMessage, StoredMessage.message_id == ReviewItem.message_id)
            .outerjoin(Classification, Classification.message_pk == StoredMessage.id)
            .where(ReviewItem.status == OPEN).order_by(ReviewItem.id).limit(limit)).all()
        ids = [item.id for item, _, _ in rows]
        labels: dict[int, list[Label]] = {}
        for example in session.scalars(select(LabelledExample).where(LabelledExample.review_item_id.in_(ids))
                                       .order_by(LabelledExample.id)):
            labels.setdefault(example.review_item_id or 0, []).append(
                Label(example.intent, example.labelled_by, example.labelled_at))
    return [ReviewCard(
        id=item.id, intent=item.intent, reason=item.reason, created_at=item.created_at, lead_id=item.lead_id,
        proposed=list(item.proposed), message_id=item.message_id,
        from_addr=message.from_addr if message else None, subject=message.subject if message else "",
        date=message.date if message else None, raw=message.raw if message else None,
        rule=classified.rule if classified else None, confidence=classified.confidence if classified else None,
        matched=list(classified.matched) if classified else [], labels=labels.get(item.id, []),
    ) for item, message, classified in rows]


@dataclass(frozen=True)
class RecentDecision:
    id: int
    intent: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    actions: list[tuple[str, str, str | None]]  # (kind, status, last error) of what approving queued


def recent_decisions(sessions: Sessions, limit: int = 5) -> list[RecentDecision]:
    """The latest decided items with how their actions went: feedback right after a click."""
    with sessions() as session:
        items = list(session.scalars(select(ReviewItem).where(ReviewItem.status != OPEN)
                                     .order_by(ReviewItem.decided_at.desc(), ReviewItem.id.desc()).limit(limit)))
        keys = [a["key"] for item in items if item.status == APPROVED for a in item.proposed]
        actions = {a.key: a for a in session.scalars(select(ActionRow).where(ActionRow.key.in_(keys)))}
    return [RecentDecision(item.id, item.intent, item.status, item.decided_by, item.decided_at, [
        (a["kind"], actions[a["key"]].status, actions[a["key"]].last_error)
        for a in item.proposed if item.status == APPROVED and a["key"] in actions]) for item in items]


def open_review_count(sessions: Sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == OPEN)) or 0


# -- the leads board and one lead -------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFacts:
    last_activity: dict[str, datetime]
    open_reviews: dict[str, int]
    letters: dict[str, frozenset[str]]


def board_facts(sessions: Sessions) -> BoardFacts:
    """Per lead id: its latest message, its open review items and the MANIAC-T letters with evidence."""
    with sessions() as session:
        activity = dict(session.execute(select(StoredMessage.lead_id, func.max(StoredMessage.date))
                                        .where(StoredMessage.lead_id.is_not(None))
                                        .group_by(StoredMessage.lead_id)).all())
        reviews = dict(session.execute(select(ReviewItem.lead_id, func.count()).where(ReviewItem.status == OPEN)
                                       .group_by(ReviewItem.lead_id)).all())
        letters: dict[str, set[str]] = {}
        for lead_id, letter in session.execute(select(ManiacRow.lead_id, ManiacRow.letter).distinct()):
            letters.setdefault(lead_id, set()).add(letter)
    return BoardFacts({k: v for k, v in activity.items() if v is not None},
                      {k: v for k, v in reviews.items() if k}, {k: frozenset(v) for k, v in letters.items()})


@dataclass(frozen=True)
class MessageLine:
    message_id: str
    date: datetime | None
    from_addr: str | None
    subject: str
    direction: str
    skipped_reason: str | None
    intent: str | None
    rule: str | None
    confidence: float | None


@dataclass
class ThreadView:
    id: str
    messages: list[MessageLine] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.messages[0].subject if self.messages else ""


@dataclass(frozen=True)
class ForwardLine:
    action_id: int
    key: str
    status: str
    message_id: str | None
    subject: str
    sent_to: str | None
    updated_at: datetime
    last_error: str | None


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    old_status: str | None
    new_status: str
    reason: str
    action_key: str | None = None
    approved_by: str | None = None  # the person whose review approval carried the move out


@dataclass(frozen=True)
class LeadFacts:
    threads: list[ThreadView]
    forwards: list[ForwardLine]
    evidence: list[EvidencePiece]
    history: list[HistoryLine]
    open_reviews: list[int]


def lead_facts(sessions: Sessions, lead_id: str) -> LeadFacts:
    """Everything recorded about one lead: threads with classified messages, forwards, MANIAC-T, history."""
    with sessions() as session:
        rows = session.execute(
            select(StoredMessage.message_id, StoredMessage.thread_id, StoredMessage.date, StoredMessage.from_addr,
                   StoredMessage.subject, StoredMessage.direction, StoredMessage.skipped_reason,
                   Classification.intent, Classification.rule, Classification.confidence)
            .outerjoin(Classification, Classification.message_pk == StoredMessage.id)
            .where(StoredMessage.lead_id == lead_id).order_by(StoredMessage.date, StoredMessage.id)).all()
        threads: dict[str, ThreadView] = {}
        for row in rows:
            threads.setdefault(row.thread_id, ThreadView(row.thread_id)).messages.append(MessageLine(
                row.message_id, row.date, row.from_addr, row.subject, row.direction, row.skipped_reason,
                row.intent, row.rule, row.confidence))
        message_ids = [row.message_id for row in rows]
        forwards = [_forward_line(action) for action in session.scalars(
            select(ActionRow).where(ActionRow.kind == "forward", ActionRow.message_id.in_(message_ids))
            .order_by(ActionRow.id))]
        evidence = [EvidencePiece(r.letter, r.rule, r.quote, r.detail, r.message_id, r.date)
                    for r in session.scalars(select(ManiacRow).where(ManiacRow.lead_id == lead_id)
                                             .order_by(ManiacRow.id))]
        history = [HistoryLine(r.at, r.old_status, r.new_status, r.reason, r.action_key) for r in session.scalars(
            select(LeadStatusChange).where(LeadStatusChange.lead_id == _int_or_none(lead_id))
            .order_by(LeadStatusChange.id))]
        if not history:  # a leads backend without its own history (Airtable): the moves the daemon made
            history = [HistoryLine(a.updated_at, a.payload.get("from"), a.payload.get("to", ""),
                                   f"rule {a.payload.get('rule')} on message <{a.message_id}>", a.key)
                       for a in session.scalars(select(ActionRow).where(
                           ActionRow.kind == "set_status", ActionRow.status == DONE,
                           ActionRow.message_id.in_(message_ids)).order_by(ActionRow.updated_at))]
        approvers = {action["key"]: item.decided_by for item in session.scalars(
            select(ReviewItem).where(ReviewItem.lead_id == lead_id, ReviewItem.status == APPROVED))
            for action in item.proposed}
        history = [replace(line, approved_by=approvers.get(line.action_key or "")) for line in history]
        reviews = list(session.scalars(select(ReviewItem.id).where(ReviewItem.lead_id == lead_id,
                                                                   ReviewItem.status == OPEN)))
    return LeadFacts(sorted(threads.values(), key=lambda t: _last_date(t)), forwards, evidence, history, reviews)


def _last_date(thread: ThreadView) -> datetime:
    return max((m.date for m in thread.messages if m.date), default=datetime.min)


def _int_or_none(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def _forward_line(action: ActionRow) -> ForwardLine:
    return ForwardLine(action.id, action.key, action.status, action.message_id, action.payload.get("subject", ""),
                       (action.result or {}).get("sent_to"), action.updated_at, action.last_error)


def forward_file(sessions: Sessions, action_id: int) -> str | None:
    """Where a done forward was written (the outbox file), or None."""
    with sessions() as session:
        action = session.get(ActionRow, action_id)
        if action is None or action.kind != "forward" or action.status != DONE:
            return None
        return (action.result or {}).get("sent_to")


# -- activity ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionLine:
    id: int
    kind: str
    key: str
    status: str
    attempts: int
    payload: dict[str, Any]
    result: dict[str, Any]
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class QuarantineLine:
    id: int
    source: str
    source_uid: int | None
    reason: str
    size: int
    created_at: datetime


@dataclass(frozen=True)
class DecisionLine:
    id: int
    intent: str
    status: str
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class ActivityFacts:
    since: datetime
    messages_read: int
    intents: Counter[str]
    done: list[ActionLine]
    reviews_decided: list[DecisionLine]
    quarantined: list[QuarantineLine]
    failed: list[ActionLine]


def activity(sessions: Sessions, since: datetime, limit: int = 200) -> ActivityFacts:
    """What the daemon did since `since`; quarantine and failures regardless of age (they wait for a person)."""
    with sessions() as session:
        read = session.scalar(select(func.count()).select_from(StoredMessage)
                              .where(StoredMessage.received_at >= since)) or 0
        intents = Counter(dict(session.execute(
            select(Classification.intent, func.count())
            .join(StoredMessage, StoredMessage.id == Classification.message_pk)
            .where(StoredMessage.received_at >= since).group_by(Classification.intent)).all()))
        done = _actions(session.scalars(select(ActionRow).where(
            ActionRow.status == DONE, ActionRow.updated_at >= since,
            ActionRow.kind.in_(("forward", "set_status", "create_lead", "send_invoice", "send_digest")))
            .order_by(ActionRow.updated_at.desc()).limit(limit)))
        decided = [DecisionLine(r.id, r.intent, r.status, r.decided_by, r.decided_at) for r in session.scalars(
            select(ReviewItem).where(ReviewItem.decided_at >= since).order_by(ReviewItem.decided_at.desc()))]
        quarantined = [QuarantineLine(q.id, q.source, q.source_uid, q.reason, q.size, q.created_at)
                       for q in session.scalars(select(Quarantined).order_by(Quarantined.id.desc()).limit(limit))]
        failed = _actions(session.scalars(select(ActionRow).where(ActionRow.status == FAILED)
                                          .order_by(ActionRow.updated_at.desc()).limit(limit)))
    return ActivityFacts(since, read, intents, done, decided, quarantined, failed)


def _actions(rows: Iterable[ActionRow]) -> list[ActionLine]:
    return [ActionLine(a.id, a.kind, a.key, a.status, a.attempts, dict(a.payload), dict(a.result or {}),
                       a.last_error, a.updated_at) for a in rows]


def retry_failed_action(sessions: Sessions, action_id: int) -> bool:
    """A permanently failed action gets a fresh set of attempts (after someone fixed the cause)."""
    now = utcnow()
    with sessions.begin() as session:
        changed = session.execute(update(ActionRow).where(ActionRow.id == action_id, ActionRow.status == FAILED)
                                  .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now))
    return bool(changed.rowcount)


# -- health and invoices -------------------------------------------------------------------------------


def message_count(sessions: Sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(StoredMessage)) or 0


def past_batches(sessions: Sessions) -> list[ActionLine]:
    """The invoice batches recorded so far, newest month first."""
    with sessions() as session:
        return _actions(session.scalars(select(ActionRow).where(ActionRow.kind == "send_invoice")
                                        .order_by(ActionRow.key.desc())))
