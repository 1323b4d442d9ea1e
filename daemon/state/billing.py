"""The evidence invoicing reads (the `evidence` table): confirmations with tier and price, monthly delivery
affirmations, contracts and service endings, recorded once per kind and message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from daemon.state.models import Evidence
from daemon.state.upsert import insert


def record_evidence(sessions: sessionmaker[Session], *, lead_id: str, kind: str, message_id: str,
                    date: datetime | None, month: str | None, month_stated: bool, tier: str | None = None,
                    price: str | None = None) -> None:
    """Once per (kind, message): recording the same evidence again changes nothing."""
    with sessions.begin() as session:
        session.execute(insert(session, Evidence).values(
            lead_id=lead_id, kind=kind, message_id=message_id, date=date, month=month, month_stated=month_stated,
            tier=tier, price=price,
        ).on_conflict_do_nothing(index_elements=["kind", "message_id"]))


def evidence_rows(sessions: sessionmaker[Session]) -> list[Evidence]:
    """Every piece of evidence on file, detached (plain data for daemon.invoicing)."""
    with sessions() as session:
        return list(session.scalars(select(Evidence).order_by(Evidence.id)))
