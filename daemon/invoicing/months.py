"""Months as the invoice schedule counts them ("YYYY-MM"): parsing, naming, stepping, and when a month's batch
is due (with the catch-up rule after downtime)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta

from daemon.errors import DaemonError
from daemon.settings import InvoiceSchedule

MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class InvoiceError(DaemonError):
    """An invoicing input (month, spend file) is unusable; the message says which and why."""


# --- Months ----------------------------------------------------------------------------------


def parse_month(text: str) -> tuple[int, int]:
    """'2026-10' -> (2026, 10); anything else raises InvoiceError."""
    match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvoiceError(f"month {text!r} is not YYYY-MM (e.g. 2026-10)")
    return int(match.group(1)), int(match.group(2))


def month_of(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def next_month(month: str) -> str:
    year, number = parse_month(month)
    return f"{year + 1}-01" if number == 12 else f"{year}-{number + 1:02d}"


def previous_month(month: str) -> str:
    year, number = parse_month(month)
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def month_label(month: str) -> str:
    """'2026-10' -> 'October 2026' (fixed English names: the locale must not change the email)."""
    year, number = parse_month(month)
    return f"{MONTH_NAMES[number - 1]} {year}"


def _last_day(month: str) -> date:
    year, number = parse_month(month)
    return date(year, number, calendar.monthrange(year, number)[1])


# --- When to send ------------------------------------------------------------------------------


def _first_business_day(month: str) -> date:
    year, number = parse_month(month)
    day = date(year, number, 1)
    while day.weekday() >= 5:  # Saturday, Sunday; public holidays are not known here
        day += timedelta(days=1)
    return day


def send_moment(month: str, schedule: InvoiceSchedule) -> datetime:
    """When `month`'s batch is due, at `at` in the zone: the day after the next month's affirmation window (by
    default), the month's last day, or the first Mon-Fri of the next month."""
    if schedule.send_on == "after-affirmations":
        year, number = parse_month(next_month(month))
        day = date(year, number, schedule.affirmation_days + 1)
    elif schedule.send_on == "last-day":
        day = _last_day(month)
    else:
        day = _first_business_day(next_month(month))
    local = datetime.combine(day, schedule.at, tzinfo=schedule.zone)
    # The round trip through UTC turns a wall time skipped by a DST change into the real one after it.
    return local.astimezone(UTC).astimezone(schedule.zone)


def latest_passed_month(now: datetime, schedule: InvoiceSchedule) -> str:
    """The most recent month whose send moment is at or before `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    month = month_of(now.astimezone(schedule.zone))
    while send_moment(month, schedule) > now:
        month = previous_month(month)
    return month


def unsent_months(now: datetime, schedule: InvoiceSchedule, sent_months: set[str], first_month: str) -> list[str]:
    """Every month from `first_month` whose moment has passed and that has no batch: for status and warnings."""
    last = latest_passed_month(now, schedule)
    months = []
    month = first_month
    while month <= last:  # YYYY-MM strings order like the months they name
        if month not in sent_months:
            months.append(month)
        month = next_month(month)
    return months


def due_months(now: datetime, schedule: InvoiceSchedule, sent_months: set[str], first_month: str) -> list[str]:
    """The batch to send now: the latest passed month if it was not sent, never older ones.

    After downtime that spanned several moments only the most recent missed month is sent (once); older missed
    months are stale and are listed by `unsent_months` for a person to send with `partnerships invoice --month`.
    """
    parse_month(first_month)
    last = latest_passed_month(now, schedule)
    return [last] if last >= first_month and last not in sent_months else []
