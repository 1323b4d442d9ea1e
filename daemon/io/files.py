"""Messages from files: mbox files, Maildirs and folders of .eml files (replays and the embedded default)."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
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
        self._mbox: mailbox.mbox | None = None
        self._keys: list[str] | None = None

    def __len__(self) -> int:
        if self.kind == "mbox":
            return len(self._mbox_box())
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

    def _mbox_box(self) -> mailbox.mbox:
        if self._mbox is None:
            if not self.path.is_file():
                raise ConfigError(f"mbox file {self.path} does not exist")
            self._mbox = mailbox.mbox(str(self.path), create=False)
        return self._mbox

    def _iter_mbox(self) -> Iterator[RawItem]:
        box = self._mbox_box()
        try:
            # Keys index byte offsets only; each message is read when its turn comes, so memory stays flat.
            for position, key in enumerate(box.iterkeys(), start=1):
                yield RawItem(f"mbox:{self.path.name}", position, box.get_bytes(key), f"{self.path}#{position}")
        finally:
            box.close()
            self._mbox = None

    def _maildir_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(mailbox.Maildir(str(self.path), create=False).iterkeys())
        return self._keys

    def _iter_maildir(self) -> Iterator[RawItem]:
        box = mailbox.Maildir(str(self.path), create=False)
        for position, key in enumerate(self._maildir_keys(), start=1):
            yield RawItem(f"maildir:{self.path.name}", position, box.get_bytes(key), f"{self.path}/{key}")

    def _eml_files(self) -> list[Path]:
        files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in (".eml", ".msg", ".txt"))
        if not files:
            raise ConfigError(f"{self.path} holds no .eml files")
        return files

    def _iter_emldir(self) -> Iterator[RawItem]:
        for position, file in enumerate(self._eml_files(), start=1):
            yield RawItem(f"emldir:{self.path.name}", position, file.read_bytes(), str(file))


KINDS = ("mbox", "maildir", "emldir", "eml")


def iter_source(path: Path, kind: str | None = None) -> Iterator[RawItem]:
    return iter(FileSource(path, kind))
