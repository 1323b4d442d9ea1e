"""Months and dates named in English, Spanish, Portuguese, French and German: "October", "octubre", "1. Juli"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from daemon.core.language import fold

# Accent-folded, lower-case names (and the usual abbreviations) -> month number.
_NAMES: dict[str, int] = {}
for _number, _names in enumerate((
    "january jan enero ene janeiro jan janvier janv januar jän",
    "february feb febrero febr fevereiro fev fevrier fevr februar",
    "march mar marzo marco mars marz maerz",
    "april apr abril abr avril avr",
    "may mayo maio mai",
    "june jun junio junho juin juni",
    "july jul julio julho juillet juil juli",
    "august aug agosto ago aout august",
    "september sep sept septiembre setiembre set setembro septembre",
    "october oct octubre outubro out octobre okt oktober",
    "november nov noviembre novembro novembre",
    "december dec diciembre dic dezembro dez decembre dezember",
), start=1):
    for _name in _names.split():
        _NAMES.setdefault(_name, _number)
# Words that are month names only with a year, a day or a preposition next to them (verbs, names, other words).
_AMBIGUOUS = {"may", "mar", "set", "out", "jan", "ago", "dez", "sep", "mai", "real", "april", "august", "marco",
              "jun", "jul", "oct", "nov", "dec", "feb", "apr", "aug", "ene", "abr", "dic", "fev", "okt", "avr"}
_PREPOSITIONS = r"for|of|in|during|de|del|en|em|do|du|pour|fur|im|für|von|el|por|para|mes\s+de|mois\s+de|month\s+of"
# Accented spellings too, since the text is searched as written: "März", "août", "février", "março".
_SPELLINGS = sorted({*_NAMES, "märz", "août", "février", "févr", "décembre", "março", "jän"}, key=len, reverse=True)
_WORD = "|".join(_SPELLINGS)
# The month word is searched first (one alternation, one word-start check); what stands around it is read from
# short slices, so a text without month names costs one scan.
# The lookahead of first letters lets the engine skip to where a month word can start (2.4x faster than the
# word-start lookbehind alone, which it cannot skip ahead with).
_FIRST_LETTERS = "".join(sorted({word[0] for word in _SPELLINGS}))
_MONTH_WORD = re.compile(rf"(?=[{_FIRST_LETTERS}])(?<!\w)(?:{_WORD})(?!\w)", re.IGNORECASE)
_AFTER = re.compile(r"\.?(?:\s+(?P<day2>\d{1,2})(?:st|nd|rd|th)?\b)?,?(?:\s+(?:de\s+)?(?P<year>20\d\d)\b)?",
                    re.IGNORECASE)
_PREPOSITION_WORDS = frozenset(["for", "of", "in", "during", "de", "del", "en", "em", "do", "du", "pour", "fur",
                                "für", "im", "von", "el", "por", "para"])
_DAY = re.compile(r"(\d{1,2})(?:st|nd|rd|th|er)?\.?$")
_ISO = re.compile(r"\b(?P<year>20\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b")


@dataclass(frozen=True)
class _Mention:
    start: int
    word: str  # folded
    prep: str | None
    day: str | None
    year: str | None


def _mentions(text: str) -> Iterator[_Mention]:
    """Each month word with the preposition or day before it and the day or year after it (read from the words
    around it, which costs far less than a regex tried at every position)."""
    for match in _MONTH_WORD.finditer(text):
        start = match.start()
        words = text[max(0, start - 30):start].lower().split()[-3:]
        if len(words) >= 2 and words[-1] == "de" and _DAY.match(words[-2]):
            words = words[:-1]  # "1 de julio": the day stands before "de"
        last = words[-1] if words else ""
        prep = last if last in _PREPOSITION_WORDS else None
        day_match = None if prep else _DAY.match(last)
        after = _AFTER.match(text, match.end())
        day = (day_match.group(1) if day_match else None) or (after.group("day2") if after else None)
        year = after.group("year") if after else None
        yield _Mention(start - (len(last) + 1 if day_match else 0), fold(match.group(0)), prep, day, year)


def month_number(word: str) -> int | None:
    return _NAMES.get(fold(word).rstrip("."))


def _latest(number: int, year: int | None, sent: date | None) -> int | None:
    if year is not None:
        return year
    if sent is None:
        return None
    return sent.year if number <= sent.month else sent.year - 1


def find_month(text: str, sent: date | None) -> str | None:
    """The first month named in `text` as YYYY-MM; without a year, the latest one not after `sent`."""
    for mention in _mentions(text):
        word = mention.word
        number = _NAMES.get(word)
        if number is None:
            continue
        if word in _AMBIGUOUS and not (mention.year or mention.prep or mention.day):
            continue
        if word in ("may", "mar", "set", "out", "real") and not (mention.year or mention.prep):
            continue
        year = _latest(number, int(mention.year) if mention.year else None, sent)
        if year is not None:
            return f"{year}-{number:02d}"
    return None


def find_dates(text: str, sent: date | None) -> list[tuple[int, date]]:
    """(position, date) of every day-and-month named; without a year, the next one on or after `sent`."""
    found = [(m.start(), date(int(m.group("year")), int(m.group("month")), int(m.group("day"))))
             for m in _ISO.finditer(text) if _valid(int(m.group("year")), int(m.group("month")), int(m.group("day")))]
    for mention in _mentions(text):
        number = _NAMES.get(mention.word)
        day = mention.day
        if number is None or day is None:
            continue
        year = int(mention.year) if mention.year else None
        if year is None:
            if sent is None:
                continue
            year = sent.year if (number, int(day)) >= (sent.month, sent.day) else sent.year + 1
        if _valid(year, number, int(day)):
            found.append((mention.start, date(year, number, int(day))))
    return sorted(found)


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True
