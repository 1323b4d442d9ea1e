"""The monthly invoice batch as pure functions over plain data: readiness, fees and cloud spend per community,
the CSV attachment and the template's variables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from daemon.core.lead import ACTIVE_SERVICE, INACTIVE_SERVICE, Lead
from daemon.core.sanitize import csv_cell
from daemon.invoicing.months import month_label, month_of, parse_month
from daemon.invoicing.spend import SpendRow, plain_amount
from daemon.settings import Tier

CENT = Decimal("0.01")
READY = "ready"
MISSING_AFFIRMATION = "missing affirmation"
MISSING_CONFIRMATION = "missing confirmation"
MISSING_BOTH = "missing confirmation and affirmation"
LEGACY_CONFIRMATION = "confirmation predates the daemon (tier on file)"
BATCH_CSV_COLUMNS = ("month", "community", "tier", "fee", "cloud_spend", "total", "currency", "readiness",
                     "confirmation_message_id", "affirmation_message_id", "contract")


# --- Evidence --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceFact:
    """One recorded piece of evidence, as plain data built from a `store.Evidence` row."""

    lead_id: str
    kind: str  # "confirmation" | "affirmation" | "contract"
    message_id: str
    date: datetime | None = None
    month: str | None = None  # YYYY-MM, affirmations only
    tier: str | None = None
    price: Decimal | None = None
    month_stated: bool = True  # False: the affirmed month was inferred from the reply's date


def evidence_from_rows(rows: Iterable[Any]) -> list[EvidenceFact]:
    """Convert ORM-like objects (lead_id, kind, message_id, date, month, tier, price[, month_stated])."""
    return [
        EvidenceFact(
            lead_id=str(row.lead_id),
            kind=row.kind,
            message_id=row.message_id,
            date=row.date,
            month=row.month,
            tier=row.tier.lower() if row.tier else None,
            price=_stored_price(row.price),
            month_stated=bool(getattr(row, "month_stated", True)),
        )
        for row in rows
    ]


def _stored_price(text: str | None) -> Decimal | None:
    # A price the store cannot give back as a decimal counts as "not stated"; the line's notes then say so.
    if not text:
        return None
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None
    return price if price.is_finite() else None


def _chronological(fact: EvidenceFact) -> tuple[datetime, str]:
    # Store dates are naive UTC, tests and callers may pass aware ones: compare them all as naive UTC.
    moment = fact.date or datetime.min
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment, fact.message_id


@dataclass(frozen=True)
class _LeadEvidence:
    confirmation: EvidenceFact | None  # the latest: it states the tier and price in force
    affirmation: EvidenceFact | None  # the first affirming the batch's month
    contract: EvidenceFact | None


def _evidence_for(lead_id: str, month: str, facts: Sequence[EvidenceFact]) -> _LeadEvidence:
    own = sorted((fact for fact in facts if fact.lead_id == lead_id), key=_chronological)
    confirmations = [fact for fact in own if fact.kind == "confirmation"]
    affirmations = [fact for fact in own if fact.kind == "affirmation" and fact.month == month]
    contracts = [fact for fact in own if fact.kind == "contract"]
    return _LeadEvidence(
        confirmation=confirmations[-1] if confirmations else None,
        affirmation=affirmations[0] if affirmations else None,
        contract=contracts[0] if contracts else None,
    )


def _normalised(name: str) -> str:
    return " ".join(name.split()).casefold()


def _matching_leads(row: SpendRow, leads: Sequence[Lead]) -> list[Lead]:
    key = _normalised(row.community)
    return [lead for lead in leads
            if _normalised(lead.name) == key or (lead.domain and lead.domain.casefold() == key)]


def _assign_spend(leads: Sequence[Lead], spend: Sequence[SpendRow], currency: str,
                  billed: set[str]) -> tuple[dict[str, list[SpendRow]], list[str]]:
    """Spend rows per billed lead (an Active Service that month) with managed billing; every other row becomes
    a problem."""
    assigned: dict[str, list[SpendRow]] = {}
    problems: list[str] = []
    for row in spend:
        matches = _matching_leads(row, leads)
        active = [lead for lead in matches if lead.id in billed]
        if not matches:
            problems.append(f"unknown community {row.describe()} not invoiced")
        elif len(active) > 1:
            names = ", ".join(lead.name for lead in active)
            problems.append(f"spend row {row.describe()} matches several communities ({names}); not invoiced")
        elif not active:
            problems.append(f"spend for {matches[0].name} ({matches[0].status}), {row.describe()}, not invoiced: "
                            f"not an {ACTIVE_SERVICE} community")
        elif not active[0].cloud_billing_managed:
            problems.append(f"spend for {active[0].name}, {row.describe()}, not invoiced: we do not manage "
                            "its cloud billing")
        elif row.currency != currency.upper():
            problems.append(f"currency mismatch: spend for {active[0].name}, {row.describe()}, is not in "
                            f"{currency.upper()}; not invoiced")
        else:
            assigned.setdefault(active[0].id, []).append(row)
    return assigned, problems


# --- The batch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceLine:
    community: str
    lead_id: str
    tier: str | None
    fee: Decimal
    cloud_spend: Decimal
    total: Decimal
    currency: str
    readiness: str
    confirmation_message_id: str | None
    confirmation_date: datetime | None
    affirmation_message_id: str | None
    affirmation_date: datetime | None
    contract: bool
    notes: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.readiness == READY


@dataclass(frozen=True)
class InvoiceBatch:
    month: str
    lines: tuple[InvoiceLine, ...]
    totals: dict[str, Decimal]  # per currency, every line
    ready_totals: dict[str, Decimal]  # per currency, only lines ready to invoice
    ready_count: int
    problems: tuple[str, ...] = ()


def readiness(confirmed: bool, affirmed: bool) -> str:
    if confirmed and affirmed:
        return READY
    if confirmed:
        return MISSING_AFFIRMATION
    return MISSING_CONFIRMATION if affirmed else MISSING_BOTH


def money(amount: Decimal) -> Decimal:
    """Round to cents, half up, the way an invoice shows it."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def build_batch(month: str, leads: Sequence[Lead], evidence: Sequence[EvidenceFact], spend: Sequence[SpendRow],
                tiers: Iterable[Tier], currency: str, *, problems: Sequence[str] = ()) -> InvoiceBatch:
    """One line per Active Service lead, sorted by name; `problems` (e.g. a missing spend file) are carried over."""
    parse_month(month)
    tier_fees = {tier.name.lower(): tier.fee for tier in tiers}
    ended = ended_in(evidence)
    # A service that ended during or after this month was running in it: its fee is due for this month.
    running = [lead for lead in leads if lead.status == ACTIVE_SERVICE
               or (lead.status == INACTIVE_SERVICE and ended.get(lead.id, "") >= month)]
    # A service that starts after this month was not running in it: not billed, but said, never silently left out.
    later = [lead for lead in running if lead.service_start is not None and month_of(lead.service_start) > month]
    active = sorted((lead for lead in running if lead not in later), key=lambda lead: (_normalised(lead.name), lead.id))
    problems = (*problems, *(f"{lead.name}: service starts {lead.service_start.isoformat()}, after {month}: not "
                             f"billed for {month}" for lead in later if lead.service_start is not None))
    assigned, spend_problems = _assign_spend(leads, spend, currency, {lead.id for lead in active})
    built = [_line(month, lead, evidence, assigned.get(lead.id, []), tier_fees, currency.upper())
             for lead in active]
    lines = tuple(line for line, _ in built)
    line_problems = [problem for _, found in built for problem in found]
    return InvoiceBatch(
        month=month,
        lines=lines,
        totals=_totals(lines, currency.upper()),
        ready_totals=_totals([line for line in lines if line.ready], currency.upper()),
        ready_count=sum(line.ready for line in lines),
        problems=(*problems, *spend_problems, *line_problems),
    )


