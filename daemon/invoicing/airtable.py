"""Invoicing on the Airtable backend: a month's cloud spend read from a table, sent batches recorded as Invoices."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pyairtable import Api
from pyairtable.api.types import RecordDict
from pyairtable.formulas import AND, EQ, FIND, Field
from pyairtable.models.schema import TableSchema

from daemon.errors import ConfigError
from daemon.invoicing.batch import InvoiceBatch, InvoiceLine
from daemon.invoicing.months import parse_month
from daemon.invoicing.spend import SpendRow, parse_amount

# The leading-underscore helpers are private to the Airtable package; they are imported rather than copied so both
# Airtable modules name columns, report schema problems and map errors (without the token) the same way.
from daemon.leads.airtable.cells import AUDIT_PREFIX, _text, marker, with_note
from daemon.leads.airtable.client import (
    MAX_RECORDS_PER_WRITE,
    PAGE_SIZE,
    AirtableError,
    AirtableStats,
    Caller,
    make_api,
)
from daemon.leads.airtable.schema import _did_you_mean, _field_type, _link_problems, _missing_fields, _table
from daemon.leads.airtable.settings import AirtableConfig, _field_names, _name, column_names
from daemon.leads.airtable.store import _chunks, _labels
from daemon.settings import Section

log = logging.getLogger("daemon.invoicing.airtable")

SECTION = "invoice.airtable"
PENDING = "Pending certification"
AFFIRMED = "Affirmed"
INVOICE_STATUSES = (PENDING, AFFIRMED)


# --- configuration ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendFields:
    """Columns of the Cloud Spend table; Month is text, YYYY-MM, so a formula can match it exactly."""

    community: str = "Community"
    month: str = "Month"
    amount: str = "Amount"
    currency: str = "Currency"

    def names(self) -> list[str]:
        return column_names(self)


@dataclass(frozen=True)
class InvoiceFields:
    """Columns of the Invoices table; `lead` links to the Leads record, `notes` holds the idempotency markers."""

    name: str = "Name"
    lead: str = "Community"
    month: str = "Month"
    tier: str = "Tier"
    fee: str = "Fee"
    cloud_spend: str = "Cloud spend"
    total: str = "Total"
    currency: str = "Currency"
    status: str = "Status"
    notes: str = "Notes"

    def names(self) -> list[str]:
        return column_names(self)


@dataclass(frozen=True)
class InvoiceTables:
    spend_table: str = "Cloud Spend"
    spend_fields: SpendFields = field(default_factory=SpendFields)
    invoices_table: str = "Invoices"
    invoice_fields: InvoiceFields = field(default_factory=InvoiceFields)


def parse_invoice_tables(table: Mapping[str, Any]) -> InvoiceTables:
    """Validate an [invoice.airtable] table (table names, and spend_fields / invoice_fields sub-tables of column
    names); errors name `[invoice.airtable] key`. The base and token are those of [leads.airtable]."""
    section = Section(SECTION, table)
    defaults = InvoiceTables()
    tables = InvoiceTables(
        spend_table=_name(section, "spend_table", defaults.spend_table),
        spend_fields=_field_names(section.data.pop("spend_fields", {}), f"{SECTION}.spend_fields", SpendFields),
        invoices_table=_name(section, "invoices_table", defaults.invoices_table),
        invoice_fields=_field_names(section.data.pop("invoice_fields", {}), f"{SECTION}.invoice_fields",
                                    InvoiceFields),
    )
    section.finish()
    if tables.spend_table == tables.invoices_table:
        raise ConfigError(f"[{SECTION}] spend_table and invoices_table: both name the table {tables.spend_table!r}")
    return tables


# --- the store ------------------------------------------------------------------------------------------------------


def line_key(key: str, lead_id: str) -> str:
    """The idempotency key of one batch line: the batch key (invoice:YYYY-MM) and the lead's record id."""
    return f"{key}:{lead_id}"


def _airtable_number(amount: Decimal) -> float:
    # Airtable takes amounts as JSON numbers; a cents amount survives the float's shortest repr unchanged.
    return float(amount)


