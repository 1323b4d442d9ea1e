"""State database: SQLAlchemy models, and sessions on an engine that daemon.state.schema opened and migrated."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from daemon.state.guard import check_state
from daemon.state.schema import open_engine

PENDING, DONE, FAILED = "pending", "done", "failed"
# A send that a crash interrupted: it may have reached the server. Resent only if its copy does not come back.
UNCERTAIN = "uncertain"
# Stopped by a person (`partnerships actions cancel`): never carried out, kept as a record.
CANCELLED = "cancelled"
OPEN, APPROVED, REJECTED = "open", "approved", "rejected"

# What the edges hold: a factory of sessions on the state database (its SQL stays in daemon.state).
Sessions: TypeAlias = sessionmaker[Session]


def utcnow() -> datetime:
    """Naive UTC: SQLite keeps no zone, so every stored time is UTC by convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class SyncCursor(Base):
    """How far one source folder has been processed; advanced in the same transaction as its messages."""

    __tablename__ = "sync_cursors"
    source: Mapped[str] = mapped_column(String, primary_key=True)
    uidvalidity: Mapped[int | None] = mapped_column(Integer)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Thread(Base):
    __tablename__ = "threads"
    id: Mapped[str] = mapped_column(String, primary_key=True)  # root Message-ID
    subject_key: Mapped[str] = mapped_column(String, default="")
    lead_id: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class ThreadRef(Base):
    """The thread index by Message-ID: every id a recorded message has or refers to, and its thread (the first
    thread that named it keeps it). Looked up per message, so no index has to be held in memory."""

    __tablename__ = "thread_refs"
    ref: Mapped[str] = mapped_column(String, primary_key=True)
    thread_id: Mapped[str] = mapped_column(String)


class ThreadSubject(Base):
    """The thread index by subject: who took part in each thread under a normalised subject ("" marks where a
    thread began under it, so the most recent thread is found first)."""

    __tablename__ = "thread_subjects"
    __table_args__ = (UniqueConstraint("subject_key", "thread_id", "person"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String)
    thread_id: Mapped[str] = mapped_column(String)
    person: Mapped[str] = mapped_column(String)


class StoredMessage(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String, unique=True)
    thread_id: Mapped[str] = mapped_column(String, index=True)
    source: Mapped[str] = mapped_column(String)
    source_uid: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String, index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    from_addr: Mapped[str | None] = mapped_column(String)
    date: Mapped[datetime | None] = mapped_column(DateTime())
    direction: Mapped[str] = mapped_column(String, default="inbound")
    sender_role: Mapped[str] = mapped_column(String, default="unknown")
    lead_id: Mapped[str | None] = mapped_column(String)
    skipped_reason: Mapped[str | None] = mapped_column(String)
    # Kept so the thread index can be rebuilt at start-up without re-reading the mailbox.
    thread_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    participants: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The original bytes, kept only when an action (forward, review) may need to attach them.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Classification(Base):
    __tablename__ = "classifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    intent: Mapped[str] = mapped_column(String)
    rule: Mapped[str | None] = mapped_column(String)
    rule_file: Mapped[str | None] = mapped_column(String)
    confidence: Mapped[float] = mapped_column(Float)
    matched: Mapped[list[Any]] = mapped_column(JSON, default=list)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    explanation: Mapped[str] = mapped_column(Text, default="")


class ActionRow(Base):
    """The outbox: every side effect, keyed so that it is carried out at most once."""

    __tablename__ = "actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String)
    message_id: Mapped[str | None] = mapped_column(String, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String, default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    # Set while a message is handed to the mail server, by the process `sending_by`: survives a crash.
    sending_since: Mapped[datetime | None] = mapped_column(DateTime())
    sending_by: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class ReviewItem(Base):
    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    message_id: Mapped[str] = mapped_column(String, index=True)
    thread_id: Mapped[str | None] = mapped_column(String)
    lead_id: Mapped[str | None] = mapped_column(String)
    intent: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(Text)
    proposed: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String, default=OPEN, index=True)
    decided_by: Mapped[str | None] = mapped_column(String)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime())
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class ReviewDecision(Base):
    """Who decided a review item, how, when and why (`review approve|reject --by NAME --comment TEXT`)."""

    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    decision: Mapped[str] = mapped_column(String)
    decided_by: Mapped[str] = mapped_column(String)
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Quarantined(Base):
    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String, unique=True)
    source: Mapped[str] = mapped_column(String)
    source_uid: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    # The bytes as received, so `quarantine retry` can run them through the pipeline again after a fix.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    error_type: Mapped[str | None] = mapped_column(String)  # the exception's type when processing raised
    retried_at: Mapped[datetime | None] = mapped_column(DateTime())
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    # Schema revision 0002: what a retry of the quarantined message needs.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    error_type: Mapped[str | None] = mapped_column(String)
    retried_at: Mapped[datetime | None] = mapped_column(DateTime())


