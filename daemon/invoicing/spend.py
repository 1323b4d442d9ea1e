"""Cloud spend per community for a month, from whichever source the team keeps it in: CSV files in a folder
(`[invoice] spend_dir`) or the Cloud Spend table in Airtable (daemon.invoicing.airtable), behind one interface."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from daemon.invoicing.months import InvoiceError, parse_month

SPEND_COLUMNS = ("community", "amount", "currency")
# Plain digits, or comma-grouped thousands in groups of exactly three: "1,23" or "1.234,50" stay errors.
_AMOUNT = re.compile(r"-?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d+)?")
_CURRENCY = re.compile(r"[A-Za-z]{3}")


def plain_amount(amount: Decimal) -> str:
    return f"{amount:f}"


class SpendError(InvoiceError):
    """A cloud spend CSV is malformed; the message names the file, line and value."""


# --- Cloud spend -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SpendRow:
    community: str
    amount: Decimal
    currency: str
    source: str = ""  # file name, for messages
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.source} line {self.line}" if self.source else f"line {self.line}"

    def describe(self) -> str:
        return f"{self.community!r} in {self.where}: {plain_amount(self.amount)} {self.currency}"


@dataclass(frozen=True)
class SpendSheet:
    """A month's spend rows, plus what kept them from being complete (a missing file)."""

    rows: tuple[SpendRow, ...]
    problems: tuple[str, ...] = ()


def parse_amount(text: str) -> Decimal:
    """'1234.50' or '1,234.50' -> Decimal; exponents, NaN, '1,23' and '1.234,50' raise ValueError."""
    cleaned = text.strip()
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not a decimal amount such as 1234.50 or 1,234.50")
    return Decimal(cleaned.replace(",", ""))


def read_spend_csv(path: Path) -> list[SpendRow]:
    """Parse a spend CSV with exactly the columns community, amount, currency (any case, any order)."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except OSError as exc:
        raise SpendError(f"cloud spend file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpendError(f"cloud spend file {path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = _spend_columns(path, next(reader, None))
        return [row for record in reader if (row := _spend_row(path, reader.line_num, columns, record))]
    except csv.Error as exc:
        raise SpendError(f"cloud spend file {path} line {reader.line_num}: {exc}") from None


def _spend_columns(path: Path, header: list[str] | None) -> dict[str, int]:
    names = [name.strip().lower() for name in header or []]
    if sorted(names) != sorted(SPEND_COLUMNS):
        raise SpendError(f"cloud spend file {path}: header {','.join(header or [])!r} must name exactly the "
                         f"columns {', '.join(SPEND_COLUMNS)}")
    return {name: names.index(name) for name in SPEND_COLUMNS}


def _spend_row(path: Path, line: int, columns: dict[str, int], record: list[str]) -> SpendRow | None:
    if not any(cell.strip() for cell in record):
        return None
    if len(record) != len(columns):
        raise SpendError(f"cloud spend file {path} line {line}: expected {len(columns)} fields, got {len(record)}")
    community, amount, currency = (record[columns[name]].strip() for name in SPEND_COLUMNS)
    if not community:
        raise SpendError(f"cloud spend file {path} line {line}: community is empty")
    if not _CURRENCY.fullmatch(currency):
        raise SpendError(f"cloud spend file {path} line {line}: currency {currency!r} is not a 3-letter code")
    try:
        value = parse_amount(amount)
    except ValueError as exc:
        raise SpendError(f"cloud spend file {path} line {line}: amount {exc}") from None
    return SpendRow(community, value, currency.upper(), source=path.name, line=line)


def spend_file(folder: Path, month: str) -> Path:
    parse_month(month)
    return folder / f"{month}.csv"


def spend_for_month(folder: Path, month: str) -> SpendSheet:
    """Read `<folder>/<YYYY-MM>.csv`; a missing file is a problem for the batch to report, a bad one an error."""
    path = spend_file(folder, month)
    if not path.exists():
        return SpendSheet((), (f"no cloud spend file {path}: cloud spend for {month} is not included",))
    return SpendSheet(tuple(read_spend_csv(path)))


class SpendSource(Protocol):
    """A month's spend rows, and what kept them from being complete (a missing file, an unusable record)."""

    def spend_for_month(self, month: str) -> tuple[list[SpendRow], list[str]]: ...


@dataclass(frozen=True)
class CsvSpend:
    """`<folder>/<YYYY-MM>.csv` per month."""

    folder: Path

    def spend_for_month(self, month: str) -> tuple[list[SpendRow], list[str]]:
        sheet = spend_for_month(self.folder, month)
        return list(sheet.rows), list(sheet.problems)


@dataclass(frozen=True)
class NoSpend:
    """No spend source configured: a batch that needs cloud spend says so."""

    def spend_for_month(self, month: str) -> tuple[list[SpendRow], list[str]]:
        return [], [f"no [invoice] spend_dir configured: cloud spend for {month} is not included"]
