"""MANIAC-T lead qualification: evidence per letter from a message's new text, merged per lead and rendered (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.core.message import Message
from daemon.core.rulefile import (
    checked_rule,
    known_keys,
    one_of,
    read_toml,
    rule_files,
    rule_tables,
    unique_names,
)
from daemon.core.rules import CLASSIFY_CHARS, PatternSet, normalize_text
from daemon.errors import RuleError

LETTERS = ("money", "authority", "need", "impending_event", "application", "competition", "timeline")
LABELS: dict[str, str] = {
    "money": "M — Money",
    "authority": "A — Authority",
    "need": "N — Need",
    "impending_event": "I — Impending event",
    "application": "A — Application",
    "competition": "C — Competition",
    "timeline": "T — Timeline",
}
QUOTE_CHARS = 300
DETAIL_CHARS = 80
CHECKLIST_DETAIL_CHARS = 40
KNOWN, UNKNOWN = "✓", "?"

_TOP_KEYS = {"letter", "description", "define", "capture", "rule"}
_LIST_KEYS = ("text_any", "text_regex", "unless_text", "unless_text_regex")
_RULE_KEYS = {"name", "description", "capture", *_LIST_KEYS}
# `{name}` inserts a [define] fragment; a quantifier such as {2,5} starts with a digit and `\N{...}` is a
# character name, so neither is taken for one.
_FRAGMENT = re.compile(r"(?<!\\N)\{([A-Za-z_]\w*)\}")


# --- evidence -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvidencePiece:
    letter: str  # one of LETTERS
    rule: str  # the rule that found it
    quote: str  # the sentence it was found in, whitespace folded, at most about QUOTE_CHARS
    detail: str  # what the rule's capture pattern picked out (an amount, a date, a provider), or ""
    message_id: str
    date: datetime | None


# --- sentences ----------------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_BULLET = re.compile(r"\s*(?:[-*•·]|\d{1,2}[.)])\s+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+")
# Tokens after which a full stop rarely ends a sentence even when a capital or a digit follows ("Dr. Marsh",
# "e.g. AWS", "Jan. 19"); a lower-case next word already prevents a split, so "etc." needs no entry.
_ABBREVIATIONS = frozenset({
    "dr", "mr", "mrs", "ms", "prof", "st", "mt", "sr", "jr", "e.g", "i.e", "cf", "vs", "approx", "ca", "no",
    "fig", "dept", "univ", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
})
# A line this short inside a paragraph was broken by hand (a greeting, a signature line, "Budget: $20k"),
# not by a client wrapping at 72-78 columns.
_SHORT_LINE = 40


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, whitespace folded: split at . ! ? before a new sentence, blank lines, list items
    and hand-broken short lines; abbreviations, initials and decimals ("$1.5") do not split."""
    sentences: list[str] = []
    for paragraph in _BLANK_LINE.split(normalize_text(text).replace("\r\n", "\n").replace("\r", "\n")):
        for segment in _segments(paragraph.split("\n")):
            sentences.extend(_split_segment(" ".join(segment.split())))
    return [s for s in sentences if s]


def _segments(lines: list[str]) -> Iterable[str]:
    current: list[str] = []
    for line in lines:
        if current and (_BULLET.match(line) or (len(current[-1].strip()) < _SHORT_LINE
                                               and line.lstrip()[:1].isupper())):
            yield "\n".join(current)
            current = []
        current.append(line)
    if current:
        yield "\n".join(current)


