"""Dates stated in mail next to a cue: service end and start dates (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from daemon.core.extract import find_start_date
from daemon.core.stated_dates import end_date

SENT = date(2026, 11, 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("Our service ends on December 31.", date(2026, 12, 31)),
    ("We have decided to end the hub. The last day will be 31 December 2026.", date(2026, 12, 31)),
    ("Please cancel our service effective 2027-01-15, thanks", date(2027, 1, 15)),
    ("We'd like to keep it running until Jan 31st.", date(2027, 1, 31)),
    ("Our service ended on October 31.", date(2026, 10, 31)),  # recent past: this year
    ("We are ending our service. Thanks for everything!", None),
    ("We met on December 3 and talked about the end of the project.", None),  # the cue is after the date
    ("Our service ends on February 30.", None),
    ("The grant ended, so we will end the hub service at the end of December.", date(2026, 12, 31)),
    ("We will keep it until the end of February 2027.", date(2027, 2, 28)),
    ("We would like to stop at the end of March.", date(2027, 3, 31)),  # March is past: next year
])
def test_end_date(text: str, expected: date | None) -> None:
    assert end_date(text, SENT) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("We would like to go ahead with the Medium tier, starting December 1.", date(2026, 12, 1)),
    ("Go ahead! We could begin on 5 January.", date(2027, 1, 5)),
    ("Let's go ahead with the small tier.", None),
    ("Thanks for the call on December 3; we will start once the grant arrives.", None),
    ("We started planning long ago, and at the kickoff on the lovely afternoon of December 3 we agreed.", None),
])
def test_start_date(text: str, expected: date | None) -> None:
    assert find_start_date(text, SENT) == expected
