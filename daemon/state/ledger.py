"""The ledger of mail: messages, threads, classifications, quarantine and sync cursors, and the evaluator's memory.

Recording a message (its classification, actions, review item and cursor) is one transaction here; the outbox
rows it inserts are those of `daemon.state.outbox`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Protocol

from sqlalchemy import bindparam, case, delete, exists, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.decide import Action
from daemon.core.evaluate import Evaluation, Evaluator
from daemon.core.item import RawItem
from daemon.core.maniac import EvidencePiece
from daemon.core.threads import ThreadEntry, ThreadIndex, thread_entry, thread_message_ids
from daemon.state.models import (
    PENDING,
    ActionRow,
    Classification,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    Thread,
    ThreadRef,
    ThreadSubject,
    naive_utc,
    utcnow,
)
from daemon.state.outbox import action_rows
from daemon.state.upsert import insert

log = logging.getLogger("daemon.state.ledger")
MAX_EVIDENCE_PER_MESSAGE = 50  # MANIAC-T quotes kept from one message: a checklist, not an archive


class Recorder:
    """Transactions for recording mail. Outside a batch each message is a transaction of its own; inside
    `batch()` messages share one transaction, each in a savepoint of its own, committed every `size` messages
    (and whenever the caller needs what was recorded to be durable, e.g. before carrying out actions). A crash
    loses only the uncommitted messages, together with their cursor: they are read again, never skipped."""

    def __init__(self, sessions: sessionmaker[Session], size: int = 200) -> None:
        self.sessions = sessions
        self.size = max(1, size)
        self._session: Session | None = None
        self._pending = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        if self._session is not None:  # already batching: the outer batch commits
            yield
            return
        self._session = self.sessions()
        self._session.begin()
        try:
            yield
            self._session.commit()
        finally:
            self._session.close()
            self._session = None
            self._pending = 0

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One message's writes: a savepoint inside a batch (rolled back alone on error), else a transaction."""
        if self._session is None:
            with self.sessions.begin() as session:
                yield session
            return
        with self._session.begin_nested():
            yield self._session
        self._pending += 1
        if self._pending >= self.size:
            self.commit()

    def commit(self) -> None:
        """Make what the batch recorded so far durable (and visible to other connections)."""
        if self._session is not None and self._pending:
            self._session.commit()
            self._session.begin()
            self._pending = 0

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection that sees what was recorded, including the batch's messages not committed yet."""
        if self._session is not None:
            yield self._session.connection()
            return
        with self.sessions() as session:
            yield session.connection()


class Reader(Protocol):
    def __call__(self) -> AbstractContextManager[Connection]: ...


class DigestSet:
    """SHA-256 hex digests held as their first 16 bytes: a third of the memory of the hex strings, for a
    mailbox of years; a collision of 128 bits is not a practical concern."""

    def __init__(self) -> None:
        self._digests: set[bytes] = set()

    def add(self, digest: str) -> None:
        self._digests.add(bytes.fromhex(digest)[:16])

    def update(self, digests: Iterable[str]) -> None:
        for digest in digests:
            self.add(digest)

    def discard(self, digest: str) -> None:
        self._digests.discard(bytes.fromhex(digest)[:16])

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, str) and bytes.fromhex(digest)[:16] in self._digests

    def __len__(self) -> int:
        return len(self._digests)


class StoredMessageIds:
    """"Is this Message-ID recorded?", asked of the messages table (its unique index) instead of a set in memory."""

    _query = select(literal(1)).where(StoredMessage.message_id == bindparam("id")).limit(1)

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def __contains__(self, message_id: object) -> bool:
        with self.reader() as connection:
            return connection.execute(self._query, {"id": message_id}).first() is not None

    def add(self, message_id: str) -> None:
        """Recorded already: the row is what remembers it."""


