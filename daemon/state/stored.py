"""Reading back what the ledger stored for the executor: a message's original bytes, and pointing the rows
recorded against a lead still waiting to be created (`new:<key>`) at the real lead once it exists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.state.models import ManiacRow, StoredMessage, Thread


@dataclass(frozen=True)
class StoredOriginal:
    raw: bytes
    received_at: datetime


def stored_original(sessions: sessionmaker[Session], message_id: str | None) -> StoredOriginal | None:
    """The message's bytes as received, if they were kept (a forward or a review needs them)."""
    if not message_id:
        return None
    with sessions() as session:
        found = session.execute(select(StoredMessage.raw, StoredMessage.received_at)
                                .where(StoredMessage.message_id == message_id)).first()
    if found is None or found.raw is None:
        return None
    return StoredOriginal(found.raw, found.received_at)


def attach_new_lead(sessions: sessionmaker[Session], reference: str, lead_id: str) -> None:
    """Threads, messages and MANIAC-T evidence recorded under `reference` (new:<key>) now belong to `lead_id`."""
    with sessions.begin() as session:
        for table in (Thread, StoredMessage, ManiacRow):
            session.execute(update(table).where(table.lead_id == reference).values(lead_id=lead_id))
