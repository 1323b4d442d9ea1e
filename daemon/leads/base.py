"""The LeadStore protocol every leads backend (sqlite, airtable) fulfils. A backend that also writes many
records per request (Airtable) offers `create_many` and `apply_status_changes` as well (daemon.actions.executor's
`BatchingLeadStore`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from daemon.core.lead import Lead, NewLead, StatusMove
from daemon.errors import ActionError


@dataclass(frozen=True)
class StatusChange:
    """Move `lead_id` to `status` once per `key`; `reason` (e.g. "rule decline on message <id>") goes into the
    audit line the store writes to the lead's notes in the same request."""

    key: str
    lead_id: str
    status: str
    reason: str


class LeadStore(Protocol):
    """What the daemon needs of the leads table, whatever holds it."""

    # Seconds a reader (the web desk) may reuse a full read: 0 where a read is local and cheap, more where each
    # read is a paced request to a remote service.
    read_reuse_seconds: float

    def all(self) -> Sequence[Lead]:
        """Every lead, read once per sync cycle; matching happens in memory over this list."""
        ...

    def get(self, lead_id: str) -> Lead | None: ...

    def create(self, lead: NewLead, *, key: str) -> Lead:
        """Create a lead; calling again with the same `key` returns the lead made the first time."""
        ...

    def set_status(self, lead_id: str, status: str, *, reason: str, key: str) -> Lead:
        """Move a lead to `status`; repeating the same `key` changes nothing."""
        ...

    def add_contact(self, lead_id: str, address: str, *, key: str) -> Lead:
        """Record `address` as a contact of the lead (a person approved it); repeating changes nothing."""
        ...

    def append_note(self, lead_id: str, line: str, *, key: str) -> None:
        """Append one dated audit line to the lead's notes, once per `key`."""
        ...

    def add_active_hub(self, lead_id: str, hub_name: str, *, key: str) -> str:
        """Record the community's hub in the Active Hubs table, linked to the lead, once per `key`; its id."""
        ...

    def update_fields(self, lead_id: str, changes: Mapping[str, str | None], *, line: str, key: str) -> Lead:
        """Set service_tier, monthly_fee (a decimal string) or service_start (ISO date) and append the audit
        `line` to the notes, once per `key`."""
        ...

    def status_history(self, lead_id: str) -> list[StatusMove]:
        """The lead's recorded status moves, oldest first."""
        ...


@runtime_checkable
class BatchingLeadStore(LeadStore, Protocol):
    """A backend that can write many records per request (Airtable: 10): the executor hands it its creates and
    status moves together."""

    def apply_status_changes(self, changes: Sequence[StatusChange]) -> dict[str, Lead | ActionError]: ...

    def create_many(self, leads: Mapping[str, NewLead]) -> dict[str, Lead | ActionError]: ...
