"""The ledger of mail: messages, threads, classifications, quarantine and sync cursors, and the evaluator's memory.

Recording a message (its classification, actions, review item and cursor) is one transaction here; the outbox
rows it inserts are those of `daemon.state.outbox`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.decide import Action
from daemon.core.evaluate import Evaluation, Evaluator
from daemon.core.item import RawItem
from daemon.core.maniac import EvidencePiece
from daemon.core.threads import thread_message_ids
from daemon.state.models import (
    Classification,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    Thread,
    naive_utc,
    utcnow,
)
from daemon.state.outbox import enqueue

log = logging.getLogger("daemon.state.ledger")


@dataclass
class Seen:
    """What the state already holds, so a message is never processed twice."""

    message_ids: set[str]
    hashes: set[str]


def load_memory(sessions: sessionmaker[Session], evaluator: Evaluator) -> Seen:
    """Fill the evaluator with the threads, their leads and MANIAC-T evidence recorded before."""
    addresses = evaluator.settings.addresses
    seen = Seen(set(), set())
    with sessions() as session:
        for thread in session.scalars(select(Thread)):
            if thread.lead_id:
                evaluator.link_thread(thread.id, thread.lead_id)
        rows = session.execute(select(StoredMessage.message_id, StoredMessage.thread_id, StoredMessage.subject,
                                      StoredMessage.thread_ids, StoredMessage.participants, StoredMessage.sha256))
        for message_id, thread_id, subject, ids, participants, sha in rows:
            seen.message_ids.add(message_id)
            if sha:
                seen.hashes.add(sha)
            evaluator.index.add(thread_id, ids or [message_id], subject, participants or [], addresses)
        # A quarantined message waits for `quarantine retry`, not for the next pass over the source.
        seen.hashes.update(session.scalars(select(Quarantined.sha256)))
        for row in session.scalars(select(ManiacRow).order_by(ManiacRow.id)):
            evaluator.maniac_pieces.setdefault(row.lead_id, []).append(evidence_piece(row))
    return seen


def evidence_piece(row: ManiacRow) -> EvidencePiece:
    return EvidencePiece(row.letter, row.rule, row.quote, row.detail, row.message_id, row.date)


def record(sessions: sessionmaker[Session], item: RawItem, digest: str, evaluation: Evaluation,
           thread_lead: str | None, extra_actions: Iterable[Action], *, advance: bool = True) -> bool:
    """Message, classification, actions, evidence, review item and cursor: one transaction, all or nothing.
    False when another writer recorded the message first."""
    message, decision, classification = evaluation.message, evaluation.decision, evaluation.classification
    with sessions.begin() as session:
        message_pk = session.scalar(insert(StoredMessage).values(
            message_id=message.message_id, thread_id=evaluation.thread_id, source=item.source,
            source_uid=item.uid, sha256=digest, subject=message.subject, from_addr=message.from_addr,
            date=naive_utc(message.date), direction=evaluation.direction,
            sender_role=evaluation.sender_role, lead_id=thread_lead, skipped_reason=evaluation.automated,
            thread_ids=list(thread_message_ids(message)), participants=sorted(message.participants),
            raw=item.data if decision.needs_raw else None, received_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["message_id"]).returning(StoredMessage.id))
        if message_pk is None:
            return False
        thread = insert(Thread).values(id=evaluation.thread_id, subject_key=message.subject[:200],
                                       lead_id=thread_lead, created_at=utcnow())
        # A thread that started without a lead (internal, or a lead not yet created) takes the first one known.
        session.execute(thread.on_conflict_do_update(
            index_elements=["id"], set_={"lead_id": func.coalesce(Thread.lead_id, thread.excluded.lead_id)}))
        session.execute(insert(Classification).values(
            message_pk=message_pk, intent=evaluation.intent,
            rule=classification.rule, rule_file=classification.rule_file,
            confidence=classification.confidence, matched=list(classification.matched),
            facts=classification.facts.as_json(),
            explanation=evaluation.automated or decision.note or classification.explanation,
        ))
        enqueue(session, decision.actions, message_id=message.message_id)
        enqueue(session, extra_actions, message_id=message.message_id)
        # Evidence of a lead that a person has still to approve is kept under new:<key> and attached to the
        # lead when it is created; evidence with no lead at all has nowhere to go and is dropped.
        evidence_lead = evaluation.lead_reference
        for piece in evaluation.maniac if evidence_lead else ():
            session.execute(insert(ManiacRow).values(
                lead_id=evidence_lead, letter=piece.letter, rule=piece.rule, quote=piece.quote,
                detail=piece.detail, message_id=piece.message_id, date=naive_utc(piece.date),
            ).on_conflict_do_nothing(index_elements=["lead_id", "letter", "quote"]))
        if decision.review:
            session.execute(insert(ReviewItem).values(
                key=decision.review.key, message_id=message.message_id, thread_id=evaluation.thread_id,
                lead_id=thread_lead, intent=classification.intent, reason=decision.review.reason,
                proposed=[a.as_json() for a in decision.review.proposed], created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["key"]))
        if advance:
            advance_cursor(session, item)
    return True


def advance_cursor(session: Session, item: RawItem) -> None:
    """One upsert: a new UIDVALIDITY makes the old UIDs meaningless, so the resync starts the count again."""
    now = utcnow()
    upsert = insert(SyncCursor).values(source=item.source, uidvalidity=item.uidvalidity, last_uid=item.uid,
                                       updated_at=now)
    same_validity = SyncCursor.uidvalidity.is_not_distinct_from(upsert.excluded.uidvalidity)
    session.execute(upsert.on_conflict_do_update(index_elements=["source"], set_={
        "last_uid": case((same_validity, func.max(SyncCursor.last_uid, upsert.excluded.last_uid)),
                         else_=upsert.excluded.last_uid),
        "uidvalidity": upsert.excluded.uidvalidity,
        "updated_at": now,
    }))


def advance_cursor_only(sessions: sessionmaker[Session], item: RawItem) -> None:
    with sessions.begin() as session:
        advance_cursor(session, item)


def cursor(sessions: sessionmaker[Session], source: str) -> tuple[int | None, int]:
    """(UIDVALIDITY, highest UID processed) for `source`; (None, 0) before the first message."""
    with sessions() as session:
        row = session.get(SyncCursor, source)
        return (row.uidvalidity, row.last_uid) if row else (None, 0)


def quarantine(sessions: sessionmaker[Session], item: RawItem, digest: str, reason: str, *,
               error_type: str | None = None, advance: bool = True) -> None:
    """Keep the raw bytes and why they could not be processed; the cursor moves past them."""
    with sessions.begin() as session:
        session.execute(insert(Quarantined).values(
            sha256=digest, source=item.source, source_uid=item.uid, reason=reason, size=len(item.data),
            raw=item.data, error_type=error_type, created_at=utcnow(),
        ).on_conflict_do_update(index_elements=["sha256"], set_={
            "reason": reason, "error_type": error_type, "raw": item.data, "retried_at": utcnow()}))
        if advance:
            advance_cursor(session, item)


@dataclass(frozen=True)
class QuarantineEntry:
    id: int
    source: str
    source_uid: int | None
    reason: str
    error_type: str | None
    size: int
    created_at: datetime
    retried_at: datetime | None
    raw: bytes | None = None


def _entry(row: Quarantined, *, with_raw: bool = False) -> QuarantineEntry:
    return QuarantineEntry(row.id, row.source, row.source_uid, row.reason, row.error_type, row.size,
                           row.created_at, row.retried_at, row.raw if with_raw else None)


def quarantined(sessions: sessionmaker[Session]) -> list[QuarantineEntry]:
    with sessions() as session:
        return [_entry(row) for row in session.scalars(select(Quarantined).order_by(Quarantined.id))]


def quarantined_entry(sessions: sessionmaker[Session], entry_id: int) -> QuarantineEntry | None:
    with sessions() as session:
        row = session.get(Quarantined, entry_id)
        return _entry(row, with_raw=True) if row is not None else None


def release(sessions: sessionmaker[Session], entry_id: int) -> None:
    """A retried message leaves the quarantine; if it fails again it comes back with the new reason."""
    with sessions.begin() as session:
        session.execute(delete(Quarantined).where(Quarantined.id == entry_id))
