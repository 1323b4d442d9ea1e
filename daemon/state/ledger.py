"""The ledger of mail: messages, threads, classifications, quarantine and sync cursors, and the evaluator's memory.

A message (its classification, thread index rows, actions, review item and cursor) is recorded all or nothing:
alone in a transaction, or in a batch written with one statement per table and committed with its cursor (see
`Recorder`). What the pipeline looks up while recording (seen messages, the thread index, the threads' leads)
stays in the tables behind Bloom filters, so memory does not grow with the mailbox. The outbox rows it inserts
are those of `daemon.state.outbox`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import bindparam, case, delete, exists, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql.expression import Executable

from daemon.core.decide import Action
from daemon.core.evaluate import Evaluation, Evaluator
from daemon.core.item import RawItem
from daemon.core.maniac import EvidencePiece
from daemon.core.threads import ThreadEntry, ThreadIndex, thread_entry, thread_message_ids
from daemon.settings import Addresses
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
# Messages held for a batch's write keep their bytes (for the quarantine, should one fail): at most this many.
HELD_BYTES = 4_000_000
MAX_EVIDENCE_PER_MESSAGE = 50  # MANIAC-T quotes kept from one message: a checklist, not an archive


class Bloom:
    """A set that answers "surely not" or "maybe" in a fixed 1 MB (2**23 bits, 4 probes): one false "maybe" in
    about 200,000 lookups at 100,000 keys, one in 50 at a million. Only a "maybe" costs a database query, so
    checking whether a message, its bytes, its references or its subject are known stays cheap and memory stays
    flat as the mailbox grows."""

    BITS = 1 << 23
    MASK = BITS - 1

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    @classmethod
    def _probes(cls, key: str) -> tuple[int, int, int, int]:
        # Python's string hash (64-bit SipHash, kept by the string once computed) split into two halves, probes
        # a + i*b (Kirsch and Mitzenmacher): as good as four hashes. It differs between processes, which does not
        # matter: the filters live in memory only and are filled from the tables at every start.
        value = hash(key)
        a, b = value & 0xFFFFFFFF, (value >> 32) | 1
        mask = cls.MASK
        return a & mask, (a + b) & mask, (a + 2 * b) & mask, (a + 3 * b) & mask

    def add(self, key: str) -> None:
        bits = self._bits
        for probe in self._probes(key):
            bits[probe >> 3] |= 1 << (probe & 7)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        bits = self._bits
        return all(bits[probe >> 3] & (1 << (probe & 7)) for probe in self._probes(key))


@dataclass
class Held:
    """What the messages held for a batch's write add to the state, so lookups answer from memory instead of
    writing the batch early: their Message-IDs and digests, the thread index entries (the first thread named
    for a reference keeps it; a subject's threads in the order they began) and the threads' leads."""

    message_ids: set[str] = field(default_factory=set)
    digests: set[str] = field(default_factory=set)
    refs: dict[str, str] = field(default_factory=dict)
    subjects: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # key -> thread -> people
    leads: dict[str, str | None] = field(default_factory=dict)  # thread -> lead

    def add(self, bundle: Bundle) -> None:
        entry = bundle.entry
        self.message_ids.add(bundle.message["message_id"])
        self.digests.add(bundle.digest)
        for ref in entry.message_ids:
            self.refs.setdefault(ref, entry.thread_id)
        if entry.subject_key:
            self.subjects.setdefault(entry.subject_key, {}).setdefault(entry.thread_id, set()).update(entry.people)
        thread_id = entry.thread_id  # as the thread row's upsert will: the first lead known stays
        self.leads[thread_id] = self.leads.get(thread_id) or bundle.thread["lead_id"]

    def clear(self) -> None:
        for part in (self.message_ids, self.digests, self.refs, self.subjects, self.leads):
            part.clear()


@dataclass
class Known:
    """What the state holds, for lookups without a query: Bloom filters over everything recorded (loaded at
    start, then kept up as messages are recorded), what the messages not written yet hold, and the threads'
    leads read in the current transaction (which nobody else can change before it ends: cleared at commit)."""

    message_ids: Bloom = field(default_factory=Bloom)
    hashes: Bloom = field(default_factory=Bloom)
    refs: Bloom = field(default_factory=Bloom)
    subjects: Bloom = field(default_factory=Bloom)
    held: Held = field(default_factory=Held)
    thread_leads: dict[str, str | None] = field(default_factory=dict)

    def load(self, session: Session) -> None:
        for message_id, sha in session.execute(select(StoredMessage.message_id, StoredMessage.sha256)):
            self.message_ids.add(message_id)
            if sha:
                self.hashes.add(sha)
        for sha in session.scalars(select(Quarantined.sha256)):
            self.hashes.add(sha)
        for ref in session.scalars(select(ThreadRef.ref)):
            self.refs.add(ref)
        for key in session.scalars(select(ThreadSubject.subject_key).distinct()):
            self.subjects.add(key)

    def add(self, bundle: Bundle, *, held: bool) -> None:
        entry = bundle.entry
        self.message_ids.add(bundle.message["message_id"])
        self.hashes.add(bundle.digest)
        for ref in entry.message_ids:
            self.refs.add(ref)
        if entry.subject_key:
            self.subjects.add(entry.subject_key)
        if held:
            self.held.add(bundle)
        else:
            self.thread_leads.pop(entry.thread_id, None)

    def written(self) -> None:
        """The held messages are in the tables now (the threads' lead may have been set by them)."""
        self.held.clear()
        self.thread_leads.clear()


class Recorder:
    """Writes mail to the state. Outside a batch each message is a transaction of its own. Inside `batch()` the
    messages are held and written together, with one statement per table for all of them, every `size`
    messages, in the same transaction as their cursor, and committed then (and whenever the caller needs what
    was recorded to be durable, e.g. before carrying out actions, or a lookup needs one of them). A crash loses
    only the uncommitted messages, together with their cursor: they are read again, never skipped.

    Should writing them together fail, they are written one by one, each in a savepoint: a message that still
    fails goes to the quarantine (with its cursor) and `on_lost` is told; the others are recorded."""

    def __init__(self, sessions: sessionmaker[Session], size: int = 200) -> None:
        self.sessions = sessions
        self.size = max(1, size)
        self.known = Known()
        self.on_lost: Callable[[RawItem, str], None] = lambda item, reason: None
        self._session: Session | None = None
        self._held: list[Bundle] = []
        self._held_bytes = 0
        self._uncommitted = 0

    @contextmanager
    def batch(self) -> Iterator[None]:
        if self._session is not None:  # already batching: the outer batch commits
            yield
            return
        self._session = self.sessions()
        self._session.begin()
        try:
            yield
            self._write_held()
            self._session.commit()
        finally:
            self._session.close()
            self._session = None
            self._held, self._held_bytes = [], 0
            self.known.written()
            self._uncommitted = 0

    def record(self, bundle: Bundle) -> bool:
        """Record one message; False when another writer recorded it first (known at once outside a batch;
        inside, such a message is left to the other writer when the batch is written)."""
        self.known.add(bundle, held=self._session is not None)
        if self._session is None:
            with self.sessions.begin() as session:
                return write_one(session, bundle)
        self._held.append(bundle)
        self._held_bytes += len(bundle.item.data)
        if len(self._held) + self._uncommitted >= self.size:
            self.commit()
        elif self._held_bytes > HELD_BYTES:  # a few large messages: written now, committed with the batch
            self._write_held()
        return True

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Other writes (a cursor, a quarantined message, actions): a savepoint inside a batch (rolled back alone
        on error; the held messages are written in savepoints of their own), else a transaction."""
        if self._session is None:
            with self.sessions.begin() as session:
                yield session
            return
        with self._session.begin_nested():
            yield self._session
        self._uncommitted += 1
        if self._uncommitted >= self.size:
            self.commit()

    def commit(self) -> None:
        """Make what the batch recorded so far durable (and visible to other connections)."""
        if self._session is None:
            return
        self._write_held()
        # Also after lookups only: the transaction holds the write lock (BEGIN IMMEDIATE) from its first read,
        # and the caller may be about to write through another connection (the executor).
        self._session.commit()
        self.known.thread_leads.clear()  # other writers may change them before the next transaction reads
        self._session.begin()
        self._uncommitted = 0

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection that sees what was written (the held messages are looked up in `known.held`)."""
        if self._session is not None:
            yield self._session.connection()
            return
        with self.sessions() as session:
            yield session.connection()

    @property
    def batching(self) -> bool:
        return self._session is not None

    def _write_held(self) -> None:
        if not self._held:
            return
        assert self._session is not None
        session, held = self._session, self._held
        self._held, self._held_bytes = [], 0
        self.known.written()
        try:
            with session.begin_nested():
                write_bundles(session.connection(), held)
        except Exception as exc:  # one by one: only what fails again is lost to the quarantine
            log.warning("writing %d messages together failed (%s: %s); writing them one by one", len(held),
                        type(exc).__name__, exc)
            for bundle in held:
                self._write_alone(session, bundle)
        self._uncommitted += len(held)

    def _write_alone(self, session: Session, bundle: Bundle) -> None:
        try:
            with session.begin_nested():
                write_one(session, bundle)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            with session.begin_nested():
                quarantine(session, bundle.item, bundle.digest, reason, error_type=type(exc).__name__,
                           advance=bundle.advance)
            self.on_lost(bundle.item, reason)


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


class Lookup:
    """A read run straight on the driver's cursor: compiled once per SQL dialect, then only given its values.
    The lookups below run for nearly every message of a sync; SQLAlchemy's execution path around them cost
    several times the query itself."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def rows(self, connection: Connection, **values: Any) -> Any:
        """The driver's cursor over the result (fetchone, fetchmany, iteration)."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            built = self.statement.compile(dialect=dialect)
            order = tuple(built.positiontup or ()) if dialect.positional else None
            compiled = self._compiled[dialect.name] = (built.string, dict(built.params), order)
        sql, defaults, order = compiled
        parameters = {**defaults, **values}
        cursor = connection.connection.cursor()
        cursor.execute(sql, parameters if order is None else tuple(parameters[name] for name in order))
        return cursor

    def first(self, connection: Connection, **values: Any) -> Any:
        """The first column of the first row, None without one."""
        row = self.rows(connection, **values).fetchone()
        return row[0] if row is not None else None


class StoredMessageIds:
    """"Is this Message-ID recorded?": one held for the batch's write, else a Bloom filter, and the messages
    table (its unique index) on a "maybe"."""

    _query = Lookup(select(literal(1)).where(StoredMessage.message_id == bindparam("id")).limit(1))

    def __init__(self, reader: Reader, known: Known) -> None:
        self.reader, self.known = reader, known

    def __contains__(self, message_id: object) -> bool:
        if not isinstance(message_id, str) or message_id not in self.known.message_ids:
            return False
        if message_id in self.known.held.message_ids:
            return True
        with self.reader() as connection:
            return self._query.first(connection, id=message_id) is not None

    def add(self, message_id: str) -> None:
        self.known.message_ids.add(message_id)


class StoredDigests:
    """"Were these bytes seen?": a message held for the batch's write, a recorded one or one waiting in the
    quarantine (a Bloom filter, then their indexed sha256 columns). One taken out for `quarantine retry`
    (`discard`) counts only once recorded."""

    _recorded = Lookup(select(literal(1)).where(StoredMessage.sha256 == bindparam("sha")).limit(1))
    _anywhere = Lookup(union_all(
        select(literal(1)).where(exists().where(StoredMessage.sha256 == bindparam("sha"))),
        select(literal(1)).where(exists().where(Quarantined.sha256 == bindparam("sha")))))

    def __init__(self, reader: Reader, known: Known) -> None:
        self.reader, self.known = reader, known
        self._released: set[str] = set()  # a few at most: the entries being retried

    def __contains__(self, digest: object) -> bool:
        if not isinstance(digest, str) or digest not in self.known.hashes:
            return False
        if digest in self.known.held.digests:
            return True
        query = self._recorded if digest in self._released else self._anywhere
        with self.reader() as connection:
            return query.first(connection, sha=digest) is not None

    def add(self, digest: str) -> None:
        self._released.discard(digest)
        self.known.hashes.add(digest)

    def discard(self, digest: str) -> None:
        self._released.add(digest)


class StoredThreadIndex(ThreadIndex):
    """The thread index kept in `thread_refs` and `thread_subjects` (written with each message): memory stays
    flat however long the history. A query only when the Bloom filters say a reference or subject may be known;
    what the messages held for the batch's write add comes after what the tables hold, as it will be written."""

    _ref = Lookup(select(ThreadRef.thread_id).where(ThreadRef.ref == bindparam("ref")))
    # The threads begun under a subject, newest first (a thread's "" row is its first under the subject), each
    # with its people: one row per person, a thread's rows together.
    _begun, _people = aliased(ThreadSubject), aliased(ThreadSubject)
    _subject = Lookup(select(_begun.thread_id, _people.person)
                      .join(_people, (_people.subject_key == _begun.subject_key)
                            & (_people.thread_id == _begun.thread_id))
                      .where(_begun.subject_key == bindparam("key"), _begun.person == "")
                      .order_by(_begun.id.desc()))

    def __init__(self, reader: Reader, known: Known) -> None:
        super().__init__()
        self.reader, self.known = reader, known

    def threads_of(self, message_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        maybe = [message_id for message_id in message_ids if message_id in self.known.refs]
        if not maybe:
            return found
        held = self.known.held.refs
        with self.reader() as connection:
            for ref in maybe:
                thread_id = self._ref.first(connection, ref=ref) or held.get(ref)  # the tables' first
                if thread_id is not None:
                    found[ref] = thread_id
        return found

    def subject_thread(self, key: str, people: frozenset[str]) -> str | None:
        if key not in self.known.subjects:
            return None
        held = self.known.held.subjects.get(key)
        stored: dict[str, bool] = {}  # thread -> shares one of `people`
        with self.reader() as connection:
            rows = self._subject.rows(connection, key=key)
            try:
                for thread_id, person in rows:
                    if not held and person in people:  # the newest thread sharing one
                        return thread_id
                    stored[thread_id] = stored.get(thread_id, False) or person in people
            finally:
                rows.close()
        if not held:
            return None
        for thread_id, thread_people in reversed(held.items()):  # begun after every stored thread
            if thread_id not in stored and thread_people & people:
                return thread_id
        for thread_id, shares in stored.items():
            if shares or people & held.get(thread_id, set()):
                return thread_id
        return None

    def add(self, thread_id: str, message_ids: Iterable[str], subject: str, participants: Iterable[str],
            addresses: Addresses) -> None:
        """The message's rows are written with it (`bundle`); nothing is held here."""

    def remember(self, entry: ThreadEntry) -> None:
        """The message's rows are written with it; nothing is held here."""


class StoredThreadLeads(MutableMapping[str, str]):
    """Which lead each thread belongs to, as `threads.lead_id` holds it (written with each message; pointed at
    the real lead by the executor when a new one is created), instead of a dict growing with every thread.
    Inside a batch each thread's row is read once per transaction. Setting is a no-op: the message's own rows
    carry the link."""

    _query = Lookup(select(Thread.lead_id).where(Thread.id == bindparam("id")))

    def __init__(self, recorder: Recorder) -> None:
        self.recorder, self.known = recorder, recorder.known

    def __getitem__(self, thread_id: str) -> str:
        held = self.known.held.leads.get(thread_id)
        if held is not None:  # a held message names it; the thread row keeps the first lead it was given
            return held
        read = self.known.thread_leads
        if thread_id in read:
            lead = read[thread_id]
        elif thread_id not in self.known.refs:  # a thread's id is one of its first message's ids
            raise KeyError(thread_id)
        else:
            with self.recorder.reading() as connection:  # held messages without a lead cannot change it
                lead = self._query.first(connection, id=thread_id)
            if self.recorder.batching:
                read[thread_id] = lead
        if lead is None:
            raise KeyError(thread_id)
        return lead

    def __setitem__(self, thread_id: str, reference: str) -> None:
        """Recorded with the message (`record`)."""

    def __delitem__(self, thread_id: str) -> None:
        raise KeyError(thread_id)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class NoWaiting(dict[str, list[str]]):
    """The evaluator's threads waiting for a lead to be created, not kept: the executor points the stored
    threads at the new lead itself, and `StoredThreadLeads` reads them from there."""

    def setdefault(self, key: str, default: list[str] | None = None) -> list[str]:
        return []


@dataclass
class Seen:
    """What the state already holds, so a message is never processed twice."""

    message_ids: set[str] | StoredMessageIds
    hashes: DigestSet | StoredDigests


def load_memory(sessions: sessionmaker[Session], evaluator: Evaluator, recorder: Recorder | None = None) -> Seen:
    """Fill the evaluator with the threads' leads and MANIAC-T evidence recorded before. With the `recorder` of
    a pipeline that records, the thread index and the seen messages stay in the state's tables (behind Bloom
    filters); without (a dry run, `classify`), they are read into memory."""
    if recorder is not None:
        evaluator.index = StoredThreadIndex(recorder.reading, recorder.known)
        evaluator.thread_leads = StoredThreadLeads(recorder)
        evaluator.awaiting_lead = NoWaiting()
        seen = Seen(StoredMessageIds(recorder.reading, recorder.known),
                    StoredDigests(recorder.reading, recorder.known))
    else:
        seen = Seen(set(), DigestSet())
    with sessions() as session:
        if recorder is None:
            for thread in session.scalars(select(Thread).where(Thread.lead_id.is_not(None))):
                evaluator.link_thread(thread.id, thread.lead_id)
            _load_index(session, evaluator, seen)
        else:
            recorder.known.load(session)
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
        self.messages = dml.insert(StoredMessage.__table__).on_conflict_do_nothing(index_elements=["message_id"])
        self.message = self.messages.returning(StoredMessage.__table__.c.id)
        self.message_pks = select(StoredMessage.message_id, StoredMessage.id).where(
            StoredMessage.message_id.in_(bindparam("ids", expanding=True)))
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


@dataclass
class Bundle:
    """One message's rows: built when it is evaluated, written alone or with the other messages of a batch."""

    item: RawItem
    digest: str
    entry: ThreadEntry
    advance: bool
    message: dict[str, Any]
    thread: dict[str, Any]
    classification: dict[str, Any]  # without message_pk: known once the message row is written
    actions: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    review: dict[str, Any] | None


class _Conflict(Exception):
    """Another writer recorded one of the messages first."""


def bundle(item: RawItem, digest: str, evaluation: Evaluation, thread_lead: str | None,
           extra_actions: Iterable[Action], *, advance: bool = True) -> Bundle:
    """Message, thread and its index, classification, actions, evidence, review item, and whether the cursor
    moves past it."""
    message, decision, classification = evaluation.message, evaluation.decision, evaluation.classification
    now = utcnow()
    ids = thread_message_ids(message)
    entry = thread_entry(evaluation.thread_id, ids, message.subject, message.participants)
    actions = [*decision.actions, *extra_actions]
    # Evidence of a lead that a person has still to approve is kept under new:<key> and attached to the
    # lead when it is created; evidence with no lead at all has nowhere to go and is dropped.
    evidence_lead = evaluation.lead_reference
    pieces = {(p.letter, p.quote): p for p in evaluation.maniac} if evidence_lead else {}  # a repeat once
    return Bundle(
        item=item, digest=digest, entry=entry, advance=advance,
        message={
            "message_id": message.message_id, "thread_id": evaluation.thread_id, "source": item.source,
            "source_uid": item.uid, "sha256": digest, "subject": message.subject, "from_addr": message.from_addr,
            "date": naive_utc(message.date), "direction": evaluation.direction,
            "sender_role": evaluation.sender_role, "lead_id": thread_lead, "skipped_reason": evaluation.automated,
            "thread_ids": list(ids), "participants": sorted(message.participants),
            "raw": item.data if decision.needs_raw else None, "received_at": now},
        thread={"id": evaluation.thread_id, "subject_key": message.subject[:200], "lead_id": thread_lead,
                "created_at": now},
        classification={
            "intent": evaluation.intent, "rule": classification.rule, "rule_file": classification.rule_file,
            "confidence": classification.confidence, "matched": list(classification.matched),
            "facts": classification.facts.as_json(),
            "explanation": evaluation.automated or decision.note or classification.explanation},
        actions=action_rows(actions, message_id=message.message_id) if actions else [],
        evidence=[{"lead_id": evidence_lead, "letter": p.letter, "rule": p.rule, "quote": p.quote,
                   "detail": p.detail, "message_id": p.message_id, "date": naive_utc(p.date)}
                  for p in list(pieces.values())[:MAX_EVIDENCE_PER_MESSAGE]],
        review={"key": decision.review.key, "message_id": message.message_id, "thread_id": evaluation.thread_id,
                "lead_id": thread_lead, "intent": classification.intent, "reason": decision.review.reason,
                "proposed": [a.as_json() for a in decision.review.proposed], "created_at": now}
        if decision.review else None)


def write_one(session: Session, one: Bundle) -> bool:
    """One message in a savepoint of the caller's transaction: all or nothing. False when another writer
    recorded it first."""
    try:
        with session.begin_nested():
            write_bundles(session.connection(), [one])
    except _Conflict:
        return False
    return True


def write_bundles(connection: Connection, bundles: list[Bundle]) -> None:
    """Write the messages with one statement per table (executemany). Raises _Conflict when another writer
    recorded one of them first; the caller's savepoint then undoes the rest."""
    sql = _Statements.of(connection)
    if len(bundles) == 1:
        pk = connection.execute(sql.message, bundles[0].message).scalar()
        if pk is None:
            raise _Conflict(bundles[0].message["message_id"])
        pks = {bundles[0].message["message_id"]: pk}
    else:
        written = connection.execute(sql.messages, [b.message for b in bundles]).rowcount
        ids = [b.message["message_id"] for b in bundles]
        if connection.dialect.supports_sane_multi_rowcount and written != len(bundles):
            raise _Conflict(f"{len(bundles) - written} of {len(bundles)} messages")
        pks = {message_id: pk for message_id, pk in connection.execute(sql.message_pks, {"ids": ids})}
    connection.execute(sql.thread, [b.thread for b in bundles])
    connection.execute(sql.thread_ref, [{"ref": ref, "thread_id": b.entry.thread_id}
                                        for b in bundles for ref in b.entry.message_ids])
    # "" marks where a thread began under its subject.
    subjects = [{"subject_key": b.entry.subject_key, "thread_id": b.entry.thread_id, "person": person}
                for b in bundles if b.entry.subject_key for person in ("", *sorted(b.entry.people))]
    if subjects:
        connection.execute(sql.thread_subject, subjects)
    connection.execute(sql.classification, [{**b.classification, "message_pk": pks[b.message["message_id"]]}
                                            for b in bundles])
    for statement, rows in ((sql.action, [row for b in bundles for row in b.actions]),
                            (sql.evidence, [row for b in bundles for row in b.evidence]),
                            (sql.review, [b.review for b in bundles if b.review is not None])):
        if rows:
            connection.execute(statement, rows)
    now = utcnow()
    cursors = [{"source": b.item.source, "uidvalidity": b.item.uidvalidity, "last_uid": b.item.uid,
                "updated_at": now} for b in bundles if b.advance]
    if cursors:
        connection.execute(sql.cursor, cursors)


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
    row = insert(session, Quarantined).values(
        sha256=digest, source=item.source, source_uid=item.uid, reason=reason, size=len(item.data),
        raw=item.data, error_type=error_type, created_at=utcnow())
    # `excluded.raw`: the bytes (up to the size limit) are sent to the database once, not twice.
    session.execute(row.on_conflict_do_update(index_elements=["sha256"], set_={
        "reason": reason, "error_type": error_type, "raw": row.excluded.raw, "retried_at": utcnow()}))
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
