"""One acting daemon per state directory: an exclusive flock that the kernel releases when the process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from daemon.errors import DaemonError


class AlreadyRunning(DaemonError):
    pass


class RunLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "run.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another `partnerships run` (pid {holder}) is acting on {self.path.parent}; only one may. "
                "`status`, `classify` and `review list` work beside it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def lock_holder(state_dir: Path) -> str | None:
    """The pid of the `partnerships run` holding this state's lock, or None when no daemon runs on it."""
    path = state_dir / "run.lock"
    if not path.exists():
        return None
    with path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
