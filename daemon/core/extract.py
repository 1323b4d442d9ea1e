"""Facts stated in a message's new text: service tier, monthly price and currency, service start date, and the
month a delivery is affirmed for; in English, Spanish, Portuguese, French and German, without configuration."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any

from daemon.core import dates
from daemon.core.message import Message
from daemon.core.prices import find_amount

FACT_CHARS = 6000  # tiers, prices and dates are stated near the top; a long paste below costs scans, not facts
# What a tier is called before or after its name: "the Medium tier", "plan Básico", "das Paket Forschung".
_AFTER_NAME = r"(?:service\s+|hub\s+)?(?:tier|plan|package|option|level|pack|paket|tarif)\b"
_BEFORE_NAME = (r"\b(?:tier|plan|plano|package|pacote|paquete|nivel|n\u00edvel|formule|offre|forfait|niveau|pakets?|"
                r"tarifs?|stufe|option|opci\u00f3n|op\u00e7\u00e3o|pack)(?!\w)\s*[:\"'\u00ab\u201c]?\s*")
_NAME = r"(?P<n>[^\W\d_][\w-]*)"
_TIER_PATTERNS = (
    re.compile(rf"\b{_NAME}[\s-]+{_AFTER_NAME}", re.IGNORECASE),
    # the lookahead of first letters lets the engine skip to where a tier word can start
    re.compile(rf"(?=[tpnfos]){_BEFORE_NAME}{_NAME}", re.IGNORECASE),
    # a name right before its price: "Going with Pro at $3k", "Medium ($3,000/mo)"
    re.compile(rf"\b{_NAME}\s*(?:(?:hub|service|servicio|servi\u00e7o)\s+)?"
               r"(?:\(|,|\bat\b|\bfor\b|\u00e0|\bpor\b|\bzu\b|\bf\u00fcr\b|-)?\s*"
               r"(?=(?:US\$|R\$|[$\u20ac\u00a3]|USD|EUR|GBP|CHF)\s?\d"
               r"|\d[\d.,\u202f ]*\s?(?:k\s?)?(?:USD|EUR|GBP|CHF|BRL|\u20ac|\$|dollars?|d\u00f3lares|euros?|reais))"),
)
# What the first pattern cannot match without: it tries every word of the text, this one scan skips it where no tier
# word follows a space or dash anywhere.
_AFTER_WORD = re.compile(r"[\s-](?:tier|plan|package|option|level|pack|paket|tarif)\b", re.IGNORECASE)
# Only where none of the above names one and a price is stated: a name said as the thing chosen ("Medium it is!",
# "we'll go with the Research hub", "optamos por Básico", "nous retenons Standard", "wir nehmen Forschung").
_CHOSEN_PATTERNS = (
    re.compile(rf"\b{_NAME}(?:\s+(?:hub|service))?\s+(?:it\s+is|it's)\b", re.IGNORECASE),
    re.compile(rf"\b(?:go(?:ing)?\s+with|went\s+with|opt(?:ed|ing)?\s+for|sign(?:ed)?\s+up\s+for|choose|chose|chosen|"
               rf"pick(?:ed)?|select(?:ed)?|take|proceed\s+with|settle[d]?\s+on|decided\s+on|upgrade\s+to|switch\s+to|"
               rf"optamos\s+por|elegimos|escolhemos|ficamos\s+com|vamos\s+com|vamos\s+con|nos\s+quedamos\s+con|"
               rf"choisissons|optons\s+pour|retenons|partons\s+sur|nehmen|w\u00e4hlen|entscheiden\s+uns\s+f\u00fcr)"
               rf"\s+(?:(?:the|el|la|o|a|le|das|den|die)\s+)?{_NAME}"
               # the name ends what is said (a clause end or its price follows): not "proceed with the Phase IV work"
               r"(?=(?:\s+(?:hub|service|plan|tier|option|package|servicio|servi\u00e7o|formule|paket))?"
               r"(?:\s*[.,;:!)(\u2013-]|\s*$|\s+(?:at|for|\u00e0|por|zu|f\u00fcr|a|de|com|con|pour|then|please|and|y|e|et|und)\b))",
               re.IGNORECASE),
)
_TIER_HINT = re.compile(r"tier|plan|pac?k|paquete|nivel|n\u00edvel|formule|offre|forfait|niveau|tarif|stufe|"
                        r"option|opci|op\u00e7", re.IGNORECASE)
# Capitalised words that are not names of a tier (sentence starts, articles, pronouns, generic nouns).
_NOT_NAMES = frozenset("""
the this that these our your their a an any each every which what same ihr ihre ihren ihrem sie votre vos
su sus seu sua vosso vossa usted ustedes vous new current monthly annual yearly one two
first second next last full whole right other another premium-priced its my his her we i you it they there here
de la el le les los las du des der die das den dem o os um uma ce cette este esta ese esa dieses diesen unser
unsere notre nos nuestro nuestra nosso nossa mensual mensal mensuel monatlich service services hub data cloud
price pricing jupyterhub please thanks thank hi hello dear ok yes no so and or but if
""".split())  # noqa: SIM905 - a word list reads better as text


@dataclass(frozen=True)
class Facts:
    tier: str | None = None
    price: Decimal | None = None
    month: str | None = None  # YYYY-MM
    month_stated: bool = False
    currency: str | None = None  # ISO 4217 code of the stated price
    start_date: date | None = None  # when the sender says the service starts

    def as_json(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict, which deep-copies field by field: this runs for every
        # message recorded.
        return {"tier": self.tier, "price": str(self.price) if self.price is not None else None,
                "month": self.month, "month_stated": self.month_stated, "currency": self.currency,
                "start_date": self.start_date.isoformat() if self.start_date else None}


NO_FACTS = Facts()


def find_tier(text: str, tier_names: Iterable[str], priced: bool = True) -> str | None:
    """Any stated tier, plan or package name (lower case); configured names are recognised in any case."""
    configured = {name.lower() for name in tier_names}
    found: list[tuple[int, str]] = []
    if not (priced or _TIER_HINT.search(text) or (configured and any(n in text.lower() for n in configured))):
        return None  # no tier word, no price, no configured name: one cheap scan instead of three
    if configured:
        # configured names also before "service" / "hub": "small hub service"
        named = _named_tier(frozenset(configured)).search(text)
        if named:
            found.append((named.start("n"), named.group("n").lower()))
    # the third pattern (a name right before a price) only where a price was found
    patterns = _TIER_PATTERNS if priced else _TIER_PATTERNS[:2]
    if not _AFTER_WORD.search(text):
        patterns = patterns[1:]
    _names(patterns, text, configured, found)
    if not found and priced:
        _names(_CHOSEN_PATTERNS, text, configured, found)
    return min(found)[1] if found else None


@lru_cache(maxsize=16)
def _named_tier(configured: frozenset[str]) -> re.Pattern[str]:
    """A configured tier name before "hub" or "service", compiled once per set of names."""
    return re.compile(r"\b(?P<n>" + "|".join(re.escape(n) for n in sorted(configured)) + r")[\s-]+(?:hub|service)\b",
                      re.IGNORECASE)


def _names(patterns: Iterable[re.Pattern[str]], text: str, configured: set[str], found: list[tuple[int, str]]) -> None:
    """The first name each pattern finds: a configured one in any case, else a capitalised word that is no
    article, pronoun or generic noun."""
    for pattern in patterns:
        for match in pattern.finditer(text):
            name = match.group("n")
            lower = name.lower()
            if lower in configured or (name[0].isupper() and lower not in _NOT_NAMES and len(name) > 1):
                found.append((match.start("n"), lower))
                break


def find_price(text: str) -> Decimal | None:
    amount = find_amount(text)
    return amount.value if amount else None


def find_month(text: str, sent: date | None) -> str | None:
    """The month named in `text`, as YYYY-MM; a month without a year is the latest one not after `sent`."""
    return dates.find_month(text, sent)


# The lookahead of first letters lets the engine skip to where a cue can start (twice as fast).
_START = re.compile(r"(?=[sbcleifda\u00e0])(?<!\w)(?:start\w*|begin\w*|commenc\w*|live|launch\w*|from|as of|effective|"
                    r"empezar|comenzar|iniciar|inicio|a partir|comecar|come\u00e7ar|in\u00edcio|d\u00e9marr\w*|"
                    r"demarr\w*|commencer|\u00e0 partir|ab|beginn\w*|los)(?!\w)", re.IGNORECASE)


START_REACH = 40  # characters after a word of starting in which its date begins


def find_start_date(text: str, sent: date | None) -> date | None:
    """The first date named shortly after a word of starting ("starting January 1", "empezar el 1 de julio")."""
    # Stretches of text starting at a cue and reaching START_REACH past the last cue within reach; a date
    # starting in a stretch has its month word, day and year within 60 more characters. Reading these instead of
    # the whole text matters: "from" is in most mail, a start date in little.
    stretches: list[list[int]] = []
    for cue in (m.end() for m in _START.finditer(text)):
        if stretches and cue <= stretches[-1][1]:
            stretches[-1][1] = cue + START_REACH
        else:
            stretches.append([cue, cue + START_REACH])
    found = [(begin + position, day) for begin, end in stretches
             for position, day in dates.find_dates(text[begin:end + 60], sent) if begin + position <= end]
    return min(found)[1] if found else None


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
    text = text[:FACT_CHARS]
    month = find_month(text, sent) or find_month(subject, sent)
    amount = find_amount(text)
    return Facts(tier=find_tier(text, tier_names, amount is not None), price=amount.value if amount else None,
                 month=month, month_stated=month is not None, currency=amount.currency if amount else None,
                 start_date=find_start_date(text, sent))
