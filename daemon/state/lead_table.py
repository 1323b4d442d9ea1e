"""The leads table of the embedded backend, in the state database beside everything else: leads, their status
history and the Active Hubs list, each change once per action key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.lead import STATUSES, Lead, NewLead, StatusMove
from daemon.errors import ActionError
from daemon.state.models import ActiveHub, LeadRow, LeadStatusChange, utcnow
from daemon.state.upsert import insert

SEED_LOCK_KEY = 0x504453656564  # "PDSeed": the PostgreSQL advisory lock of seeding the leads table


def _to_lead(row: LeadRow) -> Lead:
    return Lead(
        id=str(row.id),
        name=row.name,
        status=row.status,
        contact_emails=tuple(row.contact_emails or ()),
        domain=row.domain,
        service_tier=row.service_tier,
        monthly_fee=Decimal(row.monthly_fee) if row.monthly_fee else None,
        cloud_billing_managed=row.cloud_billing_managed,
        service_start=date.fromisoformat(row.service_start) if row.service_start else None,
        notes=row.notes or "",
    )


EDITABLE = ("service_tier", "monthly_fee", "service_start")


class LeadTable:
    """The embedded backend: leads live in the state database beside everything else."""

    read_reuse_seconds = 0.0  # a local read: always fresh

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def all(self) -> Sequence[Lead]:
        with self._sessions() as session:
            return [_to_lead(row) for row in session.scalars(select(LeadRow).order_by(LeadRow.id))]

    def get(self, lead_id: str) -> Lead | None:
        with self._sessions() as session:
            row = session.get(LeadRow, _row_id(lead_id))
            return _to_lead(row) if row else None

    def create(self, lead: NewLead, *, key: str) -> Lead:
        _check_status(lead.status)
        with self._sessions.begin() as session:
            existing = session.scalar(select(LeadRow).where(LeadRow.created_by == key))
            if existing is not None:
                return _to_lead(existing)
            row = LeadRow(
                name=lead.name,
                status=lead.status,
                contact_emails=list(lead.contact_emails),
                domain=lead.domain,
                notes=lead.notes,
                created_by=key,
            )
            session.add(row)
            session.flush()
            session.add(LeadStatusChange(lead_id=row.id, old_status=None, new_status=lead.status,
                                         reason="lead created", action_key=key))
            return _to_lead(row)

    def set_status(self, lead_id: str, status: str, *, reason: str, key: str) -> Lead:
        _check_status(status)
        with self._sessions.begin() as session:
            row = session.get(LeadRow, _row_id(lead_id))
            if row is None:
                raise ActionError(f"lead {lead_id} does not exist", retryable=False)
            done = session.scalar(select(LeadStatusChange).where(LeadStatusChange.action_key == key))
            if done is None and row.status != status:
                session.add(LeadStatusChange(lead_id=row.id, old_status=row.status, new_status=status,
                                             reason=reason, action_key=key))
                row.status = status
                row.updated_at = utcnow()
            return _to_lead(row)

    def add_contact(self, lead_id: str, address: str, *, key: str) -> Lead:
        with self._sessions.begin() as session:
            row = session.get(LeadRow, _row_id(lead_id))
            if row is None:
                raise ActionError(f"lead {lead_id} does not exist", retryable=False)
            contacts = list(row.contact_emails or ())
            if address.lower() not in contacts:
                row.contact_emails = [*contacts, address.lower()]
                row.updated_at = utcnow()
        day = utcnow().date().isoformat()
        line = f"{day} partnerships-daemon: contact {address.lower()} added (approved by a person)"
        self.append_note(lead_id, line, key=key)
        return self.get(lead_id) or _to_lead(row)

    def append_note(self, lead_id: str, line: str, *, key: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(LeadRow, _row_id(lead_id))
            if row is None:
                raise ActionError(f"lead {lead_id} does not exist", retryable=False)
            # The key is embedded in the line so a retry after a crash can see it was written.
            marker = f"[{key}]"
            if marker in (row.notes or ""):
                return
            notes = row.notes or ""
            # Notes typed by a person may not end with a newline: the audit line starts on its own line.
            separator = "" if not notes or notes.endswith("\n") else "\n"
            row.notes = f"{notes}{separator}{line} {marker}\n"
            row.updated_at = utcnow()

    def update_fields(self, lead_id: str, changes: Mapping[str, str | None], *, line: str, key: str) -> Lead:
        """Set service_tier, monthly_fee (a decimal string) or service_start (ISO date) and append `line` to the
        notes, once per `key`."""
        with self._sessions.begin() as session:
            row = session.get(LeadRow, _row_id(lead_id))
            if row is None:
                raise ActionError(f"lead {lead_id} does not exist", retryable=False)
            if f"[{key}]" not in (row.notes or ""):
                for name, value in changes.items():
                    if name not in EDITABLE:
                        raise ActionError(f"{name} cannot be edited", retryable=False)
                    setattr(row, name, value)
        self.append_note(lead_id, line, key=key)
        lead = self.get(lead_id)
        assert lead is not None
        return lead

    def add_active_hub(self, lead_id: str, hub_name: str, *, key: str) -> str:
        with self._sessions.begin() as session:
            session.execute(insert(session, ActiveHub).values(
                key=key, lead_id=_row_id(lead_id), name=hub_name, created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["key"]))
            return str(session.scalar(select(ActiveHub.id).where(ActiveHub.key == key)))

    def active_hubs(self) -> list[ActiveHub]:
        with self._sessions() as session:
            return list(session.scalars(select(ActiveHub).order_by(ActiveHub.id)))

    def status_history(self, lead_id: str) -> list[StatusMove]:
        with self._sessions() as session:
            query = select(LeadStatusChange).where(LeadStatusChange.lead_id == _row_id(lead_id))
            return [StatusMove(f"{row.at:%Y-%m-%d %H:%M:%S}", row.old_status, row.new_status, row.reason,
                               row.action_key) for row in session.scalars(query.order_by(LeadStatusChange.id))]

    def seed(self, leads: Sequence[Lead], source: str) -> int:
        """Load the team's existing leads (e.g. from a CSV export), only into an empty table."""
        with self._sessions.begin() as session:
            # Two first commands at once: one seeds, the other then finds the table full (SQLite: BEGIN IMMEDIATE).
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEED_LOCK_KEY})
            if session.scalar(select(LeadRow.id).limit(1)) is not None:
                return 0
            for number, lead in enumerate(leads, start=1):
                session.add(LeadRow(
                    name=lead.name, status=lead.status, contact_emails=list(lead.contact_emails),
                    domain=lead.domain, service_tier=lead.service_tier,
                    monthly_fee=str(lead.monthly_fee) if lead.monthly_fee is not None else None,
                    cloud_billing_managed=lead.cloud_billing_managed,
                    service_start=lead.service_start.isoformat() if lead.service_start else None,
                    notes=lead.notes, created_by=f"seed:{source}:{number}",
                ))
            return len(leads)


def _row_id(lead_id: str) -> int:
    try:
        return int(lead_id)
    except ValueError:
        raise ActionError(f"lead id {lead_id!r} is not an id of the sqlite backend", retryable=False) from None


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ActionError(f"{status!r} is not a lead status ({', '.join(STATUSES)})", retryable=False)
