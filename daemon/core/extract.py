"""Facts stated in a message's new text: service tier, monthly price, the month a delivery is affirmed for."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.core.message import Message

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
_MONTH_ALTERNATION = "|".join(f"{name[:3]}(?:{name[3:]})?" for name in MONTHS)
# "May" is also a verb; only accept it with a year or after "for"/"of"/"in".
_MONTH = re.compile(
    rf"(?:\b(?P<prep>for|of|in|during)\s+(?:the\s+month\s+of\s+)?)?\b(?P<month>{_MONTH_ALTERNATION})\.?"
    rf"(?:\s+(?P<year>20\d\d))?\b",
    re.IGNORECASE,
)
_PRICE = re.compile(
    r"(?:(?:US)?\$|USD\s?|€|EUR\s?)\s?(?P<a>\d{1,3}(?:,\d{3})+|\d+)(?P<ac>\.\d{1,2})?(?P<ak>\s?[kK]\b)?"
    r"|\b(?P<b>\d{1,3}(?:,\d{3})+|\d+)(?P<bc>\.\d{1,2})?(?P<bk>[kK])?\s?(?:USD|dollars|EUR|euros?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Facts:
    tier: str | None = None
    price: Decimal | None = None
    month: str | None = None  # YYYY-MM
    month_stated: bool = False
    currency: str | None = None  # ISO 4217 code of the stated price
    start_date: date | None = None  # when the sender says the service starts

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["price"] = str(self.price) if self.price is not None else None
        data["start_date"] = self.start_date.isoformat() if self.start_date else None
        return data


def find_tier(text: str, tier_names: Iterable[str]) -> str | None:
    names = "|".join(re.escape(name) for name in tier_names)
    if not names:
        return None
    pattern = re.compile(
        rf"\b(?P<n1>{names})\b[\s-]*(?:hub\s+)?(?:tier|plan|package|service|option|hub)\b"
        rf"|\b(?:tier|plan|package)\s*[:\"']?\s*(?P<n2>{names})\b",
        re.IGNORECASE,
    )
    match = pattern.search(text)
    if match is None:
        return None
    return (match.group("n1") or match.group("n2")).lower()


def find_price(text: str) -> Decimal | None:
    match = _PRICE.search(text)
    if match is None:
        return None
    whole = (match.group("a") or match.group("b")).replace(",", "")
    cents = match.group("ac") or match.group("bc") or ""
    thousands = bool((match.group("ak") or match.group("bk") or "").strip())
    try:
        amount = Decimal(whole + cents)
    except InvalidOperation:
        return None
    return amount * 1000 if thousands else amount


def find_month(text: str, sent: date | None) -> str | None:
    """The month named in `text`, as YYYY-MM; a month without a year is the latest one not after `sent`."""
    for match in _MONTH.finditer(text):
        word = match.group("month")
        if word.lower().startswith("may") and not (match.group("year") or match.group("prep")):
            continue
        number = next(i for i, name in enumerate(MONTHS, start=1) if name.startswith(word.lower()[:3]))
        if match.group("year"):
            return f"{match.group('year')}-{number:02d}"
        if sent is None:
            continue
        year = sent.year if number <= sent.month else sent.year - 1
        return f"{year}-{number:02d}"
    return None


def month_before(sent: date) -> str:
    return f"{sent.year - 1}-12" if sent.month == 1 else f"{sent.year}-{sent.month - 1:02d}"


def facts_of(message: Message, tier_names: Iterable[str]) -> Facts:
    return extract_facts(message.new_text, message.subject, message.date.date() if message.date else None, tier_names)


def affirmed_month(facts: Facts, sent: date | None) -> tuple[str | None, bool]:
    """(month, stated): the month an affirmation names, else the month before it was sent."""
    if facts.month:
        return facts.month, True
    return (month_before(sent), False) if sent else (None, False)


def extract_facts(text: str, subject: str, sent: date | None, tier_names: Iterable[str]) -> Facts:
    month = find_month(text, sent) or find_month(subject, sent)
    return Facts(tier=find_tier(text, tier_names), price=find_price(text), month=month,
                 month_stated=month is not None)
