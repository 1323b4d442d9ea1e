"""Pure helpers that turn stored facts into what a page shows: the message with its deciding sentence marked,
proposed actions in plain words, the note a forward would carry. No I/O, no HTML: templates escape everything."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.core.kinds import ActionKind
from daemon.core.lead import Lead
from daemon.core.maniac import LABELS, LETTERS
from daemon.core.message import Attachment, MalformedMessage, parse
from daemon.core.notes import NoteRenderer
from daemon.core.wording import describe
from daemon.errors import DaemonError

# Where a sentence ends: after . ! ? or at a line break (mail is often written one thought per line).
_SENTENCE_BOUNDARY = re.compile(r"[.!?]+(?=\s)|\n")
NEW_HUB_PLACEHOLDER = "(the pre-filled New Hub issue link is made when the forward is sent)"


@dataclass(frozen=True)
class Segment:
    text: str
    marked: bool  # the sentence that decided the classification


@dataclass(frozen=True)
class ShownMessage:
    new_text: list[Segment]
    attachments: tuple[Attachment, ...]
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    available: bool  # False when the original bytes were not kept or do not parse


@dataclass(frozen=True)
class PlainAction:
    sentence: str
    note: str | None = None  # the rendered note a forward carries


def show_message(raw: bytes | None, matched: Sequence[str]) -> ShownMessage:
    if raw is None:
        return ShownMessage([], (), "", (), (), available=False)
    try:
        message = parse(raw)
    except MalformedMessage:
        return ShownMessage([], (), "", (), (), available=False)
    return ShownMessage(mark_sentences(message.new_text, matched), message.attachments, message.from_name,
                        message.to, message.cc, available=True)


def mark_sentences(text: str, phrases: Sequence[str]) -> list[Segment]:
    """`text` cut into plain and marked pieces: a piece is marked when it is a sentence holding a matched phrase.
    Subject matches ("subject: ...") are not in the text and mark nothing."""
    wanted = [p for p in phrases if p and not p.lower().startswith("subject:")]
    spans: list[tuple[int, int]] = []
    for phrase in wanted:
        for found in re.finditer(re.escape(phrase), text, re.IGNORECASE):
            spans.append(_sentence_around(text, found.start(), found.end()))
    segments: list[Segment] = []
    position = 0
    for start, end in sorted(_merged(spans)):
        if start > position:
            segments.append(Segment(text[position:start], False))
        segments.append(Segment(text[start:end], True))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:], False))
    return segments


def _sentence_around(text: str, start: int, end: int) -> tuple[int, int]:
    before = [m.end() for m in _SENTENCE_BOUNDARY.finditer(text, 0, start)]
    after = _SENTENCE_BOUNDARY.search(text, end)
    begin = before[-1] if before else 0
    while begin < start and text[begin].isspace():
        begin += 1
    if after is None:
        return begin, len(text)
    return begin, after.start() if after.group() == "\n" else after.end()


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# The kinds of reason `decide` and the executor give for a review item, by a phrase each one contains.
REASON_LABELS = (
    ("sender not verified", "Unauthenticated sender"),
    ("is not an allowed move", "Move not allowed"),
    ("is not a known contact", "Unknown contact"),
    ("confidence", "Low confidence"),
    ("refused by the leads table", "Leads table refused"),
)


def reason_labels(reason: str) -> list[str]:
    """Short labels for why an item waits, in the order the reasons were given."""
    labels: list[str] = []
    for part in reason.split("; "):
        label = next((label for phrase, label in REASON_LABELS if phrase in part), None)
        if label and label not in labels:
            labels.append(label)
    return labels


def describe_actions(proposed: Sequence[Mapping[str, Any]], leads: Mapping[str, Lead], renderer: NoteRenderer,
                     operations: str) -> list[PlainAction]:
    """Each proposed action as one sentence a sales person can check; a forward with the note it would carry."""
    return [_describe(action["kind"], action.get("payload") or {}, leads, renderer, operations)
            for action in proposed]


def _lead_name(reference: Any, leads: Mapping[str, Lead]) -> str:
    lead = leads.get(str(reference))
    if lead is not None:
        return lead.name
    return "the new lead" if str(reference).startswith("new:") else f"lead {reference}"


def _describe(kind: str, payload: Mapping[str, Any], leads: Mapping[str, Lead], renderer: NoteRenderer,
              operations: str) -> PlainAction:
    """The same sentence `review list` prints (daemon.core.wording), and for a forward the note it would send."""
    name = _lead_name(payload.get("lead"), leads)
    if kind == ActionKind.FORWARD:
        return PlainAction(f"forward the message to operations ({operations}) with this note", _note(payload, renderer))
    return PlainAction(describe(kind, payload, name))


def _note(payload: Mapping[str, Any], renderer: NoteRenderer) -> str:
    variables = dict(payload.get("vars") or {})
    variables.setdefault("new_hub_url", NEW_HUB_PLACEHOLDER)
    # Filled in by the executor when the forward goes out (from the mail and the approval): unknown here.
    for name in ("flag", "billing_contact", "approved_by", "start_date"):
        variables.setdefault(name, None)
    try:
        return renderer.render(str(payload.get("template")), variables)
    except DaemonError as exc:
        return f"(the note cannot be previewed: {exc})"


@functools.cache
def letters_covered(letters: frozenset[str]) -> list[tuple[str, str, bool]]:
    """(initial, name, covered) for each MANIAC-T letter, in order (a board shows a thousand of these)."""
    return [(LABELS[letter][0], LABELS[letter].split(" — ", 1)[-1], letter in letters) for letter in LETTERS]


def ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = (now - moment).total_seconds()
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min ago"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"