def _split_segment(segment: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for end_mark in _SENTENCE_END.finditer(segment):
        end = end_mark.end()
        if end >= len(segment) or segment[end].islower():
            continue
        if segment[end_mark.start()] == "." and _is_abbreviation(segment[start:end_mark.start()]):
            continue
        parts.append(segment[start:end].strip())
        start = end
    parts.append(segment[start:].strip())
    return parts


def _is_abbreviation(before_dot: str) -> bool:
    """Whether the full stop after `before_dot` (the sentence so far) is not a sentence end."""
    if before_dot.strip().isdigit():
        return True  # a list number such as "1." opening the sentence
    words = before_dot.rsplit(None, 1)
    token = words[-1].lstrip("([\"'") if words else ""
    if len(token) == 1:
        return token.isupper() and token != "I"  # an initial, as in "J. Smith"
    # Dotted forms such as "U.S" or "Ph.D": every part is one or two letters.
    return token.lower() in _ABBREVIATIONS or ("." in token and all(0 < len(p) <= 2 and p.isalpha()
                                                                    for p in token.split(".")))


# --- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManiacRule:
    name: str
    letter: str
    file: str
    patterns: PatternSet
    unless: PatternSet
    capture: re.Pattern[str] | None = None

    def match(self, sentence: str) -> str | None:
        """The text that made the rule match `sentence`, or None."""
        hit = self.patterns.first(sentence)
        # Vetoes are checked only after a hit: most sentences match no rule and then cost one scan, not two.
        if hit is None or (self.unless and self.unless.first(sentence) is not None):
            return None
        return hit

    def detail(self, sentence: str) -> str:
        """Every distinct capture in `sentence` (its first group that took part, else the whole match)."""
        if self.capture is None:
            return ""
        found: dict[str, str] = {}
        for match in self.capture.finditer(sentence):
            text = next((g for g in match.groups() if g), match.group(0))
            text = " ".join(text.split()).strip(" ,;:")
            if text:
                found.setdefault(text.casefold(), text)
        return _clip(", ".join(found.values()), DETAIL_CHARS)


@dataclass(frozen=True)
class ManiacRules:
    rules: tuple[ManiacRule, ...]  # in LETTERS order, then file order
    files: tuple[str, ...] = ()

    def extract(self, message: Message) -> list[EvidencePiece]:
        """Evidence in the message's new text (never the quoted history); callers pass inbound messages."""
        return self.extract_text(message.new_text, message_id=message.message_id, date=message.date)

    def extract_text(self, text: str, *, message_id: str, date: datetime | None) -> list[EvidencePiece]:
        pieces: list[EvidencePiece] = []
        for sentence in split_sentences(text[:CLASSIFY_CHARS]):
            taken: set[str] = set()
            for rule in self.rules:
                if rule.letter in taken:
                    continue
                hit = rule.match(sentence)
                if hit is None:
                    continue
                taken.add(rule.letter)
                pieces.append(EvidencePiece(rule.letter, rule.name, _excerpt(sentence, hit), rule.detail(sentence),
                                            message_id, date))
        return pieces


def load_maniac_rules(directory: Path) -> ManiacRules:
    """Read every *.toml in `directory` (one file per letter); any problem raises RuleError naming file, rule
    and reason."""
    files = rule_files(directory, "MANIAC-T rules")
    by_letter: dict[str, list[ManiacRule]] = {letter: [] for letter in LETTERS}
    letter_files: dict[str, str] = {}
    path_letters: dict[Path, str] = {}
    labels: list[str] = []
    for path in files:
        label = f"{directory.name}/{path.name}"
        labels.append(label)
        letter, rules = _load_file(path, label)
        if letter in letter_files:
            raise RuleError(label, None, f"letter {letter!r} already has its rules in {letter_files[letter]}")
        letter_files[letter] = label
        path_letters[path] = letter
        by_letter[letter].extend(rules)
    unique_names((rule.file, rule.name) for path in files for rule in by_letter[path_letters[path]])
    return ManiacRules(tuple(rule for letter in LETTERS for rule in by_letter[letter]), tuple(labels))


def _load_file(path: Path, label: str) -> tuple[str, list[ManiacRule]]:
    data = read_toml(path, label)
    letter = one_of(label, None, "letter", data.get("letter"), LETTERS)
    known_keys(label, None, data, _TOP_KEYS, top_level=True)
    defines = _defines(data.get("define", {}), label)
    file_capture = data.get("capture")
    if file_capture is not None and not isinstance(file_capture, str):
        raise RuleError(label, None, "capture must be a regular expression string")
    default_capture = (_compile(file_capture, defines, "capture", lambda reason: RuleError(label, None, reason))
                       if file_capture is not None else None)
    rules = [_build_rule(label, letter, raw, index, defines, default_capture)
             for index, raw in enumerate(rule_tables(label, data), start=1)]
    return letter, rules


def _defines(table: Any, label: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise RuleError(label, None, "define must be a table of name = \"regex\"")
    defines: dict[str, str] = {}
    for name, pattern in table.items():
        if name in _TOP_KEYS:
            raise RuleError(label, None, f"define.{name}: {name} is a top-level key; put it above [define] "
                                         "(TOML puts every key after a table header into that table)")
        if not isinstance(pattern, str) or not pattern or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise RuleError(label, None, f"define.{name}: expected a name and a non-empty regular expression")

        def fail(reason: str) -> RuleError:
            return RuleError(label, None, reason)

        # A fragment may use the fragments defined above it.
        expanded = _expand(pattern, defines, f"define.{name}", fail)
        _compile(expanded, {}, f"define.{name}", fail)
        defines[name] = expanded
    return defines


def _expand(pattern: str, defines: Mapping[str, str], key: str, fail: Any) -> str:
    def fragment(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in defines:
            raise fail(f"{key}: {{{name}}} is not defined (add it under [define], above its first use)")
        return f"(?:{defines[name]})"

    return _FRAGMENT.sub(fragment, pattern)


def _compile(pattern: str, defines: Mapping[str, str], key: str, fail: Any) -> re.Pattern[str]:
    expanded = _expand(pattern, defines, key, fail)
    try:
        return re.compile(expanded, re.IGNORECASE)
    except re.error as exc:  # named with the pattern as written, before its {fragments} were expanded
        raise fail(f"{key}: bad regular expression {pattern!r}: {exc}") from None


def _build_rule(label: str, letter: str, raw: Any, index: int, defines: Mapping[str, str],
                default_capture: re.Pattern[str] | None) -> ManiacRule:
    name, fail = checked_rule(label, raw, index, _RULE_KEYS, _LIST_KEYS)
    if not raw.get("text_any") and not raw.get("text_regex"):
        raise fail("a rule needs at least one positive condition (text_any or text_regex)")
    capture = raw.get("capture")
    if capture is not None and not isinstance(capture, str):
        raise fail("capture must be a regular expression string")

    def regexes(key: str) -> list[re.Pattern[str]]:
        return [_compile(p, defines, key, fail) for p in raw.get(key, [])]

    try:
        patterns = PatternSet(raw.get("text_any", []), regexes("text_regex"))
        unless = PatternSet(raw.get("unless_text", []), regexes("unless_text_regex"))
    except re.error as exc:  # e.g. a global flag such as (?i) that is valid alone but not inside an alternation
        raise fail(f"the rule's patterns do not combine into one regular expression: {exc}") from None
    return ManiacRule(name=name, letter=letter, file=label, patterns=patterns, unless=unless,
                      capture=_compile(capture, defines, "capture", fail) if capture is not None else default_capture)


# --- merging and rendering ----------------------------------------------------------------------


def merge(existing: Sequence[EvidencePiece], new: Sequence[EvidencePiece]) -> tuple[list[EvidencePiece], bool]:
    """`existing` followed by the pieces of `new` not already known (same letter and quote); changed = any added.

    A sentence repeated in a later message (a signature line, a restated budget) keeps its first source.
    """
    merged = list(existing)
    seen = {(p.letter, p.quote) for p in merged}
    for piece in new:
        key = (piece.letter, piece.quote)
        if key not in seen:
            seen.add(key)
            merged.append(piece)
    return merged, len(merged) > len(existing)


def checklist(pieces: Sequence[EvidencePiece]) -> str:
    """One line for the lead's notes, letters always in MANIAC-T order, e.g.
    `MANIAC-T 5/7: M ✓ (NSF CyberTraining, $480,000) · A ✓ (department chair) · N ? · ...`;
    ✓ = evidence found (with the newest detail), ? = still unknown."""
    grouped = _by_letter(pieces)
    cells = []
    for letter in LETTERS:
        found = grouped[letter]
        if not found:
            cells.append(f"{_initial(letter)} {UNKNOWN}")
            continue
        detail = next((p.detail for p in reversed(found) if p.detail), "")
        cells.append(f"{_initial(letter)} {KNOWN}" + (f" ({_clip(detail, CHECKLIST_DETAIL_CHARS)})" if detail else ""))
    known = sum(1 for letter in LETTERS if grouped[letter])
    return f"MANIAC-T {known}/{len(LETTERS)}: " + " · ".join(cells)


def checklist_details(pieces: Sequence[EvidencePiece]) -> str:
    """Several lines for `partnerships lead SHOW`: each letter with its quotes (oldest first), the detail, the
    message and its date; letters without evidence say "still unknown"."""
    grouped = _by_letter(pieces)
    missing = [_name(letter) for letter in LETTERS if not grouped[letter]]
    known = len(LETTERS) - len(missing)
    lines = [f"MANIAC-T: {known} of {len(LETTERS)} known"
             + (f"; still unknown: {', '.join(missing)}" if missing else "")]
    for letter in LETTERS:
        found = grouped[letter]
        if not found:
            lines.append(f"{LABELS[letter]}: still unknown")
            continue
        lines.append(LABELS[letter])
        for piece in found:
            lines.append(f'  - "{piece.quote}"')
            source = [piece.date.date().isoformat() if piece.date else "undated", f"<{piece.message_id}>",
                      f"rule {piece.rule}"]
            if piece.detail:
                source.insert(0, piece.detail)
            lines.append("    " + " · ".join(source))
    return "\n".join(lines)


def _by_letter(pieces: Iterable[EvidencePiece]) -> dict[str, list[EvidencePiece]]:
    grouped: dict[str, list[EvidencePiece]] = {letter: [] for letter in LETTERS}
    for piece in pieces:
        if piece.letter in grouped:  # evidence of a letter renamed since it was stored is not shown
            grouped[piece.letter].append(piece)
    for found in grouped.values():
        # Stable: undated pieces first, then by date; equal dates keep their stored order.
        found.sort(key=lambda p: (p.date is not None, p.date.timestamp() if p.date else 0.0))
    return grouped


def _initial(letter: str) -> str:
    return LABELS[letter][0]


def _name(letter: str) -> str:
    return LABELS[letter].split(" — ", 1)[1]


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip(" ,;:") + "…"


def _excerpt(sentence: str, hit: str) -> str:
    """The sentence, or for a very long one a window of about QUOTE_CHARS around the match, cut at spaces."""
    if len(sentence) <= QUOTE_CHARS:
        return sentence
    at = max(sentence.find(hit), 0)
    start = max(0, min(at - QUOTE_CHARS // 3, len(sentence) - QUOTE_CHARS))
    if start:
        space = sentence.find(" ", start, at + 1)
        start = space + 1 if space >= 0 else start
    window = _clip(sentence[start:], QUOTE_CHARS)
    return ("…" if start else "") + window