class StoredDigests:
    """"Were these bytes seen?": a recorded message or one waiting in the quarantine, asked of their indexed
    sha256 columns. A quarantined message taken out for `quarantine retry` (`discard`) counts only once recorded."""

    _recorded = select(literal(1)).where(StoredMessage.sha256 == bindparam("sha")).limit(1)
    _anywhere = union_all(select(literal(1)).where(exists().where(StoredMessage.sha256 == bindparam("sha"))),
                          select(literal(1)).where(exists().where(Quarantined.sha256 == bindparam("sha"))))

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._released: set[str] = set()  # a few at most: the entries being retried

    def __contains__(self, digest: object) -> bool:
        query = self._recorded if digest in self._released else self._anywhere
        with self.reader() as connection:
            return connection.execute(query, {"sha": digest}).first() is not None

    def add(self, digest: str) -> None:
        self._released.discard(digest)

    def discard(self, digest: str) -> None:
        self._released.add(digest)


class StoredThreadIndex(ThreadIndex):
    """The thread index kept in `thread_refs` and `thread_subjects` (written by `record` with each message):
    memory stays flat however long the history. One indexed query per message, two when the subject decides."""

    def __init__(self, reader: Reader) -> None:
        super().__init__()
        self.reader = reader
        self._refs = select(ThreadRef.ref, ThreadRef.thread_id).where(
            ThreadRef.ref.in_(bindparam("refs", expanding=True)))
        shares = func.sum(case((ThreadSubject.person.in_(bindparam("people", expanding=True)), 1), else_=0))
        self._subject = (select(ThreadSubject.thread_id).where(ThreadSubject.subject_key == bindparam("key"))
                         .group_by(ThreadSubject.thread_id).having(shares > 0)
                         .order_by(func.min(ThreadSubject.id).desc()).limit(1))

    def threads_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        if not message_ids:
            return {}
        with self.reader() as connection:
            rows = connection.execute(self._refs, {"refs": list(message_ids)})
            return {ref: thread_id for ref, thread_id in rows}

    def subject_thread(self, key: str, people: frozenset[str]) -> str | None:
        with self.reader() as connection:
            return connection.execute(self._subject, {"key": key, "people": sorted(people)}).scalar()

    def remember(self, entry: ThreadEntry) -> None:
        """`record` wrote the message's rows in its transaction; nothing is held here."""


@dataclass
class Seen:
    """What the state already holds, so a message is never processed twice."""

    message_ids: set[str] | StoredMessageIds
    hashes: DigestSet | StoredDigests


def load_memory(sessions: sessionmaker[Session], evaluator: Evaluator, reader: Reader | None = None) -> Seen:
    """Fill the evaluator with the threads' leads and MANIAC-T evidence recorded before. With `reader` (a
    pipeline that records) the thread index and the seen messages stay in the state's tables, looked up through
    `reader`; without (a dry run), they are read into memory."""
    if reader is not None:
        evaluator.index = StoredThreadIndex(reader)
        seen = Seen(StoredMessageIds(reader), StoredDigests(reader))
    else:
        seen = Seen(set(), DigestSet())
    with sessions() as session:
        for thread in session.scalars(select(Thread).where(Thread.lead_id.is_not(None))):
            evaluator.link_thread(thread.id, thread.lead_id)
        if reader is None:
            _load_index(session, evaluator, seen)
        pending = select(ActionRow.key, ActionRow.payload).where(ActionRow.kind == "create_lead",
                                                                 ActionRow.status == PENDING)
        for key, payload in session.execute(pending):
            evaluator.provisional_lead(key, payload)
        forwarded = select(StoredMessage.lead_id, StoredMessage.from_addr, StoredMessage.date).join(
            ActionRow, ActionRow.message_id == StoredMessage.message_id).where(ActionRow.kind == "forward")
        for lead_id, sender, when in session.execute(forwarded):
            evaluator.forward_log.add(lead_id, sender, when.replace(tzinfo=UTC) if when else None)
        for row in session.scalars(select(ManiacRow).order_by(ManiacRow.id)):
            evaluator.maniac_pieces.setdefault(row.lead_id, []).append(evidence_piece(row))
    return seen


