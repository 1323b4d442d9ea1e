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


def iter_source(path: Path, kind: str | None = None) -> Iterator[RawItem]:
    kind = kind or detect_kind(path)
    if kind == "mbox":
        return _iter_mbox(path)
    if kind == "maildir":
        return _iter_maildir(path)
    if kind == "emldir":
        return _iter_emldir(path)
    if kind == "eml":
        return iter([RawItem(f"eml:{path.name}", 1, path.read_bytes(), str(path))])
    raise ConfigError(f"unknown mail source kind {kind!r} for {path}")


def _iter_mbox(path: Path) -> Iterator[RawItem]:
    if not path.is_file():
        raise ConfigError(f"mbox file {path} does not exist")
    box = mailbox.mbox(str(path), create=False)
    try:
        # Keys index byte offsets only; each message is read when its turn comes, so memory stays flat.
        for position, key in enumerate(box.iterkeys(), start=1):
            yield RawItem(f"mbox:{path.name}", position, box.get_bytes(key), f"{path}#{position}")
    finally:
        box.close()


def _iter_maildir(path: Path) -> Iterator[RawItem]:
    box = mailbox.Maildir(str(path), create=False)
    for position, key in enumerate(sorted(box.iterkeys()), start=1):
        yield RawItem(f"maildir:{path.name}", position, box.get_bytes(key), f"{path}/{key}")


def _iter_emldir(path: Path) -> Iterator[RawItem]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".eml", ".msg", ".txt"))
    if not files:
        raise ConfigError(f"{path} holds no .eml files")
    for position, file in enumerate(files, start=1):
        yield RawItem(f"emldir:{path.name}", position, file.read_bytes(), str(file))
