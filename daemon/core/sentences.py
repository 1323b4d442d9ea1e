"""Split a message's new text into sentences and clauses (where negation and conditions stop reaching)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? ; or a line break, when a space or the end follows ("$2,750.50" and "e.g." survive
# because no space follows the inner dot / the abbreviation list keeps them).
_END = re.compile(r"(?<=[.!?;])\s+|\n+|(?<=[.!?])$")
# A line of a hard-wrapped paragraph continues on the next line when it does not end a sentence and the next
# line starts in lower case ("We're still comparing this with running our\nown hub on campus.").
_WRAPPED = re.compile(r"(?<=[^\W\d_,])[ \t]*\n[ \t]*(?=[^\W\d_A-Z\u00c0-\u00de])")
_ABBREVIATIONS = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|approx|dr|mr|mrs|ms|prof|vs|no|st|inc|ltd|sr|sra|dra)\.|(?:^|\s)\d{1,2}\.)$", re.IGNORECASE)
_ABBREVIATION_REACH = 12
_CLAUSE = re.compile(r"[,:;\u2013\u2014]| - | but | pero | mas | mais | aber | however ")
MAX_SENTENCES = 60


@dataclass(frozen=True)
class Sentence:
    text: str  # as written
    folded: str  # lower case, no accents: what cues are matched against

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?") or self.text.lstrip().startswith("\u00bf")


def split_sentences(text: str) -> list[str]:
    pieces: list[str] = []
    carry = ""
    for piece in _END.split(_WRAPPED.sub(" ", text)):
        piece = (carry + " " + piece).strip() if carry else piece.strip()
        carry = ""
        if not piece:
            continue
        # The pattern ends at the piece's end and is at most 8 characters long: only the tail needs a scan (the
        # engine still sees the characters before where the scan starts, for the word boundary).
        if _ABBREVIATIONS.search(piece, max(0, len(piece) - _ABBREVIATION_REACH)):
            carry = piece
            continue
        pieces.append(piece)
        if len(pieces) >= MAX_SENTENCES:
            break
    if carry:
        pieces.append(carry)
    return pieces


def clause_start(folded: str, position: int) -> int:
    """Where the clause holding `position` begins."""
    start = 0
    for match in _CLAUSE.finditer(folded, 0, position):
        start = match.end()
    return start
