"""Facts taken from new text: tier, price and affirmed month."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from daemon.core.extract import extract_facts, find_month, find_price, find_tier, month_before

TIERS = ("small", "medium", "large")


@pytest.mark.parametrize(("text", "amount"), [
    ("the Medium tier at $3,000 per month", Decimal("3000")),
    ("small hub service ($1,500/mo)", Decimal("1500")),
    ("USD 6000.00 monthly", Decimal("6000.00")),
    ("about 2.5k USD", Decimal("2500")),
    ("$2k a month", Decimal("2000")),
    ("1,500 dollars per month", Decimal("1500")),
    ("no price here, 3 people", None),
])
def test_price(text: str, amount: Decimal | None) -> None:
    assert find_price(text) == amount


@pytest.mark.parametrize(("text", "tier"), [
    ("the Medium tier at $3,000", "medium"),
    ("small hub service", "small"),
    ("Tier: large", "large"),
    ("a large number of students", None),
])
def test_tier(text: str, tier: str | None) -> None:
    assert find_tier(text, TIERS) == tier


@pytest.mark.parametrize(("text", "sent", "month"), [
    ("services for October were delivered", date(2026, 11, 3), "2026-10"),
    ("services for December were delivered", date(2027, 1, 4), "2026-12"),
    ("the September 2025 services", date(2026, 11, 3), "2025-09"),
    ("we may need more storage", date(2026, 11, 3), None),
    ("delivered for May", date(2026, 6, 2), "2026-05"),
])
def test_month(text: str, sent: date, month: str | None) -> None:
    assert find_month(text, sent) == month


def test_month_before_wraps_the_year() -> None:
    assert month_before(date(2027, 1, 5)) == "2026-12"
    assert month_before(date(2026, 11, 3)) == "2026-10"


def test_month_from_subject_when_text_names_none() -> None:
    facts = extract_facts("Yes, all good!", "Re: Certification of services for October 2026", date(2026, 11, 2), TIERS)
    assert facts.month == "2026-10" and facts.month_stated
