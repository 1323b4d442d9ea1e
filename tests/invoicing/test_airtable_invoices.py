"""The Airtable invoicing tables: a month's cloud spend read exactly, batches recorded and affirmed once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airtable_server import BASE_ID, SPEND_FIELDS, AirtableServer, add_partnerships_base, lead_rows
from airtable_support import config_for

from daemon.errors import ConfigError
from daemon.invoicing.airtable import (
    AFFIRMED,
    PENDING,
    AirtableInvoices,
    InvoiceTables,
    SpendFields,
    check_invoice_schema,
    parse_invoice_tables,
)
from daemon.invoicing.batch import READY, InvoiceBatch, InvoiceLine
from daemon.leads.airtable.client import AirtableError
from daemon.leads.airtable.store import AirtableLeadStore

MONTH = "2026-10"
TODAY = date(2026, 11, 3)
@pytest.fixture
def server() -> Iterator[AirtableServer]:
    with AirtableServer() as server:
        add_partnerships_base(server)  # with the seeds' Cloud Spend and Invoices tables
        yield server


def invoices(server: AirtableServer, tmp_path: Path, **changes: Any) -> AirtableInvoices:
    return AirtableInvoices(config_for(server, tmp_path, **changes), InvoiceTables(), today=lambda: TODAY)


def batch_for(server: AirtableServer, count: int) -> InvoiceBatch:
    lead_ids = server.seed(BASE_ID, "Leads", lead_rows(count))
    lines = tuple(InvoiceLine(community=f"Community {n}", lead_id=lead_id, tier="Small", fee=Decimal("100.00"),
                              cloud_spend=Decimal("12.34"), total=Decimal("112.34"), currency="USD", readiness=READY,
                              confirmation_message_id=None, confirmation_date=None, affirmation_message_id=None,
                              affirmation_date=None, contract=False)
                  for n, lead_id in enumerate(lead_ids))
    totals = {"USD": Decimal("112.34") * count}
    return InvoiceBatch(MONTH, lines, totals, totals, count)


def invoice_records(server: AirtableServer) -> dict[str, dict[str, Any]]:
    """The Invoices records by the lead they link to."""
    return {record["fields"]["Community"][0]: record["fields"] for record in server.records(BASE_ID, "Invoices")}


def invoice_writes(server: AirtableServer, method: str) -> int:
    return len(server.requests(method, path_suffix="/Invoices"))


# --- configuration --------------------------------------------------------------------------------------------------


def test_config_defaults_and_renamed_columns() -> None:
    tables = parse_invoice_tables({"invoices_table": "Billing", "invoice_fields": {"lead": "Lead"}})
    assert (tables.spend_table, tables.invoices_table) == ("Cloud Spend", "Billing")
    assert (tables.invoice_fields.lead, tables.invoice_fields.status) == ("Lead", "Status")
    assert parse_invoice_tables({}) == InvoiceTables()


@pytest.mark.parametrize(("table", "message"), [
    ({"spend_tabel": "x"}, "[invoice.airtable] unknown key(s): spend_tabel"),
    ({"spend_fields": {"amout": "x"}}, "[invoice.airtable.spend_fields] unknown key(s): amout"),
    ({"invoices_table": ""}, "[invoice.airtable] invoices_table: must not be empty"),
    ({"invoice_fields": {"fee": "Total"}}, "[invoice.airtable.invoice_fields] fee and total: both name the column"),
    ({"invoices_table": "Cloud Spend"}, "[invoice.airtable] spend_table and invoices_table"),
])
def test_config_errors_name_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_invoice_tables(table)
    assert message in str(error.value)


def test_shares_the_lead_stores_rate_limiter(server: AirtableServer, tmp_path: Path) -> None:
    leads = AirtableLeadStore(config_for(server, tmp_path))
    store = invoices(server, tmp_path)
    assert store.api.session.get_adapter(server.url).limiter is leads.api.session.get_adapter(server.url).limiter


# --- cloud spend ----------------------------------------------------------------------------------------------------


def test_spend_for_a_month_only_with_exact_amounts(server: AirtableServer, tmp_path: Path) -> None:
    server.seed(BASE_ID, "Cloud Spend", [
        {"Community": "Westbrook", "Month": MONTH, "Amount": 0.1, "Currency": "usd"},
        {"Community": "Westbrook", "Month": MONTH, "Amount": 0.2, "Currency": "USD"},
        {"Community": "Eastfield", "Month": MONTH, "Amount": 1234.56, "Currency": "USD"},
        {"Community": "Westbrook", "Month": "2026-09", "Amount": 999, "Currency": "USD"},
        {"Community": "Westbrook", "Month": "2026-1", "Amount": 999, "Currency": "USD"},
    ])
    rows, problems = invoices(server, tmp_path).spend_for_month(MONTH)
    assert problems == []
    assert [(row.community, row.amount, row.currency) for row in rows] == [
        ("Westbrook", Decimal("0.1"), "USD"), ("Westbrook", Decimal("0.2"), "USD"),
        ("Eastfield", Decimal("1234.56"), "USD")]
    assert all(isinstance(row.amount, Decimal) for row in rows)
    assert rows[0].amount + rows[1].amount == Decimal("0.3")
    assert "Cloud Spend record rec" in rows[0].source


def test_a_record_with_a_bad_value_is_reported_not_summed(server: AirtableServer, tmp_path: Path) -> None:
    no_amount, no_currency = server.seed(BASE_ID, "Cloud Spend", [
        {"Community": "Westbrook", "Month": MONTH, "Currency": "USD"},
        {"Community": "Eastfield", "Month": MONTH, "Amount": 5, "Currency": "dollars"},
    ])
    server.seed(BASE_ID, "Cloud Spend", [{"Community": "Northgate", "Month": MONTH, "Amount": 7, "Currency": "USD"}])
    rows, problems = invoices(server, tmp_path).spend_for_month(MONTH)
    assert [(row.community, row.amount) for row in rows] == [("Northgate", Decimal("7"))]
    assert len(problems) == 2
    assert no_amount in problems[0] and "Westbrook" in problems[0] and "Amount None is not an amount" in problems[0]
    assert no_currency in problems[1] and "'dollars' is not a 3-letter code" in problems[1]


def test_column_names_are_escaped_in_the_formula(server: AirtableServer, tmp_path: Path) -> None:
    odd = "Month {billed} 'x'"
    server.add_table(BASE_ID, "Odd Spend", [*SPEND_FIELDS[:1], {"name": odd, "type": "singleLineText"},
                                            *SPEND_FIELDS[2:]])
    server.seed(BASE_ID, "Odd Spend", [{"Community": "Westbrook", odd: MONTH, "Amount": 3, "Currency": "USD"},
                                       {"Community": "Westbrook", odd: "2026-09", "Amount": 4, "Currency": "USD"}])
    tables = InvoiceTables(spend_table="Odd Spend", spend_fields=SpendFields(month=odd))
    store = AirtableInvoices(config_for(server, tmp_path), tables)
    rows, problems = store.spend_for_month(MONTH)
    assert ([row.amount for row in rows], problems) == ([Decimal("3")], [])


# --- recording a batch ----------------------------------------------------------------------------------------------


def test_record_batch_one_pending_record_per_line_in_batches(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 12)
    store = invoices(server, tmp_path)
    assert store.record_batch(batch, key="invoice:2026-10") == 12
    assert invoice_writes(server, "POST") <= math.ceil(12 / 10)
    records = invoice_records(server)
    assert set(records) == {line.lead_id for line in batch.lines}
    first = records[batch.lines[0].lead_id]
    assert first["Status"] == PENDING
    assert (first["Month"], first["Tier"], first["Currency"]) == (MONTH, "Small", "USD")
    assert (first["Fee"], first["Cloud spend"], first["Total"]) == (100, 12.34, 112.34)
    assert f"[invoice:2026-10:{batch.lines[0].lead_id}]" in first["Notes"]
    assert first["Notes"].startswith("2026-11-03 ")


def test_record_batch_again_creates_nothing(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 3)
    store = invoices(server, tmp_path)
    store.record_batch(batch, key="invoice:2026-10")
    posts = invoice_writes(server, "POST")
    assert invoices(server, tmp_path).record_batch(batch, key="invoice:2026-10") == 0
    assert invoice_writes(server, "POST") == posts
    assert len(server.records(BASE_ID, "Invoices")) == 3


def test_a_retry_after_a_lost_answer_completes_without_duplicates(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 12)
    store = invoices(server, tmp_path, timeout=0.3)
    server.stall_next(1.0, method="POST")  # the first 10 are created, their answer never arrives
    with pytest.raises(AirtableError) as error:
        store.record_batch(batch, key="invoice:2026-10")
    assert error.value.retryable
    assert len(server.records(BASE_ID, "Invoices")) == 10
    assert store.record_batch(batch, key="invoice:2026-10") == 2
    assert set(invoice_records(server)) == {line.lead_id for line in batch.lines}
    assert len(server.records(BASE_ID, "Invoices")) == 12


def test_another_month_is_recorded_separately(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 2)
    store = invoices(server, tmp_path)
    store.record_batch(batch, key="invoice:2026-10")
    november = InvoiceBatch("2026-11", batch.lines, batch.totals, batch.ready_totals, batch.ready_count)
    assert store.record_batch(november, key="invoice:2026-11") == 2
    assert len(server.records(BASE_ID, "Invoices")) == 4


# --- affirmation ----------------------------------------------------------------------------------------------------


def test_mark_affirmed_before_the_batch_is_false(server: AirtableServer, tmp_path: Path) -> None:
    (lead_id,) = server.seed(BASE_ID, "Leads", lead_rows(1))
    assert invoices(server, tmp_path).mark_affirmed(lead_id, MONTH, key="affirm:m1") is False
    assert server.writes() == []


def test_mark_affirmed_flips_that_line_only_and_once(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 3)
    store = invoices(server, tmp_path)
    store.record_batch(batch, key="invoice:2026-10")
    lead_id = batch.lines[1].lead_id
    assert store.mark_affirmed(lead_id, MONTH, key="affirm:m1") is True
    records = invoice_records(server)
    assert records[lead_id]["Status"] == AFFIRMED
    assert f"2026-11-03 partnerships-daemon: {PENDING} -> {AFFIRMED} (affirmation) [affirm:m1]" \
        in records[lead_id]["Notes"]
    assert [records[line.lead_id]["Status"] for line in batch.lines] == [PENDING, AFFIRMED, PENDING]
    patches = invoice_writes(server, "PATCH")
    assert store.mark_affirmed(lead_id, MONTH, key="affirm:m1") is True
    assert store.mark_affirmed(lead_id, MONTH, key="affirm:m2") is True
    assert invoice_writes(server, "PATCH") == patches
    assert invoice_records(server)[lead_id]["Notes"].count("[affirm:") == 1
    assert store.mark_affirmed(lead_id, "2026-11", key="affirm:m1") is False


def test_a_blank_status_is_affirmed(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 1)
    store = invoices(server, tmp_path)
    store.record_batch(batch, key="invoice:2026-10")
    (record,) = server.records(BASE_ID, "Invoices")
    server.set_cell(BASE_ID, "Invoices", record["id"], "Status", "")
    assert store.mark_affirmed(batch.lines[0].lead_id, MONTH, key="affirm:m1") is True
    assert invoice_records(server)[batch.lines[0].lead_id]["Status"] == AFFIRMED


# --- schema and errors ----------------------------------------------------------------------------------------------


def test_schema_check_is_clean_for_the_seeded_tables(server: AirtableServer, tmp_path: Path) -> None:
    assert check_invoice_schema(config_for(server, tmp_path), InvoiceTables()) == []


def test_schema_check_names_a_missing_table_and_status_option(server: AirtableServer, tmp_path: Path) -> None:
    server.remove_choice(BASE_ID, "Invoices", "Status", AFFIRMED)
    problems = check_invoice_schema(config_for(server, tmp_path), InvoiceTables(spend_table="Cloud spending"))
    assert len(problems) == 2
    assert "table 'Cloud spending' is missing; did you mean 'Cloud Spend'?" in problems[0]
    assert "Invoices table: field 'Status' has no option 'Affirmed'" in problems[1]


def test_schema_check_names_a_missing_field(server: AirtableServer, tmp_path: Path) -> None:
    server.rename_field(BASE_ID, "Invoices", "Cloud spend", "Spend")
    (problem,) = invoices(server, tmp_path).check_schema()
    assert "Invoices table: field 'Cloud spend' is missing" in problem


def test_the_token_never_appears_in_an_error(server: AirtableServer, tmp_path: Path) -> None:
    token = "pat-wrong-secret-0123456789"
    store = invoices(server, tmp_path, token=token)
    with pytest.raises(AirtableError) as error:
        store.spend_for_month(MONTH)
    assert not error.value.retryable and error.value.status == 401
    assert token not in str(error.value)
    problems = check_invoice_schema(config_for(server, tmp_path, token=token), InvoiceTables())
    assert problems and all(token not in problem for problem in problems)


def test_errors_are_retryable_or_not(server: AirtableServer, tmp_path: Path) -> None:
    batch = batch_for(server, 1)
    store = invoices(server, tmp_path)
    server.fail_next(503)
    with pytest.raises(AirtableError) as error:
        store.record_batch(batch, key="invoice:2026-10")
    assert error.value.retryable
    bogus = replace(batch, lines=(replace(batch.lines[0], lead_id="recNoSuchLead0001"),))
    with pytest.raises(AirtableError) as error:
        store.record_batch(bogus, key="invoice:2026-10")
    assert not error.value.retryable and error.value.kind == "ROW_DOES_NOT_EXIST"
