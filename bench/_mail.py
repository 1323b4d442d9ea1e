"""Realistic mail for the benches: the shared corpus (written by others: ordinary business mail, auto-replies,
bounces, malformed messages) plus the example mailbox, cycled to any count with unique Message-IDs."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from daemon.io import iter_source
from daemon.settings import PROJECT_ROOT

DEFAULT_CORPUS = Path(os.environ.get("PARTNERSHIPS_CORPUS") or PROJECT_ROOT.parent / "shared" / "corpus")
SKIP = {"MANIFEST.tsv", "SOURCES.md"}
_MESSAGE_ID = re.compile(rb"^Message-ID:[^\n]*\n", re.IGNORECASE | re.MULTILINE)


def corpus_messages(corpus: Path = DEFAULT_CORPUS) -> list[bytes]:
    files = [p for p in sorted(corpus.rglob("*")) if p.is_file() and p.name not in SKIP and "LICENSES" not in p.parts]
    data = [p.read_bytes() for p in files]
    data.extend(item.data for item in iter_source(PROJECT_ROOT / "examples" / "inbox.mbox"))
    return data


def numbered(messages: list[bytes], count: int) -> Iterator[bytes]:
    """`count` messages cycling through `messages`, each with a Message-ID of its own (so none is a duplicate)."""
    for number in range(count):
        data = messages[number % len(messages)]
        header = b"Message-ID: <bench%d@bench.example>\n" % number
        data = _MESSAGE_ID.sub(b"", data, count=1)
        yield header + data if not data.startswith(b"From ") else data.replace(b"\n", b"\n" + header, 1)
