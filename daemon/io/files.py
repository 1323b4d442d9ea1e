"""Messages from files: mbox files, Maildirs and folders of .eml files (replays and the embedded default)."""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from daemon.core.item import RawItem
from daemon.errors import ConfigError


def detect_kind(path: Path) -> str:
    """A Maildir, a folder of .eml files, an mbox (starts with a "From " line) or one message file."""
    if path.is_dir():
        return "maildir" if (path / "cur").is_dir() or (path / "new").is_dir() else "emldir"
    if path.is_file():
        with path.open("rb") as handle:
            return "mbox" if handle.read(5) in (b"From ", b"") else "eml"
    raise ConfigError(f"mail source {path} does not exist")


class FileSource:
    """The messages of a file source, read one at a time (memory stays flat), and how many there are."""

    def __init__(self, path: Path, kind: str | None = None) -> None:
        self.path = path
        self.kind = kind or detect_kind(path)
        if self.kind not in KINDS:
            raise ConfigError(f"unknown mail source kind {self.kind!r} for {path}")
        self._count: int | None = None
        self._keys: list[str] | None = None

    def __len__(self) -> int:
        if self.kind == "mbox":
            if self._count is None:
                self._count = sum(1 for _ in _mbox_spans(self._mbox_path()))
            return self._count
        if self.kind == "maildir":
            return len(self._maildir_keys())
        if self.kind == "emldir":
            return len(self._eml_files())
        return 1

    def __iter__(self) -> Iterator[RawItem]:
        if self.kind == "mbox":
            return self._iter_mbox()
        if self.kind == "maildir":
            return self._iter_maildir()
        if self.kind == "emldir":
            return self._iter_emldir()
        return iter([RawItem(f"eml:{self.path.name}", 1, self.path.read_bytes(), str(self.path))])

    def _mbox_path(self) -> Path:
        if not self.path.is_file():
            raise ConfigError(f"mbox file {self.path} does not exist")
        return self.path

    def _iter_mbox(self) -> Iterator[RawItem]:
        """One message at a time, read straight from the file: nothing but the current message is held, not
        even a table of offsets (the standard library's mailbox keeps one entry per message)."""
        source = f"mbox:{self.path.name}"
        for position, (from_line, data) in enumerate(_mbox_messages(self._mbox_path()), start=1):
            yield RawItem(source, position, data, f"{self.path}#{position}", received=from_line_date(from_line))

    def _maildir_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(mailbox.Maildir(str(self.path), create=False).iterkeys())
        return self._keys

    def _iter_maildir(self) -> Iterator[RawItem]:
        box = mailbox.Maildir(str(self.path), create=False)
        for position, key in enumerate(self._maildir_keys(), start=1):
            file = self.path / box._lookup(key)  # delivery writes the file once: its time is the arrival
            received = datetime.fromtimestamp(os.stat(file).st_mtime, UTC)
            yield RawItem(f"maildir:{self.path.name}", position, box.get_bytes(key), f"{self.path}/{key}",
                          received=received)

    def _eml_files(self) -> list[Path]:
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in (".eml", ".msg", ".txt"))
        if not files:
            raise ConfigError(f"{self.path} holds no .eml files")
        return files

    def _iter_emldir(self) -> Iterator[RawItem]:
        for position, file in enumerate(self._eml_files(), start=1):
            yield RawItem(f"emldir:{self.path.name}", position, file.read_bytes(), str(file))


def _mbox_spans(path: Path) -> Iterator[None]:
    """One item per message of an mbox, i.e. per line starting with "From ": counted in blocks of a megabyte,
    without splitting the file into lines or holding any message."""
    with path.open("rb") as handle:
        tail = b"\n"  # the file's start is a line start
        while block := handle.read(1 << 20):
            data = tail + block
            for _ in range(data.count(b"\nFrom ")):
                yield None
            tail = data[-5:]  # a "\nFrom " across two blocks is found in the next; none is counted twice


def _mbox_messages(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """(From_ line, message bytes) of each message, exactly as `mailbox.mbox.get_bytes` returns them: every
    line that starts with "From " starts a message and the blank line before it belongs to the separator.
    Read in blocks of a megabyte and cut where "\nFrom " occurs: only the current block and message are held."""
    with path.open("rb") as handle:
        data, start = b"\n", -1  # data[start:] begins with the "\n" before the current From_ line
        while True:
            block = handle.read(1 << 20)
            data = data[start:] + block if start >= 0 else data[-5:] + block  # junk before the first From_ goes
            start = 0 if start >= 0 else data.find(b"\nFrom ")
            if start >= 0:
                while (end := data.find(b"\nFrom ", start + 1)) >= 0:
                    yield _mbox_message(data[start + 1:end + 1])
                    start = end
            if not block:
                if start >= 0:
                    yield _mbox_message(data[start + 1:])
                return


def _mbox_message(text: bytes) -> tuple[bytes, bytes]:
    """A message's text, From_ line first, into the line and the message (without the separator's blank line)."""
    newline = text.find(b"\n") + 1
    if not newline:
        return text, b""
    body = text[newline:]
    if body == b"\n" or body.endswith(b"\n\n"):
        body = body[:-1]  # the blank line before the next From_ line (or at the end) is the separator's
    return text[:newline], body


def from_line_date(line: bytes) -> datetime | None:
    """The date of an mbox From_ line ("From sender Tue Dec  1 17:00:00 2026", asctime in UTC), or None."""
    words = line.decode("ascii", "replace").split()
    if len(words) < 7:
        return None
    try:
        when = parsedate_to_datetime(" ".join(words[-5:]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


KINDS = ("mbox", "maildir", "emldir", "eml")


def iter_source(path: Path, kind: str | None = None) -> Iterator[RawItem]:
    return iter(FileSource(path, kind))
