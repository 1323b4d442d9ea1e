"""Amounts of money as people write them: any thousands/decimal convention, `k`, symbols and codes, per month/year.

"$3,000", "USD 3000.00", "3.000,00 €", "EUR 2.500", "3 000 €", "2,5k€", "R$ 12.000,00", "£1,200", "1500 dollars",
"$36,000 per year" (a yearly amount is turned into the monthly fee it implies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# Symbols and codes before or after the number; the longest first so that "US$" wins over "$".
_SYMBOLS = {"us$": "USD", "usd": "USD", "r$": "BRL", "brl": "BRL", "ca$": "CAD", "c$": "CAD", "cad": "CAD",
            "a$": "AUD", "aud": "AUD", "$": "USD", "€": "EUR", "eur": "EUR", "£": "GBP", "gbp": "GBP",
            "chf": "CHF", "mxn": "MXN", "cop": "COP", "inr": "INR", "₹": "INR", "kes": "KES", "zar": "ZAR"}
_WORDS = {"dollars": "USD", "dollar": "USD", "dólares": "USD", "dolares": "USD", "euros": "EUR", "euro": "EUR",
          "reais": "BRL", "real": "BRL", "pounds": "GBP", "libras": "GBP", "francs": "CHF", "franken": "CHF"}
_BEFORE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))
_AFTER = "|".join(re.escape(s) for s in sorted([*_SYMBOLS, *_WORDS], key=len, reverse=True))
# A number: digits with thousands groups separated by , . ' or (narrow) spaces, an optional decimal part, `k`.
_NUMBER = r"\d{1,3}(?:[,.'\u202f\u00a0 ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?<![\w$€£])(?P<c1>{_BEFORE})\s?(?P<n1>{_NUMBER})(?P<k1>\s?k(?![a-z]))?"
    rf"|(?<![\w.,])(?P<n2>{_NUMBER})(?P<k2>\s?k(?![a-z]))?\s?(?P<c2>{_AFTER})(?![a-z])",
    re.IGNORECASE,
)
_PER_YEAR = re.compile(r"^\W{0,3}(?:per|a|an|/|al|por|par|pro|each|every)?\s*(?:year|yr|annum|año|ano|an|jahr)\b"
                       r"|^\W{0,3}(?:annually|yearly|anual(?:es)?|anuais|annuels?|jährlich)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Amount:
    value: Decimal  # per month when the text says per year
    currency: str  # ISO 4217
    yearly: bool = False


def parse_number(text: str) -> Decimal | None:
    """"3.000,50" -> 3000.50, "3,000.50" -> 3000.50, "3 000" -> 3000, "2,5" -> 2.5, "3.000" -> 3000."""
    digits = re.sub(r"[\s\u202f\u00a0']", "", text)
    separators = [i for i, ch in enumerate(digits) if ch in ",."]
    if separators:
        last = separators[-1]
        decimals = len(digits) - last - 1
        whole = re.sub(r"[,.]", "", digits[:last])
        digits = whole + "." + digits[last + 1:] if decimals in (1, 2) else re.sub(r"[,.]", "", digits)
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Amount]:
    found = []
    for match in _AMOUNT.finditer(text):
        number = parse_number(match.group("n1") or match.group("n2"))
        if number is None:
            continue
        unit = (match.group("c1") or match.group("c2")).lower()
        currency = _SYMBOLS.get(unit) or _WORDS[unit]
        if (match.group("k1") or match.group("k2") or "").strip():
            number = (number * 1000).quantize(Decimal(1)) if (number * 1000) % 1 == 0 else number * 1000
        yearly = bool(_PER_YEAR.search(text[match.end():match.end() + 20]))
        value = (number / 12).quantize(Decimal("0.01")) if yearly else number
        found.append(Amount(value, currency, yearly))
    return found


def amount_starts(text: str) -> list[int]:
    """Where each amount of money stated in `text` starts."""
    return [m.start() for m in _AMOUNT.finditer(text) if parse_number(m.group("n1") or m.group("n2")) is not None]


def find_amount(text: str) -> Amount | None:
    amounts = find_amounts(text)
    return amounts[0] if amounts else None
