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


@pytest.mark.parametrize(("text", "amount", "currency"), [
    ("3.000,00 € al mes", Decimal("3000.00"), "EUR"),
    ("EUR 2.500 pro Monat", Decimal("2500"), "EUR"),
    ("3\u202f000 € par mois", Decimal("3000"), "EUR"),
    ("2,5k€ mensuels", Decimal("2500"), "EUR"),
    ("R$ 12.000,00 por mês", Decimal("12000.00"), "BRL"),
    ("£1,200 a month", Decimal("1200"), "GBP"),
    ("US$ 2.750,50 mensuales", Decimal("2750.50"), "USD"),
    ("4.200 CHF monatlich", Decimal("4200"), "CHF"),
    ("$36,000 per year", Decimal("3000.00"), "USD"),  # a yearly amount becomes the monthly fee it implies
])
def test_price_conventions_and_currency(text: str, amount: Decimal, currency: str) -> None:
    facts = extract_facts(text, "", date(2026, 11, 3), ())
    assert (facts.price, facts.currency) == (amount, currency)


@pytest.mark.parametrize(("text", "tier"), [
    ("we'd like the Essentials plan", "essentials"),
    ("el plan Estándar por 3.000 USD", "estándar"),
    ("confirmamos o plano Padrão", "padrão"),
    ("la formule Recherche à 3 000 €", "recherche"),
    ("die Buchung des Pakets Forschung", "forschung"),
    ("Going with Pro at $3k a month", "pro"),
    ("our plan is to meet on Friday", None),
    ("The plan works for us", None),
])
def test_any_tier_name_without_configuration(text: str, tier: str | None) -> None:
    assert find_tier(text, ()) == tier


@pytest.mark.parametrize(("text", "start"), [
    ("with service beginning January 1", date(2027, 1, 1)),
    ("¿Podemos empezar el 1 de diciembre?", date(2026, 12, 1)),
    ("Le service pourrait démarrer le 1 février.", date(2027, 2, 1)),
    ("Start wäre der 1. Dezember.", date(2026, 12, 1)),
    ("We met on December 1 and talked.", None),  # a date, but nothing starts on it
])
def test_start_date(text: str, start: date | None) -> None:
    assert extract_facts(text, "", date(2026, 11, 3), ()).start_date == start


@pytest.mark.parametrize(("text", "month"), [
    ("los servicios de octubre se prestaron", "2026-10"),
    ("os serviços de março foram prestados", "2026-03"),
    ("les services d'août ont été fournis", "2026-08"),
    ("die Leistungen für März wurden erbracht", "2026-03"),
    ("Mai war gut", None),  # "Mai" alone may be a name
])
def test_month_in_other_languages(text: str, month: str | None) -> None:
    assert find_month(text, date(2026, 11, 3)) == month


@pytest.mark.parametrize(("text", "tier"), [
    ("Medium it is! $3,000 monthly is fine, let's roll.", "medium"),
    ("Please accept this as approval to proceed with the Research hub at $2,500.00 per month.", "research"),
    ("We'll go with the Essentials, at USD 1,200 a month.", "essentials"),
    ("Optamos por Básico, 1.500 USD al mes.", "básico"),
    ("As we proceed with the Phase IV expansion, the fee stays at $250.", None),  # a name that is not the choice
])
def test_a_tier_named_as_the_choice_where_a_price_is_stated(text: str, tier: str | None) -> None:
    assert find_tier(text, (), priced=True) == tier


def test_facts_as_json_holds_every_field_in_json_form() -> None:
    from dataclasses import fields
    from datetime import date
    from decimal import Decimal

    from daemon.core.extract import Facts

    facts = Facts("medium", Decimal("3000.00"), "2026-11", True, "USD", date(2026, 12, 1))
    assert facts.as_json() == {"tier": "medium", "price": "3000.00", "month": "2026-11", "month_stated": True,
                               "currency": "USD", "start_date": "2026-12-01"}
    assert set(Facts().as_json()) == {f.name for f in fields(Facts)}