class AirtableInvoices:
    """The Cloud Spend and Invoices tables of the leads base. Requests share the base's rate limiter with the
    lead store (make_api pacing is per base), so together they stay within Airtable's 5 requests per second."""

    def __init__(self, config: AirtableConfig, tables: InvoiceTables, *, api: Api | None = None,
                 today: Callable[[], date] | None = None) -> None:
        self.config = config
        self.tables = tables
        self.stats = AirtableStats()
        token = api.api_key if api is not None else config.token.resolve()
        self.api = api or make_api(config, token=token, stats=self.stats)
        self._call = Caller(config, token)
        self._spend = self.api.table(config.base_id, tables.spend_table)
        self._invoices = self.api.table(config.base_id, tables.invoices_table)
        self._today = today or (lambda: datetime.now(UTC).date())

    def __repr__(self) -> str:
        return f"<AirtableInvoices base={self.config.base_id} invoices={self.tables.invoices_table!r}>"

    # -- cloud spend ---------------------------------------------------------------------------------------------

    def spend_for_month(self, month: str) -> tuple[list[SpendRow], list[str]]:
        """The month's spend rows and, for each unusable record, a problem naming it (that record is not summed)."""
        parse_month(month)
        names = self.tables.spend_fields
        records = self._call(f"read the {month} rows of the {self.tables.spend_table} table", lambda: self._spend.all(
            formula=EQ(Field(names.month), month), fields=names.names(), page_size=PAGE_SIZE))
        rows: list[SpendRow] = []
        problems: list[str] = []
        for number, record in enumerate(records, start=1):
            row = self._spend_row(record, number)
            if isinstance(row, SpendRow):
                rows.append(row)
            else:
                problems.append(f"{self.tables.spend_table} record {record['id']}: {row}; not invoiced")
        return rows, problems

    def _spend_row(self, record: RecordDict, number: int) -> SpendRow | str:
        """A SpendRow, or what is wrong with the record."""
        cells, names = record.get("fields", {}), self.tables.spend_fields
        community = _text(cells.get(names.community)).strip()
        if not community:
            return f"{names.community} is empty"
        amount = _amount(cells.get(names.amount))
        if amount is None:
            return f"{community!r}: {names.amount} {cells.get(names.amount)!r} is not an amount"
        currency = _text(cells.get(names.currency)).strip()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            return f"{community!r}: {names.currency} {currency!r} is not a 3-letter code"
        return SpendRow(community, amount, currency.upper(), source=f"{self.tables.spend_table} record {record['id']}",
                        line=number)

    # -- invoices ------------------------------------------------------------------------------------------------

    def record_batch(self, batch: InvoiceBatch, *, key: str) -> int:
        """One Invoices record per line, Pending certification and linked to its lead, 10 per request; lines
        recorded before under `key` (found by their marker in one request) are skipped. How many were created."""
        names = self.tables.invoice_fields
        prefix = f"[{key}:"  # every line marker of this batch starts so; the colon keeps invoice:2026-1 apart
        done = self._list(f"look up the invoices recorded by {key}", FIND(prefix, Field(names.notes)),
                          [names.notes])
        notes = [_text(record.get("fields", {}).get(names.notes)) for record in done]
        todo = [line for line in batch.lines
                if not any(marker(line_key(key, line.lead_id)) in text for text in notes)]
        for chunk in _chunks(todo, MAX_RECORDS_PER_WRITE):
            payloads = [self._invoice_record(batch.month, line, key) for line in chunk]
            self._call(f"record invoices of {_labels([line.community for line in chunk])} for {batch.month}",
                       lambda payloads=payloads: self._invoices.batch_create(payloads, typecast=False))
        return len(todo)

    def _invoice_record(self, month: str, line: InvoiceLine, key: str) -> dict[str, Any]:
        names = self.tables.invoice_fields
        note = f"{self._today().isoformat()} {AUDIT_PREFIX} created as {PENDING} ({line.readiness})"
        record: dict[str, Any] = {
            names.name: f"{line.community} {month}",
            names.lead: [line.lead_id],
            names.month: month,
            names.fee: _airtable_number(line.fee),
            names.cloud_spend: _airtable_number(line.cloud_spend),
            names.total: _airtable_number(line.total),
            names.currency: line.currency,
            names.status: PENDING,
            names.notes: with_note("", note, line_key(key, line.lead_id)),
        }
        if line.tier:
            record[names.tier] = line.tier
        return record

    def mark_affirmed(self, lead_id: str, month: str, *, key: str) -> bool:
        """Set the lead's Invoices record of `month` to Affirmed, with a dated note carrying `key`; once per key.
        False when there is no such record yet (the batch was not sent): nothing to mark, not a failure."""
        parse_month(month)
        names = self.tables.invoice_fields
        # The line marker ends in ":<record id>]" whatever the batch key was; the link is checked below as well.
        formula = AND(EQ(Field(names.month), month), FIND(f":{lead_id}]", Field(names.notes)))
        found = [record for record in self._list(f"look up the {month} invoice of lead {lead_id}", formula,
                                                 [names.lead, names.status, names.notes])
                 if lead_id in (record.get("fields", {}).get(names.lead) or [])]
        if not found:
            return False
        updates = [{"id": record["id"], "fields": change} for record in found
                   if (change := self._affirmation(record, key)) is not None]
        for chunk in _chunks(updates, MAX_RECORDS_PER_WRITE):
            self._call(f"mark the {month} invoice of lead {lead_id} {AFFIRMED}",
                       lambda chunk=chunk: self._invoices.batch_update(list(chunk), typecast=False))
        return True

    def _affirmation(self, record: RecordDict, key: str) -> dict[str, Any] | None:
        """The fields to write to affirm this record, or None when there is nothing to do."""
        names = self.tables.invoice_fields
        cells = record.get("fields", {})
        status, notes = _text(cells.get(names.status)), _text(cells.get(names.notes))
        if status == AFFIRMED or marker(key) in notes:
            return None
        if status not in ("", PENDING):
            # A person has taken the invoice further by hand; their status wins over a late affirmation.
            log.info("%s record %s is %r, not %r: affirmation %s not applied", self.tables.invoices_table,
                     record["id"], status, PENDING, key)
            return None
        line = f"{self._today().isoformat()} {AUDIT_PREFIX} {status or '(no status)'} -> {AFFIRMED} (affirmation)"
        return {names.status: AFFIRMED, names.notes: with_note(notes, line, key)}

    def _list(self, doing: str, formula: Any, columns: list[str]) -> list[RecordDict]:
        return self._call(doing, lambda: self._invoices.all(formula=formula, fields=columns, page_size=PAGE_SIZE))

    # -- schema --------------------------------------------------------------------------------------------------

    def check_schema(self) -> list[str]:
        return _check(self.config, self.tables, self.api, self._call)


