"""Airtable cell values <-> Lead fields, and the audit lines the daemon writes into a lead's notes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pyairtable.api.types import RecordDict

from daemon.core.lead import Lead, StatusMove
from daemon.leads.airtable.settings import LeadFields

log = logging.getLogger("daemon.leads.airtable")

AUDIT_PREFIX = "partnerships-daemon:"
_AUDIT_LINE = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2}) " + re.escape(AUDIT_PREFIX)
                         + r" (?:created as (?P<created>.+?)|(?P<old>.+?) -> (?P<new>.+?))"
                         + r" \((?P<reason>.*)\) \[(?P<key>.+)\]$")


# --- values: Airtable cells <-> Lead --------------------------------------------------------------------------------


def parse_emails(text: str) -> tuple[str, ...]:
    """The addresses in the one-text-field list the team keeps: separated by commas, semicolons or new lines;
    'Name <address>' is reduced to the address; lower-cased, duplicates dropped."""
    found: list[str] = []
    for part in re.split(r"[,;\n]", text):
        bracketed = re.search(r"<([^<>]+)>", part)
        address = (bracketed.group(1) if bracketed else part).strip().lower()
        if address and address not in found:
            found.append(address)
    return tuple(found)


def format_emails(addresses: Iterable[str]) -> str:
    return ", ".join(addresses)


def marker(key: str) -> str:
    """The key as written into the notes: a retry finds it there and knows the write was done."""
    return f"[{key}]"


def with_note(notes: str, line: str, key: str) -> str:
    separator = "" if not notes or notes.endswith("\n") else "\n"
    return f"{notes}{separator}{line} {marker(key)}\n"


def status_moves(notes: str) -> list[StatusMove]:
    moves = []
    for line in notes.splitlines():
        match = _AUDIT_LINE.match(line.strip())
        if match:
            moves.append(StatusMove(match["day"], match["old"], match["created"] or match["new"], match["reason"],
                                    match["key"]))
    return moves


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # lookups and multiple selects
        return ", ".join(str(v) for v in value)
    return str(value)


class Cells:
    """Reads a Leads record into a Lead; a bad cell is logged and left empty instead of failing the whole read."""

    def __init__(self, names: LeadFields) -> None:
        self.names = names

    def lead(self, record: RecordDict) -> Lead:
        cells, names = record.get("fields", {}), self.names
        return Lead(
            id=record["id"],
            name=_text(cells.get(names.name)).strip(),
            status=_text(cells.get(names.status)).strip(),
            contact_emails=parse_emails(_text(cells.get(names.contact_emails))),
            domain=_text(cells.get(names.domain)).strip().lower() or None,
            service_tier=_text(cells.get(names.service_tier)).strip().lower() or None,
            monthly_fee=self._money(record["id"], cells.get(names.monthly_fee)),
            cloud_billing_managed=bool(cells.get(names.cloud_billing_managed)),
            service_start=self._date(record["id"], cells.get(names.service_start)),
            notes=_text(cells.get(names.notes)),
        )

    def _money(self, record_id: str, value: Any) -> Decimal | None:
        if value in (None, ""):
            return None
        try:
            # Airtable sends currency as a JSON number: go through its shortest repr, never through binary arithmetic.
            return Decimal(str(value).replace(",", "").lstrip("$").strip())
        except InvalidOperation:
            log.warning("Leads record %s: %s %r is not an amount; ignored", record_id, self.names.monthly_fee, value)
            return None

    def _date(self, record_id: str, value: Any) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            log.warning("Leads record %s: %s %r is not a date; ignored", record_id, self.names.service_start, value)
            return None