def _totals(lines: Iterable[InvoiceLine], currency: str) -> dict[str, Decimal]:
    # The batch's own currency always appears, so "0.00" is shown rather than no total at all.
    totals = {currency: money(Decimal(0))}
    for line in lines:
        totals[line.currency] = money(totals.get(line.currency, Decimal(0)) + line.total)
    return totals


def _line(month: str, lead: Lead, facts: Sequence[EvidenceFact], spend: Sequence[SpendRow],
          tier_fees: Mapping[str, Decimal], currency: str) -> tuple[InvoiceLine, list[str]]:
    found = _evidence_for(lead.id, month, facts)
    tier, fee, fee_notes, problems = _fee(lead, found.confirmation, tier_fees)
    cloud, spend_notes = _cloud_spend(lead, spend)
    confirmed, confirmation_notes = _confirmed(lead, found.confirmation)
    affirmed, affirmation_notes = _affirmed(found)
    fee = money(fee)
    return InvoiceLine(
        community=lead.name,
        lead_id=lead.id,
        tier=tier,
        fee=fee,
        cloud_spend=cloud,
        total=fee + cloud,
        currency=currency,
        readiness=readiness(confirmed, affirmed),
        confirmation_message_id=found.confirmation.message_id if found.confirmation else None,
        confirmation_date=found.confirmation.date if found.confirmation else None,
        affirmation_message_id=found.affirmation.message_id if found.affirmation else None,
        affirmation_date=found.affirmation.date if found.affirmation else None,
        contract=found.contract is not None,
        notes=(*fee_notes, *spend_notes, *confirmation_notes, *affirmation_notes, *_start_notes(month, lead),
               *_end_notes(month, lead, facts)),
    ), [f"{lead.name}: {problem}" for problem in problems]


