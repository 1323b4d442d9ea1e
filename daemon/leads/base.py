"""The LeadStore protocol every leads backend (sqlite, airtable) fulfils."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from daemon.core.lead import Lead, NewLead


class LeadStore(Protocol):
    """What the daemon needs of the leads table, whatever holds it."""

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