def _load_index(session: Session, evaluator: Evaluator, seen: Seen) -> None:
    assert isinstance(seen.message_ids, set) and isinstance(seen.hashes, DigestSet)
    addresses = evaluator.settings.addresses
    rows = session.execute(select(StoredMessage.message_id, StoredMessage.thread_id, StoredMessage.subject,
                                  StoredMessage.thread_ids, StoredMessage.participants, StoredMessage.sha256)
                           .order_by(StoredMessage.id))
    for message_id, thread_id, subject, ids, participants, sha in rows:
        seen.message_ids.add(message_id)
        if sha:
            seen.hashes.add(sha)
        evaluator.index.add(thread_id, ids or [message_id], subject, participants or [], addresses)
    # A quarantined message waits for `quarantine retry`, not for the next pass over the source.
    seen.hashes.update(session.scalars(select(Quarantined.sha256)))


def evidence_piece(row: ManiacRow) -> EvidencePiece:
    return EvidencePiece(row.letter, row.rule, row.quote, row.detail, row.message_id, row.date)


class _Statements:
    """The ledger's statements, built once per SQL dialect and then only given their values: building an
    INSERT per message cost more than executing it."""

    def __init__(self, dialect: str) -> None:
        dml = postgresql if dialect == "postgresql" else sqlite
        self.message = dml.insert(StoredMessage.__table__).on_conflict_do_nothing(
            index_elements=["message_id"]).returning(StoredMessage.__table__.c.id)
        thread = dml.insert(Thread.__table__)
        # A thread that started without a lead (internal, or a lead not yet created) takes the first one known.
        self.thread = thread.on_conflict_do_update(index_elements=["id"], set_={
            "lead_id": func.coalesce(Thread.__table__.c.lead_id, thread.excluded.lead_id)})
        self.classification = dml.insert(Classification.__table__)
        self.thread_ref = dml.insert(ThreadRef.__table__).on_conflict_do_nothing(index_elements=["ref"])
        self.thread_subject = dml.insert(ThreadSubject.__table__).on_conflict_do_nothing(
            index_elements=["subject_key", "thread_id", "person"])
        self.action = dml.insert(ActionRow.__table__).on_conflict_do_nothing(index_elements=["key"])
        self.evidence = dml.insert(ManiacRow.__table__).on_conflict_do_nothing(
            index_elements=["lead_id", "letter", "quote"])
        self.review = dml.insert(ReviewItem.__table__).on_conflict_do_nothing(index_elements=["key"])
        cursor = dml.insert(SyncCursor.__table__)
        table = SyncCursor.__table__.c
        larger = func.greatest if dialect == "postgresql" else func.max
        same_validity = table.uidvalidity.is_not_distinct_from(cursor.excluded.uidvalidity)
        # A new UIDVALIDITY makes the old UIDs meaningless, so the resync starts the count again.
        self.cursor = cursor.on_conflict_do_update(index_elements=["source"], set_={
            "last_uid": case((same_validity, larger(table.last_uid, cursor.excluded.last_uid)),
                             else_=cursor.excluded.last_uid),
            "uidvalidity": cursor.excluded.uidvalidity,
            "updated_at": cursor.excluded.updated_at,
        })

    _built: ClassVar[dict[str, _Statements]] = {}

    @classmethod
    def of(cls, connection: Connection) -> _Statements:
        name = connection.dialect.name
        if name not in cls._built:
            cls._built[name] = cls(name)
        return cls._built[name]


