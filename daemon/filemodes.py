"""Files only the daemon's own user may read: the state directory 0700 and every file in it 0600, whatever
the umask (the state holds raw customer mail). A leaf module: stdlib only, usable from every layer."""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as 0700. An existing one of ours that others may read is narrowed
    to 0700 (the repository's `state/` comes out of git as 0755); one owned by someone else is left alone and
    `check` reports it."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered through the umask
        return path
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, flags: int) -> int:
    """os.open with O_CREAT and mode 0600 applied after the umask; returns the descriptor."""
    descriptor = os.open(path, flags | os.O_CREAT, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) & 0o077:
            os.fchmod(descriptor, FILE_MODE)
    except OSError:
        os.close(descriptor)
        raise
    return descriptor


def touch_private(path: Path) -> None:
    """Create `path` empty as 0600 unless it exists (SQLite then creates its -wal and -shm files alike)."""
    os.close(open_private(path, os.O_WRONLY))


def too_open(state_dir: Path) -> list[str]:
    """The state directory, its subdirectories and files that others than the owner may read or write."""
    if not state_dir.is_dir():
        return []
    found = []
    for path in (state_dir, *sorted(state_dir.rglob("*"))):
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except OSError:
            continue
        if path.is_symlink() or not mode & 0o077:
            continue
        found.append(f"{path} is {mode:04o} (want {DIR_MODE if path.is_dir() else FILE_MODE:04o})")
    return found
