"""A lead (a community) as plain data: its statuses, the Lead value and what is known of a new one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ACTIVE_LEAD = "Active Lead"
INACTIVE_LEAD = "Inactive Lead"
NEEDS_ADMIN = "Needs Admin"
ACTIVE_SERVICE = "Active Service"
INACTIVE_SERVICE = "Inactive Service"
WAITING = "Waiting"
STATUSES = (ACTIVE_LEAD, INACTIVE_LEAD, NEEDS_ADMIN, ACTIVE_SERVICE, INACTIVE_SERVICE, WAITING)


@dataclass(frozen=True)
class Lead:
    id: str
    name: str
    status: str
    contact_emails: tuple[str, ...] = ()
    domain: str | None = None
    service_tier: str | None = None
    monthly_fee: Decimal | None = None
    cloud_billing_managed: bool = False
    service_start: date | None = None
    notes: str = ""


@dataclass(frozen=True)
class NewLead:
    """What the daemon knows of a community when it first sees it."""

    name: str
    contact_emails: tuple[str, ...]
    domain: str | None
    status: str = ACTIVE_LEAD
    notes: str = ""


@dataclass(frozen=True)
class StatusMove:
    """One recorded status change of a lead: a row of the SQLite history table, or an audit line read back from
    an Airtable lead's notes."""

    at: str  # ISO date, or date and time (UTC)
    old_status: str | None  # None: the lead was created with `new_status`
    new_status: str
    reason: str
    action_key: str | None