def record(session: Session, item: RawItem, digest: str, evaluation: Evaluation,
           thread_lead: str | None, extra_actions: Iterable[Action], *, advance: bool = True) -> bool:
    """Message, classification, actions, evidence, review item and cursor, in the caller's transaction (one
    message's savepoint, see `Recorder`): all or nothing. False when another writer recorded the message first."""
    message, decision, classification = evaluation.message, evaluation.decision, evaluation.classification
    connection = session.connection()
    sql = _Statements.of(connection)
    now = utcnow()
    message_pk = connection.execute(sql.message, {
        "message_id": message.message_id, "thread_id": evaluation.thread_id, "source": item.source,
        "source_uid": item.uid, "sha256": digest, "subject": message.subject, "from_addr": message.from_addr,
        "date": naive_utc(message.date), "direction": evaluation.direction,
        "sender_role": evaluation.sender_role, "lead_id": thread_lead, "skipped_reason": evaluation.automated,
        "thread_ids": list(thread_message_ids(message)), "participants": sorted(message.participants),
        "raw": item.data if decision.needs_raw else None, "received_at": now,
    }).scalar()
    if message_pk is None:
        return False
    connection.execute(sql.thread, {"id": evaluation.thread_id, "subject_key": message.subject[:200],
                                    "lead_id": thread_lead, "created_at": now})
    entry = thread_entry(evaluation.thread_id, thread_message_ids(message), message.subject, message.participants)
    connection.execute(sql.thread_ref, [{"ref": ref, "thread_id": entry.thread_id} for ref in entry.message_ids])
    if entry.subject_key:  # "" marks where the thread began under this subject
        connection.execute(sql.thread_subject, [
            {"subject_key": entry.subject_key, "thread_id": entry.thread_id, "person": person}
            for person in ("", *sorted(entry.people))])
    connection.execute(sql.classification, {
        "message_pk": message_pk, "intent": evaluation.intent,
        "rule": classification.rule, "rule_file": classification.rule_file,
        "confidence": classification.confidence, "matched": list(classification.matched),
        "facts": classification.facts.as_json(),
        "explanation": evaluation.automated or decision.note or classification.explanation,
    })
    actions = [*decision.actions, *extra_actions]
    if actions:
        connection.execute(sql.action, action_rows(actions, message_id=message.message_id))
    # Evidence of a lead that a person has still to approve is kept under new:<key> and attached to the
    # lead when it is created; evidence with no lead at all has nowhere to go and is dropped.
    evidence_lead = evaluation.lead_reference
    pieces = {(p.letter, p.quote): p for p in evaluation.maniac} if evidence_lead else {}
    if pieces:  # one statement for all of them; a text repeating a sentence stores it once
        connection.execute(sql.evidence, [
            {"lead_id": evidence_lead, "letter": p.letter, "rule": p.rule, "quote": p.quote, "detail": p.detail,
             "message_id": p.message_id, "date": naive_utc(p.date)}
            for p in list(pieces.values())[:MAX_EVIDENCE_PER_MESSAGE]])
    if decision.review:
        connection.execute(sql.review, {
            "key": decision.review.key, "message_id": message.message_id, "thread_id": evaluation.thread_id,
            "lead_id": thread_lead, "intent": classification.intent, "reason": decision.review.reason,
            "proposed": [a.as_json() for a in decision.review.proposed], "created_at": now,
        })
    if advance:
        advance_cursor(session, item)
    return True


def advance_cursor(session: Session, item: RawItem) -> None:
    connection = session.connection()
    connection.execute(_Statements.of(connection).cursor, {
        "source": item.source, "uidvalidity": item.uidvalidity, "last_uid": item.uid, "updated_at": utcnow()})


def cursor(sessions: sessionmaker[Session], source: str) -> tuple[int | None, int]:
    """(UIDVALIDITY, highest UID processed) for `source`; (None, 0) before the first message."""
    with sessions() as session:
        row = session.get(SyncCursor, source)
        return (row.uidvalidity, row.last_uid) if row else (None, 0)


def quarantine(session: Session, item: RawItem, digest: str, reason: str, *,
               error_type: str | None = None, advance: bool = True) -> None:
    """Keep the raw bytes and why they could not be processed; the cursor moves past them."""
    session.execute(insert(session, Quarantined).values(
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
