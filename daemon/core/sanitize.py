"""Make a value taken from mail safe to put into a note, a header, a CSV cell or a terminal (pure)."""

from __future__ import annotations

import unicodedata
from typing import Any

# Values from mail are shown to people in one-line places (notes, review reasons, headers, terminals);
# nothing a sender writes there needs more than this.
DEFAULT_LIMIT = 300
ELLIPSIS = "…"

# Bidirectional controls reorder what a reader sees ("Trojan Source"); zero-width and BOM characters hide text.
_INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f"  # zero width space/non-joiner/joiner, LRM, RLM
    "\u202a\u202b\u202c\u202d\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2060\u2066\u2067\u2068\u2069"  # word joiner, LRI, RLI, FSI, PDI
    "\u061c\ufeff"  # Arabic letter mark, BOM
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_control(ch: str) -> bool:
    # Cc: C0 (incl. CR, LF, TAB, ESC) and C1; Cf covers the remaining format characters; line/paragraph separators.
    return ch in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def clean(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """`value` as one line of visible text: control, bidi and invisible characters become a space (runs of
    whitespace collapse), and it is cut to `limit` characters with a trailing ellipsis. None becomes ""."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # Cut before the character scan too, so a megabyte header costs no more than a short one.
    text = text[: limit * 4 + 16]
    out = " ".join("".join(" " if _is_control(ch) else ch for ch in text).split())
    if len(out) > limit:
        out = out[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return out


def clean_block(value: object, limit: int = 4000) -> str:
    """Multi-line text (a message excerpt in a note): line breaks stay, every other control character goes."""
    if value is None:
        return ""
    text = (value if isinstance(value, str) else str(value))[: limit * 2 + 16]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = ["".join(" " if _is_control(ch) else ch for ch in line).rstrip() for line in text.split("\n")]
    out = "\n".join(lines)
    return out if len(out) <= limit else out[: limit - 1] + ELLIPSIS


def csv_cell(value: object, limit: int = DEFAULT_LIMIT) -> str:
    """A CSV cell: `clean`, and a leading formula character quoted away so a spreadsheet shows it as text."""
    text = clean(value, limit)
    return "'" + text if text.startswith(_FORMULA_START) else text


def person(name: object, address: object) -> str:
    """A sender as a reader should see it: the display name and the real address apart, each cleaned, so a
    name that contains another address cannot pass for it."""
    shown_name, shown_address = clean(name, 120), clean(address, 254)
    if not shown_name:
        return f"<{shown_address}>"
    quoted = shown_name.replace('"', "'")
    return f'"{quoted}" <{shown_address}>'


def for_terminal(text: str) -> str:
    """Text for a terminal: line breaks and tabs stay, every other control, escape or bidi character is shown as
    `?`, so mail printed by `review list` or `replay` can neither move the cursor nor reorder what is seen."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(ch if ch in "\n\t" or not _is_control(ch) else "?" for ch in text)


class TerminalSafe:
    """A text stream that passes everything written through `for_terminal` (wraps sys.stdout in the CLI)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(for_terminal(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