def _amount(value: Any) -> Decimal | None:
    """A cell's amount: a JSON number through its shortest repr (never binary arithmetic), or a text amount."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        amount = Decimal(str(value)) if isinstance(value, int | float) else parse_amount(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


# --- schema ---------------------------------------------------------------------------------------------------------


def check_invoice_schema(config: AirtableConfig, tables: InvoiceTables) -> list[str]:
    """Problems with the Cloud Spend and Invoices tables, each naming the table, field or status option."""
    token = config.token.resolve()
    return _check(config, tables, make_api(config, token=token), Caller(config, token))


def _check(config: AirtableConfig, tables: InvoiceTables, api: Api, call: Caller) -> list[str]:
    try:
        schema = call(f"read the schema of base {config.base_id}", lambda: api.base(config.base_id).schema())
    except AirtableError as error:
        return [str(error)]
    found = {table.name: table for table in schema.tables}
    problems: list[str] = []
    spend = _table(found, tables.spend_table, config.base_id, problems)
    invoices = _table(found, tables.invoices_table, config.base_id, problems)
    if spend is not None:
        problems += _missing_fields(spend, tables.spend_fields.names())
    if invoices is not None:
        names = tables.invoice_fields
        problems += _missing_fields(invoices, names.names())
        problems += _option_problems(invoices, names.status, INVOICE_STATUSES)
        # A missing Leads table is check_schema's to report.
        problems += _link_problems(invoices, names.lead, found.get(config.leads_table))
    return problems


def _option_problems(table: TableSchema, name: str, wanted: Iterable[str]) -> list[str]:
    spec = next((f for f in table.fields if f.name == name), None)
    if spec is None:
        return []
    if _field_type(spec) != "singleSelect":
        return [f"{table.name} table: field {name!r} is a {_field_type(spec)} field, expected a single select "
                f"with the options {', '.join(wanted)}"]
    options = [choice.name for choice in spec.options.choices]  # type: ignore[union-attr]
    return [f"{table.name} table: field {name!r} has no option {option!r}{_did_you_mean(option, options)} "
            f"(options are: {', '.join(options) or 'none'})" for option in wanted if option not in options]

