"""The airtable LeadStore backend: the team's Leads table read once per cycle, written in paced, audited batches."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from pyairtable import Api
from pyairtable.api.types import RecordDict
from pyairtable.formulas import EQ, FIND, OR, RECORD_ID, Field, Formula

from daemon.core.lead import STATUSES, Lead, NewLead, StatusMove
from daemon.errors import ActionError
from daemon.leads.airtable.cells import AUDIT_PREFIX, Cells, format_emails, marker, status_moves, with_note
from daemon.leads.airtable.client import AirtableError, AirtableStats, Caller, make_api
from daemon.leads.airtable.schema import check_with
from daemon.leads.airtable.settings import AirtableConfig
from daemon.leads.base import StatusChange

log = logging.getLogger("daemon.leads.airtable")

MAX_RECORDS_PER_WRITE = 10
PAGE_SIZE = 100
_GONE = ("ROW_DOES_NOT_EXIST", "NOT_FOUND", "MODEL_ID_NOT_FOUND")
T = TypeVar("T")


# --- the store ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Patch:
    key: str
    lead_id: str
    status: str | None  # None: a note only
    text: str  # a status change's reason, or the whole note line
    changes: tuple[tuple[str, Any], ...] = ()  # (LeadFields attribute, Airtable cell value) set with the note
    contact: str | None = None  # an address to add to the contacts (a person approved it)

    def line(self, lead: Lead, day: date) -> str:
        if self.status is None:
            return self.text
        return f"{day.isoformat()} {AUDIT_PREFIX} {lead.status or '(no status)'} -> {self.status} ({self.text})"


Outcome = Lead | ActionError


class AirtableLeadStore:
    """LeadStore over the team's Airtable base, with the SQLite backend's behaviour; lead ids are record ids.
    `stats` counts the requests of the Api it makes itself (not of one passed in)."""

    # The web desk reuses a full read this long: each read is paced requests (5 per second per base).
    read_reuse_seconds = 15.0

    def __init__(self, config: AirtableConfig, *, api: Api | None = None, today: Callable[[], date] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.stats = AirtableStats()
        token = api.api_key if api is not None else config.token.resolve()
        self.api = api or make_api(config, token=token, stats=self.stats)
        self._call = Caller(config, token)
        self._cells = Cells(config.fields)
        self._leads = self.api.table(config.base_id, config.leads_table)
        self._hubs = self.api.table(config.base_id, config.active_hubs_table)
        self._today = today or (lambda: datetime.now(UTC).date())
        self._clock = clock
        self._cache: dict[str, Lead] = {}
        self._read_at: dict[str, float] = {}
        self._stale: set[str] = set()  # their last write may have landed unanswered: read before the next
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<AirtableLeadStore base={self.config.base_id} table={self.config.leads_table!r}>"

    # -- reading -------------------------------------------------------------------------------------------------

    def all(self) -> Sequence[Lead]:
        """Read the whole Leads table (only the mapped fields, 100 per page) and cache it for this cycle."""
        records = self._list(f"read the {self.config.leads_table} table")
        with self._lock:
            self._cache.clear()
            self._read_at.clear()
            self._stale.clear()
            return [self._remember(record) for record in records]

    def get(self, lead_id: str) -> Lead | None:
        with self._lock:
            if lead_id not in self._cache or lead_id in self._stale:
                self._fetch([lead_id])
            return self._cache.get(lead_id)

    def status_history(self, lead_id: str) -> list[StatusMove]:
        lead = self.get(lead_id)
        return status_moves(lead.notes) if lead else []

    def _list(self, doing: str, formula: Formula | None = None) -> list[RecordDict]:
        options: dict[str, Any] = {"fields": self.config.fields.names(), "page_size": PAGE_SIZE}
        if formula is not None:
            options["formula"] = formula
        return self._call(doing, lambda: self._leads.all(**options))

    def _fetch(self, lead_ids: Iterable[str]) -> None:
        """Read these records again (100 per request); those Airtable no longer has leave the cache."""
        wanted = list(dict.fromkeys(lead_ids))
        for start in range(0, len(wanted), PAGE_SIZE):
            chunk = wanted[start:start + PAGE_SIZE]
            formula = OR(*(EQ(RECORD_ID(), lead_id) for lead_id in chunk))
            found = {record["id"]: record for record in self._list(f"read lead(s) {_labels(chunk)}", formula)}
            for lead_id in chunk:
                if lead_id in found:
                    self._remember(found[lead_id])
                else:
                    self._forget(lead_id)

    def _remember(self, record: RecordDict) -> Lead:
        lead = self._cells.lead(record)
        self._cache[lead.id] = lead
        self._read_at[lead.id] = self._clock()
        self._stale.discard(lead.id)
        return lead

    def _forget(self, lead_id: str) -> None:
        self._cache.pop(lead_id, None)
        self._read_at.pop(lead_id, None)
        self._stale.discard(lead_id)

    # -- creating ------------------------------------------------------------------------------------------------

    def create(self, lead: NewLead, *, key: str) -> Lead:
        return _raise_or_return(self.create_many({key: lead})[key])

    def create_many(self, leads: Mapping[str, NewLead]) -> dict[str, Outcome]:
        """Create leads by idempotency key, 10 per request; a key whose lead exists already returns that lead."""
        results: dict[str, Outcome] = {key: _bad_status(new.status) for key, new in leads.items()
                                       if new.status not in STATUSES}
        todo = {key: new for key, new in leads.items() if key not in results}
        with self._lock:
            try:
                results.update(self._created_by(list(todo)))
            except AirtableError as error:
                return results | dict.fromkeys(todo, error)
            rest = [(key, new) for key, new in todo.items() if key not in results]
            for chunk in _chunks(rest, MAX_RECORDS_PER_WRITE):
                payloads = [self._new_record(new, key) for key, new in chunk]
                results.update(self._write([key for key, _ in chunk], [new.name for _, new in chunk], payloads,
                                           lambda batch: self._leads.batch_create(batch, typecast=False), "create"))
        return results

    def _created_by(self, keys: list[str]) -> dict[str, Lead]:
        """Leads made earlier for these keys: from the cache, else found by their marker in the notes. Asking Airtable
        covers a create whose answer was lost (timeout) and one made by another process since the cache was read."""
        found = {key: lead for key in keys if (lead := self._cached_with_marker(key))}
        missing = [key for key in keys if key not in found]
        notes = Field(self.config.fields.notes)
        for chunk in _chunks(missing, 20):  # 20 FIND()s keep the URL well below Airtable's 16k limit
            formula = OR(*(FIND(marker(key), notes) for key in chunk))
            for record in self._list(f"look up leads created by {_labels(chunk)}", formula):
                lead = self._remember(record)
                found.update({key: lead for key in chunk if marker(key) in lead.notes})
        return found

    def _cached_with_marker(self, key: str) -> Lead | None:
        return next((lead for lead in self._cache.values() if marker(key) in lead.notes), None)

    def _new_record(self, new: NewLead, key: str) -> dict[str, Any]:
        names = self.config.fields
        line = f"{self._today().isoformat()} {AUDIT_PREFIX} created as {new.status} (lead created)"
        record: dict[str, Any] = {names.name: new.name, names.status: new.status,
                                  names.notes: with_note(new.notes, line, key)}
        if new.contact_emails:
            record[names.contact_emails] = format_emails(e.strip().lower() for e in new.contact_emails)
        if new.domain:
            record[names.domain] = new.domain.strip().lower()
        return record

    # -- changing ------------------------------------------------------------------------------------------------

    def set_status(self, lead_id: str, status: str, *, reason: str, key: str) -> Lead:
        return _raise_or_return(self.apply_status_changes([StatusChange(key, lead_id, status, reason)])[key])

    def append_note(self, lead_id: str, line: str, *, key: str) -> None:
        _raise_or_return(self._apply([_Patch(key, lead_id, None, line)])[key])

    def add_contact(self, lead_id: str, address: str, *, key: str) -> Lead:
        line = f"{self._today().isoformat()} {AUDIT_PREFIX} contact {address.lower()} added (approved by a person)"
        return _raise_or_return(self._apply([_Patch(key, lead_id, None, line, contact=address.lower())])[key])

    def update_fields(self, lead_id: str, changes: Mapping[str, str | None], *, line: str, key: str) -> Lead:
        """Set service_tier, monthly_fee (a decimal string) or service_start (ISO date) with an audit line, in one
        request, once per `key`."""
        cells = tuple((name, _cell(name, value)) for name, value in changes.items())
        return _raise_or_return(self._apply([_Patch(key, lead_id, None, line, cells)])[key])

    def apply_status_changes(self, changes: Sequence[StatusChange]) -> dict[str, Outcome]:
        """Status and audit line of each change in one PATCH of up to 10 records; one outcome per key: the lead as
        it is now, or an ActionError (retryable or not) for that key alone."""
        return self._apply([_Patch(c.key, c.lead_id, c.status, c.reason) for c in changes])

    def _apply(self, patches: Sequence[_Patch]) -> dict[str, Outcome]:
        unique: dict[str, _Patch] = {}
        for patch in patches:
            unique.setdefault(patch.key, patch)  # the first of a repeated key counts
        results: dict[str, Outcome] = {p.key: _bad_status(p.status) for p in unique.values()
                                       if p.status is not None and p.status not in STATUSES}
        pending = [p for p in unique.values() if p.key not in results]
        with self._lock:
            try:
                self._refresh_before_write({p.lead_id for p in pending})
            except AirtableError as error:
                return results | dict.fromkeys((p.key for p in pending), error)
            while pending:
                # Airtable takes one version of a record per request: a second change to a lead waits a round.
                current, pending = _one_per_lead(pending)
                writes = []
                for patch in current:
                    planned = self._plan(patch)
                    if isinstance(planned, dict):
                        writes.append((patch, planned))
                    else:
                        results[patch.key] = planned
                for chunk in _chunks(writes, MAX_RECORDS_PER_WRITE):
                    results.update(self._send_updates(chunk))
        return results

    def _refresh_before_write(self, lead_ids: set[str]) -> None:
        now = self._clock()
        old = [i for i in lead_ids if i not in self._cache or i in self._stale
               or now - self._read_at.get(i, now) > self.config.cache_seconds]
        if old:
            self._fetch(old)

    def _plan(self, patch: _Patch) -> Outcome | dict[str, Any]:
        """The fields to write for `patch`, or its outcome when there is nothing to write."""
        lead = self._cache.get(patch.lead_id)
        if lead is None:
            return AirtableError(f"lead {patch.lead_id} does not exist (no such record in the "
                                 f"{self.config.leads_table} table)", retryable=False, status=404, kind="NOT_FOUND")
        if marker(patch.key) in lead.notes or (patch.status is not None and lead.status == patch.status):
            return lead
        names = self.config.fields
        fields_ = {names.notes: with_note(lead.notes, patch.line(lead, self._today()), patch.key)}
        fields_.update({getattr(names, name): value for name, value in patch.changes})
        if patch.status is not None:
            fields_[names.status] = patch.status
        if patch.contact is not None and patch.contact not in lead.contact_emails:
            fields_[names.contact_emails] = format_emails([*lead.contact_emails, patch.contact])
        return fields_

    def _send_updates(self, chunk: Sequence[tuple[_Patch, dict[str, Any]]]) -> dict[str, Outcome]:
        lead_ids = [patch.lead_id for patch, _ in chunk]
        payloads = [{"id": patch.lead_id, "fields": fields_} for patch, fields_ in chunk]
        outcomes = self._write([patch.key for patch, _ in chunk], lead_ids, payloads,
                               lambda batch: self._leads.batch_update(batch, typecast=False), "update")
        for patch, _ in chunk:
            outcome = outcomes[patch.key]
            if isinstance(outcome, AirtableError) and outcome.retryable:
                self._stale.add(patch.lead_id)
            elif isinstance(outcome, AirtableError) and outcome.kind in _GONE:
                self._forget(patch.lead_id)
        return outcomes

    def _write(self, keys: list[str], labels: list[str], payloads: list[dict[str, Any]],
               send: Callable[[list[dict[str, Any]]], list[RecordDict]], verb: str) -> dict[str, Outcome]:
        """One request for the batch; when a record of it is refused, halves are retried until each record has
        its own outcome (Airtable applies a batch entirely or not at all)."""
        try:
            records = self._call(f"{verb} {_labels(labels)}", lambda: send(payloads))
        except AirtableError as error:
            if len(payloads) > 1 and error.record_specific:
                half = len(payloads) // 2
                return (self._write(keys[:half], labels[:half], payloads[:half], send, verb)
                        | self._write(keys[half:], labels[half:], payloads[half:], send, verb))
            return dict.fromkeys(keys, error)
        return {key: self._remember(record) for key, record in zip(keys, records, strict=True)}

    # -- active hubs ---------------------------------------------------------------------------------------------

    def add_active_hub(self, lead_id: str, hub_name: str, *, key: str) -> str:
        """Create the Active Hubs record of `hub_name` linked to the lead, once per `key`; its record id."""
        names = self.config.hub_fields
        with self._lock:
            existing = self._call(f"look up active hub {hub_name!r}", lambda: self._hubs.first(
                formula=FIND(marker(key), Field(names.notes)), fields=[names.name]))
            if existing is not None:
                return existing["id"]
            line = f"{self._today().isoformat()} {AUDIT_PREFIX} active hub of lead {lead_id}"
            record = {names.name: hub_name, names.lead: [lead_id], names.notes: with_note("", line, key)}
            created = self._call(f"create active hub {hub_name!r}",
                                 lambda: self._hubs.create(record, typecast=False))
            return created["id"]

    # -- schema --------------------------------------------------------------------------------------------------

    def check_schema(self) -> list[str]:
        return check_with(self.config, self.api, self._call)


# --- small helpers ----------------------------------------------------------------------------------------------


def _bad_status(status: str | None) -> ActionError:
    return ActionError(f"{status!r} is not a lead status ({', '.join(STATUSES)})", retryable=False)


def _raise_or_return(outcome: Outcome) -> Lead:
    if isinstance(outcome, ActionError):
        raise outcome
    return outcome


def _one_per_lead(patches: list[_Patch]) -> tuple[list[_Patch], list[_Patch]]:
    now, later, seen = [], [], set()
    for patch in patches:
        (later if patch.lead_id in seen else now).append(patch)
        seen.add(patch.lead_id)
    return now, later


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _labels(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:3])
    return shown if len(labels) <= 3 else f"{shown} and {len(labels) - 3} more"


def _cell(name: str, value: str | None) -> Any:
    """A lead attribute as the Leads table holds it: a select option, a number, an ISO date."""
    if value is None:
        return None
    if name == "service_tier":
        return value.title()
    if name == "monthly_fee":
        return float(value)
    if name == "service_start":
        return value
    raise ActionError(f"{name} cannot be edited", retryable=False)