def _fee(lead: Lead, confirmation: EvidenceFact | None,
         tier_fees: Mapping[str, Decimal]) -> tuple[str | None, Decimal, list[str], list[str]]:
    """The fee charged: the leads table's, else the price the community confirmed, else the tier's from config."""
    named = lead.service_tier or (confirmation.tier if confirmation else None)
    tier = named.lower() if named else None
    tier_fee = tier_fees.get(tier) if tier else None
    price = confirmation.price if confirmation else None
    notes: list[str] = []
    problems: list[str] = []
    if lead.monthly_fee is not None:
        fee, notes = lead.monthly_fee, ["fee from the leads table"]
    elif price is not None and confirmation is not None:
        fee, notes = price, [f"fee from the price confirmed in <{confirmation.message_id}>"]
    elif tier_fee is not None:
        fee, notes = tier_fee, [f"fee from tier {tier}"]
    else:
        why = f"tier {tier!r} has no fee in [tiers]" if tier else "no service tier on file"
        return tier, Decimal(0), [f"no monthly fee ({why}); fee 0"], [f"no monthly fee: {why}; invoiced at 0"]
    if tier_fee is not None and fee != tier_fee:
        notes.append(f"fee {plain_amount(money(fee))} differs from tier {tier} fee {plain_amount(tier_fee)}")
    if price is not None and confirmation is not None and price != fee:
        difference = f"fee {plain_amount(money(fee))} differs from the price {plain_amount(price)} confirmed in " \
                     f"<{confirmation.message_id}>"
        notes.append(difference)
        problems.append(difference)
    return tier, fee, notes, problems


def _cloud_spend(lead: Lead, rows: Sequence[SpendRow]) -> tuple[Decimal, list[str]]:
    if not lead.cloud_billing_managed:
        return money(Decimal(0)), ["cloud billing not managed by us: no cloud spend"]
    if not rows:
        return money(Decimal(0)), ["no cloud spend reported"]
    # Sum exactly first, round once: rounding each row would drift from the cloud bill.
    total = money(sum((row.amount for row in rows), Decimal(0)))
    where = ", ".join(row.where for row in rows)
    return total, [f"cloud spend from {where}"]


def _confirmed(lead: Lead, confirmation: EvidenceFact | None) -> tuple[bool, list[str]]:
    if confirmation is not None:
        missing = [fact for fact, value in (("tier", confirmation.tier), ("price", confirmation.price))
                   if value is None]
        notes = [f"confirmation <{confirmation.message_id}> states no {' or '.join(missing)}"] if missing else []
        return True, notes
    # Leads that were confirmed before the daemon existed have no recorded email, only the agreed terms.
    if lead.service_tier and lead.monthly_fee is not None:
        return True, [LEGACY_CONFIRMATION]
    return False, []


def _affirmed(found: _LeadEvidence) -> tuple[bool, list[str]]:
    if found.affirmation is not None:
        stated = found.affirmation.month_stated
        return True, [] if stated else [f"affirmed month inferred from the date of <{found.affirmation.message_id}>"]
    if found.contract is not None:
        return True, [f"contract on file <{found.contract.message_id}> instead of a monthly affirmation"]
    return False, []


def ended_in(evidence: Sequence[EvidenceFact]) -> dict[str, str]:
    """Lead id -> the month (YYYY-MM) its service ended, from the `ended` evidence the status move records."""
    return {fact.lead_id: fact.month for fact in sorted(evidence, key=_chronological)
            if fact.kind == "ended" and fact.month}


