"""Invoice batch: readiness from evidence, fees, cloud spend CSVs, CSV and email output, and when a batch is due."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from daemon.core.lead import ACTIVE_LEAD, ACTIVE_SERVICE, INACTIVE_SERVICE, NEEDS_ADMIN, Lead
from daemon.core.notes import NoteRenderer
from daemon.errors import ConfigError, DaemonError
from daemon.invoicing.batch import (
    BATCH_CSV_COLUMNS,
    LEGACY_CONFIRMATION,
    EvidenceFact,
    InvoiceBatch,
    InvoiceLine,
    batch_csv,
    batch_subject,
    batch_variables,
    build_batch,
    evidence_from_rows,
)
from daemon.invoicing.months import InvoiceError, due_months, latest_passed_month, send_moment, unsent_months
from daemon.invoicing.spend import SpendError, SpendRow, parse_amount, read_spend_csv, spend_for_month
from daemon.leads.sqlite import read_leads_csv
from daemon.settings import Config, InvoiceSchedule, Tier, parse_invoice_schedule

MONTH = "2026-10"
TIERS = (Tier("small", Decimal("1500.00")), Tier("medium", Decimal("3000.00")), Tier("large", Decimal("6000.00")))
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def lead(lead_id: str = "1", name: str = "Westbrook College", **overrides: object) -> Lead:
    values: dict[str, object] = {
        "id": lead_id, "name": name, "status": ACTIVE_SERVICE, "domain": "westbrook.edu",
        "service_tier": None, "monthly_fee": None, "cloud_billing_managed": False,
    }
    values.update(overrides)
    return Lead(**values)  # type: ignore[arg-type]


def confirmation(lead_id: str = "1", message_id: str = "conf@westbrook.edu", *, tier: str | None = "medium",
                 price: str | None = "3000", day: datetime = datetime(2026, 3, 2, 10, 0)) -> EvidenceFact:
    return EvidenceFact(lead_id, "confirmation", message_id, day, None, tier,
                        Decimal(price) if price is not None else None)


def affirmation(lead_id: str = "1", month: str = MONTH, message_id: str = "aff@westbrook.edu", *,
                day: datetime = datetime(2026, 10, 30, 16, 0), stated: bool = True) -> EvidenceFact:
    return EvidenceFact(lead_id, "affirmation", message_id, day, month, month_stated=stated)


def contract(lead_id: str = "1", message_id: str = "contract@westbrook.edu") -> EvidenceFact:
    return EvidenceFact(lead_id, "contract", message_id, datetime(2025, 12, 1, 9, 0))


def spend(community: str, amount: str, currency: str = "USD", line: int = 2) -> SpendRow:
    return SpendRow(community, parse_amount(amount), currency, source=f"{MONTH}.csv", line=line)


def batch(leads: Sequence[Lead], evidence: Sequence[EvidenceFact] = (), rows: Sequence[SpendRow] = (),
          problems: Sequence[str] = ()) -> InvoiceBatch:
    return build_batch(MONTH, leads, evidence, rows, TIERS, "USD", problems=problems)


def only_line(leads: Sequence[Lead], evidence: Sequence[EvidenceFact] = (),
              rows: Sequence[SpendRow] = ()) -> InvoiceLine:
    lines = batch(leads, evidence, rows).lines
    assert len(lines) == 1
    return lines[0]


# --- Which communities, readiness -------------------------------------------------------------


def test_one_line_per_active_service_lead_sorted_by_name() -> None:
    leads = [
        lead("1", "zeta Lab"), lead("2", "Alpha University"), lead("3", "Beta Lab", status=NEEDS_ADMIN),
        lead("4", "Gamma Lab", status=INACTIVE_SERVICE), lead("5", "beta Institute"),
        lead("6", "Delta", status=ACTIVE_LEAD),
    ]
    assert [line.community for line in batch(leads).lines] == ["Alpha University", "beta Institute", "zeta Lab"]


def test_confirmation_and_affirmation_of_the_month_make_a_line_ready() -> None:
    line = only_line([lead()], [confirmation(), affirmation()])
    assert line.readiness == "ready"
    assert line.ready
    assert (line.confirmation_message_id, line.confirmation_date) == ("conf@westbrook.edu", datetime(2026, 3, 2, 10))
    assert (line.affirmation_message_id, line.affirmation_date) == ("aff@westbrook.edu", datetime(2026, 10, 30, 16))
    assert line.contract is False


def test_confirmation_without_affirmation_is_missing_affirmation() -> None:
    line = only_line([lead()], [confirmation()])
    assert line.readiness == "missing affirmation"
    assert line.affirmation_message_id is None


def test_affirmation_without_confirmation_is_missing_confirmation() -> None:
    line = only_line([lead()], [affirmation()])
    assert line.readiness == "missing confirmation"
    assert line.confirmation_message_id is None


def test_no_evidence_at_all_is_missing_both() -> None:
    assert only_line([lead()]).readiness == "missing confirmation and affirmation"


def test_contract_stands_in_for_the_monthly_affirmation() -> None:
    line = only_line([lead()], [confirmation(), contract()])
    assert line.readiness == "ready"
    assert line.contract is True
    assert line.affirmation_message_id is None
    assert "contract on file <contract@westbrook.edu> instead of a monthly affirmation" in line.notes


def test_affirmation_for_another_month_does_not_count() -> None:
    line = only_line([lead()], [confirmation(), affirmation(month="2026-09"), affirmation(month="2026-11",
                                                                                        message_id="nov@w")])
    assert line.readiness == "missing affirmation"
    assert line.affirmation_message_id is None


def test_evidence_of_another_lead_does_not_count() -> None:
    line = only_line([lead("1")], [confirmation("2"), affirmation("2"), contract("2")])
    assert line.readiness == "missing confirmation and affirmation"
    assert line.contract is False


def test_affirmation_with_an_inferred_month_says_so() -> None:
    line = only_line([lead()], [confirmation(), affirmation(stated=False)])
    assert line.readiness == "ready"
    assert "affirmed month inferred from the date of <aff@westbrook.edu>" in line.notes


def test_legacy_lead_with_tier_and_fee_on_file_counts_as_confirmed() -> None:
    line = only_line([lead(service_tier="small", monthly_fee=Decimal("1500.00"))], [affirmation()])
    assert line.readiness == "ready"
    assert LEGACY_CONFIRMATION in line.notes
    assert line.confirmation_message_id is None


def test_tier_without_fee_on_file_is_not_a_confirmation() -> None:
    line = only_line([lead(service_tier="small")], [affirmation()])
    assert line.readiness == "missing confirmation"
    assert LEGACY_CONFIRMATION not in line.notes


def test_the_latest_confirmation_gives_the_terms() -> None:
    old = confirmation(message_id="old@w", tier="small", price="1500", day=datetime(2025, 1, 5))
    new = confirmation(message_id="new@w", tier="large", price="6000", day=datetime(2026, 6, 1))
    line = only_line([lead()], [new, old])
    assert (line.confirmation_message_id, line.tier, line.fee) == ("new@w", "large", Decimal("6000.00"))


def test_confirmation_stating_no_price_is_noted() -> None:
    line = only_line([lead(service_tier="medium")], [confirmation(price=None), affirmation()])
    assert line.readiness == "ready"
    assert "confirmation <conf@westbrook.edu> states no price" in line.notes


# --- Fees --------------------------------------------------------------------------------------


def test_lead_fee_overrides_tier_fee() -> None:
    line = only_line([lead(service_tier="medium", monthly_fee=Decimal("2750.00"))])
    assert line.fee == Decimal("2750.00")
    assert line.notes[:2] == ("fee from the leads table", "fee 2750.00 differs from tier medium fee 3000.00")


def test_fee_from_tier_when_the_table_has_none() -> None:
    line = only_line([lead(service_tier="Medium")], [confirmation(price=None)])
    assert line.fee == Decimal("3000.00")
    assert "fee from tier medium" in line.notes


def test_fee_from_confirmed_price_when_the_table_has_none() -> None:
    line = only_line([lead()], [confirmation(tier="medium", price="2500")])
    assert (line.tier, line.fee) == ("medium", Decimal("2500.00"))
    assert "fee from the price confirmed in <conf@westbrook.edu>" in line.notes
    assert "fee 2500.00 differs from tier medium fee 3000.00" in line.notes


def test_table_fee_that_differs_from_the_confirmed_price_is_a_problem() -> None:
    result = batch([lead(monthly_fee=Decimal("3000"))], [confirmation(price="2500")])
    assert result.lines[0].fee == Decimal("3000.00")
    assert result.problems == (
        "Westbrook College: fee 3000.00 differs from the price 2500 confirmed in <conf@westbrook.edu>",)


def test_no_fee_anywhere_is_fee_zero_and_a_problem() -> None:
    result = batch([lead(service_tier="platinum")])
    assert result.lines[0].fee == Decimal("0.00")
    assert result.problems == ("Westbrook College: no monthly fee: tier 'platinum' has no fee in [tiers]; "
                               "invoiced at 0",)


def test_service_starting_after_the_month_is_not_billed_for_it_and_says_so() -> None:
    result = batch([lead(service_start=date(2026, 11, 1))])
    assert result.lines == ()
    assert result.problems == ("Westbrook College: service starts 2026-11-01, after 2026-10: not billed for 2026-10",)


def test_service_starting_mid_month_is_not_prorated_and_says_so() -> None:
    line = only_line([lead(service_start=date(2026, 10, 15))])
    assert "service started 2026-10-15; fee not prorated" in line.notes


# --- Cloud spend in the batch ------------------------------------------------------------------


def test_decimal_amounts_add_exactly() -> None:
    leads = [lead(monthly_fee=Decimal("0.1"), cloud_billing_managed=True)]
    line = only_line(leads, [], [spend("Westbrook College", "0.1"), spend("westbrook.edu", "0.2", line=3)])
    assert line.cloud_spend == Decimal("0.30")
    assert line.total == Decimal("0.40")
    assert str(line.total) == "0.40"
    assert isinstance(line.total, Decimal)


def test_spend_rows_are_summed_before_rounding_half_up() -> None:
    # Rounding each row would give 0.00 + 0.00; the cloud bill says 0.008 -> 0.01.
    leads = [lead(monthly_fee=Decimal("100"), cloud_billing_managed=True)]
    line = only_line(leads, [], [spend("Westbrook College", "0.004"), spend("Westbrook College", "0.004", line=3)])
    assert line.cloud_spend == Decimal("0.01")
    assert line.notes[-1] == f"cloud spend from {MONTH}.csv line 2, {MONTH}.csv line 3"
    half = only_line(leads, [], [spend("Westbrook College", "2.005")])
    assert half.cloud_spend == Decimal("2.01")


def test_totals_per_currency_and_ready_totals() -> None:
    leads = [
        lead("1", "Alpha", monthly_fee=Decimal("1500.10"), service_tier="small", cloud_billing_managed=True),
        lead("2", "Beta", monthly_fee=Decimal("3000.20"), service_tier="medium"),
    ]
    result = batch(leads, [affirmation("1")], [spend("Alpha", "1,000.05")])
    assert result.totals == {"USD": Decimal("5500.35")}
    assert result.ready_totals == {"USD": Decimal("2500.15")}
    assert result.ready_count == 1
    assert [line.readiness for line in result.lines] == ["ready", "missing affirmation"]


def test_spend_matches_by_normalised_name_or_domain() -> None:
    leads = [lead("1", "Bayside  Genomics Consortium", domain="bayside-genomics.org", service_tier="large",
                  cloud_billing_managed=True),
             lead("2", "Summit State", domain="summitstate.edu", service_tier="small", cloud_billing_managed=True)]
    result = batch(leads, [], [spend(" bayside genomics   CONSORTIUM ", "10"), spend("SummitState.edu", "20")])
    assert [line.cloud_spend for line in result.lines] == [Decimal("10.00"), Decimal("20.00")]
    assert result.problems == ()


def test_managed_lead_without_spend_is_noted() -> None:
    line = only_line([lead(cloud_billing_managed=True)])
    assert line.cloud_spend == Decimal("0.00")
    assert "no cloud spend reported" in line.notes


def test_unknown_community_is_reported_not_dropped() -> None:
    result = batch([lead(service_tier="small")], [], [spend("Westfield Astronomy", "123.45", line=4)])
    assert result.problems == (f"unknown community 'Westfield Astronomy' in {MONTH}.csv line 4: 123.45 USD "
                               "not invoiced",)
    assert result.totals == {"USD": Decimal("1500.00")}


def test_spend_for_lead_without_managed_billing_is_a_problem_not_summed() -> None:
    result = batch([lead(monthly_fee=Decimal("1500"))], [], [spend("Westbrook College", "99.99")])
    assert result.lines[0].cloud_spend == Decimal("0.00")
    assert result.lines[0].total == Decimal("1500.00")
    assert result.problems == (f"spend for Westbrook College, 'Westbrook College' in {MONTH}.csv line 2: 99.99 USD, "
                               "not invoiced: we do not manage its cloud billing",)


def test_spend_for_a_community_without_active_service_is_a_problem() -> None:
    result = batch([lead(status=NEEDS_ADMIN, cloud_billing_managed=True)], [], [spend("westbrook.edu", "5")])
    assert result.lines == ()
    assert len(result.problems) == 1
    assert result.problems[0].startswith("spend for Westbrook College (Needs Admin)")
    assert result.problems[0].endswith(f"not an {ACTIVE_SERVICE} community")


def test_spend_in_another_currency_is_a_problem_not_summed() -> None:
    result = batch([lead(cloud_billing_managed=True)], [], [spend("Westbrook College", "10", currency="EUR")])
    assert result.lines[0].cloud_spend == Decimal("0.00")
    assert result.problems[0].startswith("currency mismatch: spend for Westbrook College")
    assert "10 EUR" in result.problems[0]


def test_spend_row_matching_two_active_communities_is_ambiguous() -> None:
    leads = [lead("1", "Westbrook College", cloud_billing_managed=True),
             lead("2", "Westbrook Lab", domain="Westbrook College", cloud_billing_managed=True)]
    result = batch(leads, [], [spend("Westbrook College", "10")])
    assert all(line.cloud_spend == Decimal("0.00") for line in result.lines)
    assert "matches several communities (Westbrook College, Westbrook Lab)" in result.problems[0]


def test_problems_given_by_the_caller_come_first() -> None:
    result = batch([lead()], [], [spend("Nobody", "1")], problems=("no cloud spend file x/2026-10.csv",))
    assert result.problems[0] == "no cloud spend file x/2026-10.csv"
    assert result.problems[1].startswith("unknown community 'Nobody'")


def test_month_must_be_yyyy_mm() -> None:
    with pytest.raises(InvoiceError, match=r"month '2026-13' is not YYYY-MM"):
        build_batch("2026-13", [], [], [], TIERS, "USD")
    assert issubclass(InvoiceError, DaemonError)


def test_evidence_from_rows_converts_store_rows() -> None:
    rows = [SimpleNamespace(lead_id=7, kind="confirmation", message_id="c@x", date=datetime(2026, 1, 2), month=None,
                            month_stated=True, tier="Large", price="6000.00"),
            SimpleNamespace(lead_id="7", kind="affirmation", message_id="a@x", date=None, month="2026-10",
                            month_stated=False, tier=None, price=None)]
    assert evidence_from_rows(rows) == [
        EvidenceFact("7", "confirmation", "c@x", datetime(2026, 1, 2), None, "large", Decimal("6000.00")),
        EvidenceFact("7", "affirmation", "a@x", None, "2026-10", None, None, month_stated=False),
    ]


# --- Spend CSV files ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = f"{MONTH}.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_spend_csv_header_in_any_order_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffCurrency, AMOUNT ,Community\nusd,12.50,Westbrook College\n\nUSD,\"1,234.50\",x.org\n")
    assert read_spend_csv(path) == [
        SpendRow("Westbrook College", Decimal("12.50"), "USD", source=path.name, line=2),
        SpendRow("x.org", Decimal("1234.50"), "USD", source=path.name, line=4),
    ]


@pytest.mark.parametrize("header", ["community,amount", "community,amount,currency,notes", "name,amount,currency",
                                    ""])
def test_spend_csv_header_names_are_checked(tmp_path: Path, header: str) -> None:
    path = write(tmp_path, f"{header}\nWestbrook,1,USD\n")
    with pytest.raises(SpendError, match=r"must name exactly the columns community, amount, currency") as caught:
        read_spend_csv(path)
    assert str(path) in str(caught.value)


def test_bad_amount_names_file_line_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "community,amount,currency\nA,1.00,USD\nB,1e3,USD\n")
    with pytest.raises(SpendError) as caught:
        read_spend_csv(path)
    assert str(caught.value).startswith(f"cloud spend file {path} line 3: amount '1e3' is not a decimal amount")


@pytest.mark.parametrize(("text", "expected"), [
    ("1234.50", "1234.50"), ("1,234.50", "1234.50"), ("1,234,567.891", "1234567.891"), (" 7 ", "7"),
    ("-12.00", "-12.00"), ("0.1", "0.1"),
])
def test_amounts_that_parse(text: str, expected: str) -> None:
    amount = parse_amount(text)
    assert amount == Decimal(expected)
    assert str(amount) == expected


@pytest.mark.parametrize("text", ["1e3", "NaN", "Infinity", "1,23", "1.234,50", "1,2345", "$5", "", "12,", "1 234"])
def test_amounts_that_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="is not a decimal amount"):
        parse_amount(text)


@pytest.mark.parametrize(("row", "reason"), [
    ("A,1.00,US Dollars", "currency 'US Dollars' is not a 3-letter code"),
    (",1.00,USD", "community is empty"),
    ("A,1.00", "expected 3 fields, got 2"),
])
def test_bad_rows_name_the_line(tmp_path: Path, row: str, reason: str) -> None:
    path = write(tmp_path, f"community,amount,currency\n{row}\n")
    with pytest.raises(SpendError, match=f"line 2: {reason}"):
        read_spend_csv(path)


def test_spend_for_month_missing_file_is_a_problem_not_an_error(tmp_path: Path) -> None:
    sheet = spend_for_month(tmp_path, "2026-09")
    assert sheet.rows == ()
    assert sheet.problems == (f"no cloud spend file {tmp_path / '2026-09.csv'}: cloud spend for 2026-09 is not "
                              "included",)


def test_spend_for_month_reads_the_month_file(tmp_path: Path) -> None:
    write(tmp_path, "community,amount,currency\nA,1.5,USD\n")
    sheet = spend_for_month(tmp_path, MONTH)
    assert sheet.rows == (SpendRow("A", Decimal("1.5"), "USD", source=f"{MONTH}.csv", line=2),)
    assert sheet.problems == ()


def test_spend_for_month_rejects_a_bad_month(tmp_path: Path) -> None:
    with pytest.raises(InvoiceError, match="not YYYY-MM"):
        spend_for_month(tmp_path, "../2026-10")


def example_leads() -> list[Lead]:
    return [replace(row, id=str(number)) for number, row in enumerate(read_leads_csv(EXAMPLES / "leads.csv"), 1)]


def test_example_spend_file_against_example_leads() -> None:
    sheet = spend_for_month(EXAMPLES / "spend", MONTH)
    result = build_batch(MONTH, example_leads(), [], sheet.rows, Config().tiers, "USD", problems=sheet.problems)
    spend_by_name = {line.community: line.cloud_spend for line in result.lines}
    assert len(result.lines) == 5
    assert all(spend_by_name[name] > 0 for name in ("Riverbend University Hydrology Lab",
                                                    "Bayside Genomics Consortium",
                                                    "Summit State University Neuroscience"))
    assert spend_by_name["Open Ocean Data Alliance"] == Decimal("0.00")
    assert len(result.problems) == 1
    assert result.problems[0].startswith("unknown community")
    # Every example Active Service lead has tier and fee on file: confirmed, but none has affirmed October.
    assert {line.readiness for line in result.lines} == {"missing affirmation"}


# --- CSV attachment and email body ----------------------------------------------------------------


def sample_batch() -> InvoiceBatch:
    leads = [
        lead("1", "Riverbend Hydrology", domain="riverbend.edu", service_tier="medium",
             monthly_fee=Decimal("3000.00"), cloud_billing_managed=True),
        lead("2", "Universidad de Córdoba", domain="uco.es", service_tier="small", monthly_fee=Decimal("1500")),
        lead("3", "Open Ocean", domain="ocean.org", service_tier="small"),
    ]
    evidence = [affirmation("1", message_id="aff@riverbend.edu"), contract("2", message_id="k@uco.es"),
                affirmation("3", message_id="aff@ocean.org")]
    rows = [spend("riverbend.edu", "1,284.37"), spend("Westfield Astronomy", "318.22", line=3)]
    return batch(leads, evidence, rows)


def test_batch_csv_round_trips_through_dictreader() -> None:
    result = sample_batch()
    reader = csv.DictReader(io.StringIO(batch_csv(result).decode("utf-8"), newline=""))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == BATCH_CSV_COLUMNS
    assert [row["community"] for row in rows] == ["Open Ocean", "Riverbend Hydrology", "Universidad de Córdoba"]
    assert rows[1] == {
        "month": MONTH, "community": "Riverbend Hydrology", "tier": "medium", "fee": "3000.00",
        "cloud_spend": "1284.37", "total": "4284.37", "currency": "USD", "readiness": "ready",
        "confirmation_message_id": "", "affirmation_message_id": "aff@riverbend.edu", "contract": "no",
    }
    assert rows[2]["contract"] == "yes"
    assert rows[0]["readiness"] == "missing confirmation"
    assert sum(Decimal(row["total"]) for row in rows) == result.totals["USD"]


def test_batch_csv_defuses_spreadsheet_formulas() -> None:
    result = batch([lead(name="=HYPERLINK(\"http://evil\")")])
    row = next(csv.DictReader(io.StringIO(batch_csv(result).decode("utf-8"))))
    assert row["community"] == "'=HYPERLINK(\"http://evil\")"


def render(result: InvoiceBatch) -> str:
    renderer = NoteRenderer(TEMPLATES, globals_={"currency": "USD"})
    return renderer.render("invoice_batch.txt.j2", batch_variables(result))


def test_template_shows_every_community_totals_and_what_is_missing() -> None:
    text = render(sample_batch())
    for community in ("Riverbend Hydrology", "Universidad de Córdoba", "Open Ocean"):
        assert community in text
    assert "invoice batch for October 2026 (2026-10): 2 of 3 communities" in text
    assert "USD 7,284.37 in all; 5,784.37 ready to invoice" in text
    assert "  - Open Ocean: no service confirmation (tier at a price) on file" in text
    assert "unknown community 'Westfield Astronomy' in 2026-10.csv line 3: 318.22 USD not invoiced" in text
    assert "The line items are attached as CSV (invoice-batch-2026-10.csv)." in text
    assert "contract on file" in text


def test_template_table_columns_line_up() -> None:
    text = render(sample_batch()).splitlines()
    header = next(index for index, row in enumerate(text) if row.startswith("Community"))
    table = text[header:header + 4]
    readiness_column = table[0].index("Readiness")
    total_end = table[0].index("Total") + len("Total")
    assert table[2].startswith("Riverbend Hydrology ")
    assert table[2][readiness_column:] == "ready"
    assert table[2][:total_end].endswith("4,284.37")
    assert table[1][readiness_column:] == "missing confirmation"
    assert all(not row.endswith(" ") for row in table)


def test_template_with_no_active_community() -> None:
    text = render(batch([lead(status=ACTIVE_LEAD)]))
    assert "(no community has an Active Service)" in text
    assert "USD 0.00 in all; 0.00 ready to invoice" in text
    assert "Every community in this batch is ready to invoice." not in text
    assert "Evidence and notes per community" not in text


def test_template_says_when_every_community_is_ready() -> None:
    text = render(batch([lead(service_tier="small", monthly_fee=Decimal("1500"))], [affirmation()]))
    assert "Every community in this batch is ready to invoice." in text
    assert "Not ready to invoice" not in text
    assert "Problems to look at" not in text


def test_template_keeps_community_names_literal() -> None:
    text = render(batch([lead(name="{{ 7*7 }} Lab")]))
    assert "{{ 7*7 }} Lab" in text
    assert "49 Lab" not in text


def test_subject_counts_ready_lines() -> None:
    assert batch_subject(sample_batch()) == "Invoice batch for October 2026: 2 of 3 communities ready"


# --- Schedule ---------------------------------------------------------------------------------


def test_schedule_defaults_and_parsing() -> None:
    assert parse_invoice_schedule({}) == InvoiceSchedule("after-affirmations", time(9, 0), "UTC", 7)
    parsed = parse_invoice_schedule({"send_on": "first-business-day", "at": "07:30", "timezone": "Europe/Berlin",
                                     "currency": "USD"})
    assert parsed == InvoiceSchedule("first-business-day", time(7, 30), "Europe/Berlin")
    assert parse_invoice_schedule({"at": time(18, 0)}).at == time(18, 0)


@pytest.mark.parametrize(("table", "message"), [
    ({"send_on": "monthly"},
     "[invoice] send_on: 'monthly' is not one of after-affirmations, last-day, first-business-day"),
    ({"timezone": "Mars/Olympus"}, "[invoice] timezone: 'Mars/Olympus' is not a known IANA time zone"),
    ({"timezone": "../etc/passwd"}, "[invoice] timezone: '../etc/passwd' is not a known IANA time zone"),
    ({"at": "25:00"}, "[invoice] at: '25:00' is not a time of day"),
    ({"at": "9am"}, "[invoice] at: '9am' is not a time of day"),
    ({"at": 9}, "[invoice] at: 9 is not a time of day"),
    ({"send_on": 1}, "[invoice] send_on: expected a string, got 1"),
])
def test_bad_schedule_names_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_invoice_schedule(table)
    assert str(caught.value).startswith(message)


def test_schedule_validates_when_built_directly() -> None:
    with pytest.raises(ConfigError, match=r"\[invoice\] send_on"):
        InvoiceSchedule(send_on="weekly")
    with pytest.raises(ConfigError, match=r"\[invoice\] at"):
        InvoiceSchedule(at=time(9, 0, tzinfo=UTC))


LAST_DAY = InvoiceSchedule(send_on="last-day")
FIRST_BUSINESS_DAY = InvoiceSchedule(send_on="first-business-day")


def test_last_day_of_february_in_leap_and_common_years() -> None:
    assert send_moment("2028-02", LAST_DAY) == datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    assert send_moment("2027-02", LAST_DAY) == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    assert send_moment("2026-12", LAST_DAY) == datetime(2026, 12, 31, 9, 0, tzinfo=UTC)


def test_first_business_day_skips_the_weekend() -> None:
    assert send_moment("2026-07", FIRST_BUSINESS_DAY) == datetime(2026, 8, 3, 9, 0, tzinfo=UTC)  # 1st: Saturday
    assert send_moment("2026-10", FIRST_BUSINESS_DAY) == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 1st: Sunday
    assert send_moment("2026-11", FIRST_BUSINESS_DAY) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # Tuesday
    assert send_moment("2026-12", FIRST_BUSINESS_DAY) == datetime(2027, 1, 1, 9, 0, tzinfo=UTC)  # across the year


def test_default_moment_is_the_day_after_the_affirmation_window() -> None:
    default = InvoiceSchedule()
    assert send_moment(MONTH, default) == datetime(2026, 11, 8, 9, 0, tzinfo=UTC)  # window: November 1-7
    assert send_moment("2026-12", InvoiceSchedule(affirmation_days=3)) == datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert latest_passed_month(datetime(2026, 11, 7, 23, 59, tzinfo=UTC), default) == "2026-09"
    assert latest_passed_month(datetime(2026, 11, 8, 9, 0, tzinfo=UTC), default) == MONTH
    with pytest.raises(ConfigError, match=r"\[invoice\] affirmation_days: 40 must be"):
        parse_invoice_schedule({"affirmation_days": 40})


def test_send_moment_is_in_the_configured_zone() -> None:
    schedule = InvoiceSchedule(send_on="last-day", at=time(23, 30), timezone="America/Los_Angeles")
    moment = send_moment(MONTH, schedule)
    assert moment.tzinfo == ZoneInfo("America/Los_Angeles")
    assert (moment.date(), moment.time()) == (date(2026, 10, 31), time(23, 30))
    assert moment.astimezone(UTC) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    # Already November in UTC, but October's batch is not due until then.
    assert latest_passed_month(datetime(2026, 11, 1, 6, 29, tzinfo=UTC), schedule) == "2026-09"
    assert latest_passed_month(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), schedule) == MONTH


def test_send_moment_skipped_by_daylight_saving_moves_to_the_real_time() -> None:
    # 2024-03-31 02:30 does not exist in Berlin: clocks jump from 02:00 to 03:00.
    moment = send_moment("2024-03", InvoiceSchedule(send_on="last-day", at=time(2, 30), timezone="Europe/Berlin"))
    assert moment.astimezone(UTC) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert moment.time() == time(3, 30)


def test_due_at_the_moment_not_before_and_only_once() -> None:
    moment = datetime(2026, 10, 31, 9, 0, tzinfo=UTC)
    sent = {"2026-09"}
    assert due_months(moment.replace(minute=0, hour=8), LAST_DAY, sent, "2026-01") == []
    assert due_months(moment, LAST_DAY, sent, "2026-01") == [MONTH]
    sent.add(MONTH)
    assert due_months(moment.replace(hour=10), LAST_DAY, sent, "2026-01") == []


def test_catch_up_after_one_month_of_downtime_sends_the_missed_batch_once() -> None:
    # Down from 30 October to 2 November: October's moment passed while the daemon was off.
    start_up = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert due_months(start_up, LAST_DAY, {"2026-09"}, "2026-01") == [MONTH]
    assert due_months(start_up, LAST_DAY, {"2026-09", MONTH}, "2026-01") == []


def test_catch_up_after_three_months_of_downtime_sends_only_the_latest() -> None:
    start_up = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    sent = {"2026-06", "2026-07"}
    assert due_months(start_up, LAST_DAY, sent, "2026-06") == [MONTH]
    assert unsent_months(start_up, LAST_DAY, sent, "2026-06") == ["2026-08", "2026-09", MONTH]
    assert unsent_months(start_up, LAST_DAY, {*sent, MONTH}, "2026-06") == ["2026-08", "2026-09"]
    assert due_months(start_up, LAST_DAY, {*sent, MONTH}, "2026-06") == []


def test_nothing_due_before_the_first_month() -> None:
    now = datetime(2026, 11, 15, tzinfo=UTC)
    assert due_months(now, LAST_DAY, set(), "2026-11") == []
    assert unsent_months(now, LAST_DAY, set(), "2026-11") == []
    assert due_months(now, LAST_DAY, set(), MONTH) == [MONTH]


def test_first_business_day_batch_is_due_in_the_next_month() -> None:
    sent = {"2026-09"}
    assert due_months(datetime(2026, 11, 1, 12, 0, tzinfo=UTC), FIRST_BUSINESS_DAY, sent, "2026-01") == []
    assert due_months(datetime(2026, 11, 2, 9, 0, tzinfo=UTC), FIRST_BUSINESS_DAY, sent, "2026-01") == [MONTH]


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_months(datetime(2026, 11, 2), LAST_DAY, set(), "2026-01")