class Evidence(Base):
    """What invoicing needs per lead: confirmations (tier, price), affirmations (month), contracts."""

    __tablename__ = "evidence"
    __table_args__ = (UniqueConstraint("kind", "message_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(String, index=True)
    kind: Mapped[str] = mapped_column(String)
    message_id: Mapped[str] = mapped_column(String)
    date: Mapped[datetime | None] = mapped_column(DateTime())
    month: Mapped[str | None] = mapped_column(String)
    month_stated: Mapped[bool] = mapped_column(Boolean, default=True)
    tier: Mapped[str | None] = mapped_column(String)
    price: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class LeadRow(Base):
    """Leads of the embedded `sqlite` backend, with the columns of the team's leads table."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    contact_emails: Mapped[list[Any]] = mapped_column(JSON, default=list)
    domain: Mapped[str | None] = mapped_column(String, index=True)
    service_tier: Mapped[str | None] = mapped_column(String)
    monthly_fee: Mapped[str | None] = mapped_column(String)
    cloud_billing_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    service_start: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str] = mapped_column(Text, default="")
    # The idempotency key of the action that created it, so a retried create finds its own lead.
    created_by: Mapped[str | None] = mapped_column(String, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class LeadStatusChange(Base):
    __tablename__ = "lead_status_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    old_status: Mapped[str | None] = mapped_column(String)
    new_status: Mapped[str] = mapped_column(String)
    reason: Mapped[str] = mapped_column(Text, default="")
    action_key: Mapped[str | None] = mapped_column(String, unique=True)
    at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class ManiacRow(Base):
    """One piece of MANIAC-T evidence of a lead: a quoted sentence of one of its messages."""

    __tablename__ = "maniac_evidence"
    __table_args__ = (UniqueConstraint("lead_id", "letter", "quote"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(String, index=True)
    letter: Mapped[str] = mapped_column(String)
    rule: Mapped[str] = mapped_column(String)
    quote: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String)
    date: Mapped[datetime | None] = mapped_column(DateTime())


class ActiveHub(Base):
    """The sqlite backend's Active Hubs table: one record per community whose service started."""

    __tablename__ = "active_hubs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    name: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class Meta(Base):
    """Small facts about this installation, e.g. the month of the first run (invoice catch-up starts there)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(String)


def set_meta(sessions: sessionmaker[Session], values: dict[str, str]) -> None:
    with sessions.begin() as session:
        for key, value in values.items():
            session.merge(Meta(key=key, value=value))


def get_meta(sessions: sessionmaker[Session], prefix: str = "") -> dict[str, str]:
    with sessions() as session:
        rows = session.query(Meta).filter(Meta.key.startswith(prefix)).order_by(Meta.key)
        return {row.key: row.value for row in rows}


def forget_meta(sessions: sessionmaker[Session], keys: list[str]) -> None:
    with sessions.begin() as session:
        for key in keys:
            stored = session.get(Meta, key)
            if stored is not None:
                session.delete(stored)


def remember_meta(sessions: sessionmaker[Session], key: str, value: str) -> str:
    """The value stored under `key`, storing `value` first if there is none (the first writer wins)."""
    with sessions.begin() as session:
        stored = session.get(Meta, key)
        if stored is None:
            session.add(Meta(key=key, value=value))
            return value
        return stored.value


def make_engine(target: Path | str) -> Engine:
    """The state's engine (a SQLite file, or a database URL), its schema upgraded to this build's first."""
    return open_engine(target)


def existing_sessions(target: Path | str) -> sessionmaker[Session] | None:
    """Sessions on the state if it holds a database, else None; never creates one (read commands). A database
    URL names a server's database, which exists."""
    if _sqlite_file(target):
        check_state(target, Base.metadata)  # type: ignore[arg-type]
        if not target.exists():  # type: ignore[union-attr]
            return None
    return make_sessions(target)


def make_sessions(target: Path | str) -> sessionmaker[Session]:
    if _sqlite_file(target):
        check_state(target, Base.metadata)  # type: ignore[arg-type]
    return sessionmaker(make_engine(target), expire_on_commit=False)


def _sqlite_file(target: Path | str) -> bool:
    """The state is this SQLite file, unless PARTNERSHIPS_DATABASE_URL puts it in a server's database."""
    return isinstance(target, Path) and not os.environ.get("PARTNERSHIPS_DATABASE_URL")


class LabelledExample(Base):
    """A person's correction of the classifier from the review queue: this text means this intent."""

    __tablename__ = "labelled_examples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String, index=True)
    review_item_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String)
    previous_intent: Mapped[str | None] = mapped_column(String)
    labelled_by: Mapped[str] = mapped_column(String)
    labelled_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class WebUser(Base):
    """A local account of the web desk; only the argon2 hash of its password is kept."""

    __tablename__ = "web_users"
    name: Mapped[str] = mapped_column(String, primary_key=True)
    password_hash: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256 (a leaked db
    grants no session)."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    user: Mapped[str] = mapped_column(String, index=True)
    csrf: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime())
