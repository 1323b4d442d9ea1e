"""The date a service ends, as a message's new text states it next to a cue ("our service ends on December 31",
"until the end of March"): pure, so decide and the executor ask for the day a change takes effect. (A start date
is a fact of the classification: daemon.core.extract.find_start_date.)"""

from __future__ import annotations

import re
from datetime import date, timedelta

from daemon.core.dates import month_number

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_MONTH_NAME = "|".join(f"{name[:3]}(?:{name[3:]})?" for name in MONTHS)
_DAY = r"(?P<{0}>[0-3]?\d)(?:st|nd|rd|th)?"
_DATE = re.compile(
    rf"\b(?P<iso>20\d\d-[01]\d-[0-3]\d)\b"
    rf"|\b(?P<m1>{_MONTH_NAME})\.?\s+{_DAY.format('d1')}\b(?:,?\s+(?P<y1>20\d\d))?"
    rf"|\b{_DAY.format('d2')}\s+(?:of\s+)?(?P<m2>{_MONTH_NAME})\b\.?(?:,?\s+(?P<y2>20\d\d))?",
    re.IGNORECASE,
)
END_CUES = ("end", "ends", "ending", "ended", "last day", "until", "through", "terminate", "terminates",
            "cancel", "cancels", "wind down", "shut down", "discontinue", "expire", "expires")
CUE_WINDOW = 40  # characters before the date in which the cue must stand
# A stated date without a year lies within this many days before the message, else in the next year.
_PAST_WINDOW = timedelta(days=180)


def _sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if part.strip()]


def _cue_before(sentence: str, position: int, cues: tuple[str, ...]) -> bool:
    """A cue shortly before the date ("ends on", "the last day will be", "cancel our service effective")."""
    before = sentence[max(0, position - CUE_WINDOW):position].lower()
    return any(re.search(rf"\b{re.escape(cue)}\b", before) for cue in cues)


def _as_date(match: re.Match[str], sent: date) -> date | None:
    try:
        if match.group("iso"):
            return date.fromisoformat(match.group("iso"))
        month = month_number(match.group("m1") or match.group("m2"))
        if month is None:
            return None
        day = int(match.group("d1") or match.group("d2"))
        year = match.group("y1") or match.group("y2")
        if year:
            return date(int(year), month, day)
        stated = date(sent.year, month, day)
        return stated if stated >= sent - _PAST_WINDOW else date(sent.year + 1, month, day)
    except ValueError:  # "February 30": not a date
        return None


def stated_date(text: str, sent: date, cues: tuple[str, ...]) -> date | None:
    """The first date in a sentence that has one of `cues` before it; a date without a year is the nearest
    one (up to half a year back, else ahead). None when the text names none."""
    for sentence in _sentences(text):
        # "May" is also a verb; the pattern only takes a month name with a day right next to it.
        for match in _DATE.finditer(sentence):
            if _cue_before(sentence, match.start(), cues):
                found = _as_date(match, sent)
                if found is not None:
                    return found
    return None


_END_OF_MONTH = re.compile(
    rf"\bend\s+of\s+(?:the\s+month\s+of\s+)?(?P<month>{_MONTH_NAME})\b(?:,?\s+(?P<year>20\d\d))?", re.IGNORECASE)


def end_date(text: str, sent: date) -> date | None:
    """When a service ends, as the message states it ("our service ends on December 31", "at the end of
    December": its last day)."""
    stated = stated_date(text, sent, END_CUES)
    if stated is not None:
        return stated
    match = _END_OF_MONTH.search(text)
    if match is None:
        return None
    month = month_number(match.group("month"))
    if month is None:
        return None
    year = int(match.group("year")) if match.group("year") else sent.year + (month < sent.month)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return following - timedelta(days=1)