def _end_notes(month: str, lead: Lead, evidence: Sequence[EvidenceFact]) -> list[str]:
    if lead.status != INACTIVE_SERVICE:
        return []
    end = next((fact for fact in evidence if fact.kind == "ended" and fact.lead_id == lead.id), None)
    if end is None or end.date is None:
        return []
    return [f"service ended {end.date.date().isoformat()}; billed for {month}, the month it was still running"]


def _start_notes(month: str, lead: Lead) -> list[str]:
    start = lead.service_start
    if start is None or month_of(start) != month:
        return []
    return [f"service started {start.isoformat()}; fee not prorated"] if start.day > 1 else []


def _missing(line: InvoiceLine, month: str) -> list[str]:
    missing = []
    if line.readiness in (MISSING_CONFIRMATION, MISSING_BOTH):
        missing.append("no service confirmation (tier at a price) on file")
    if line.readiness in (MISSING_AFFIRMATION, MISSING_BOTH):
        missing.append(f"no delivery affirmation for {month_label(month)} and no contract")
    return missing


# --- Output: CSV attachment, template variables ------------------------------------------------


def _display(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _cell(text: str | None) -> str:
    # Names can come from email: control characters go, and a spreadsheet must not run a cell as a formula.
    return csv_cell(text)


def csv_filename(month: str) -> str:
    parse_month(month)
    return f"invoice-batch-{month}.csv"


def batch_csv(batch: InvoiceBatch) -> bytes:
    """The line items as UTF-8 CSV with BATCH_CSV_COLUMNS; amounts as plain decimal strings."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(BATCH_CSV_COLUMNS)
    for line in batch.lines:
        writer.writerow([
            batch.month, _cell(line.community), _cell(line.tier), plain_amount(line.fee),
            plain_amount(line.cloud_spend),
            plain_amount(line.total), line.currency, line.readiness, _cell(line.confirmation_message_id),
            _cell(line.affirmation_message_id), "yes" if line.contract else "no",
        ])
    return out.getvalue().encode("utf-8")


def batch_subject(batch: InvoiceBatch, correction: str | None = None) -> str:
    subject = (f"Invoice batch for {month_label(batch.month)}: {batch.ready_count} of {len(batch.lines)} "
               "communities ready")
    return f"CORRECTED {subject}" if correction else subject


def _line_variables(line: InvoiceLine, month: str) -> dict[str, Any]:
    return {
        "community": line.community,
        "tier": line.tier or "-",
        "fee": _display(line.fee),
        "cloud_spend": _display(line.cloud_spend),
        "total": _display(line.total),
        "currency": line.currency,
        "readiness": line.readiness,
        "ready": line.ready,
        "missing": _missing(line, month),
        "confirmation_message_id": line.confirmation_message_id,
        "confirmation_date": line.confirmation_date.date().isoformat() if line.confirmation_date else None,
        "affirmation_message_id": line.affirmation_message_id,
        "affirmation_date": line.affirmation_date.date().isoformat() if line.affirmation_date else None,
        "contract": line.contract,
        "notes": list(line.notes),
    }


_TABLE_HEADINGS = {"community": "Community", "tier": "Tier", "fee": "Fee", "cloud_spend": "Cloud spend",
                   "total": "Total", "currency": "Currency", "readiness": "Readiness"}


def batch_variables(batch: InvoiceBatch, correction: str | None = None) -> dict[str, Any]:
    """What templates/invoice_batch.txt.j2 renders: strings, counts and lists, no arithmetic left to do;
    `correction` is the reason a corrected batch replaces the one sent before (None for the first one)."""
    lines = [_line_variables(line, batch.month) for line in batch.lines]
    widths = {key: max([len(heading), *(len(line[key]) for line in lines)])
              for key, heading in _TABLE_HEADINGS.items()}
    return {
        "month": batch.month,
        "month_label": month_label(batch.month),
        "lines": lines,
        "not_ready": [line for line in lines if not line["ready"]],
        "line_count": len(lines),
        "ready_count": batch.ready_count,
        "headings": _TABLE_HEADINGS,
        "widths": widths,
        "totals": [{"currency": code, "amount": _display(amount),
                    "ready": _display(batch.ready_totals.get(code, Decimal(0)))}
                   for code, amount in batch.totals.items()],
        "problems": list(batch.problems),
        "attachment_name": csv_filename(batch.month),
        "correction": correction,
    }
