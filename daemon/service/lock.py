"""One writer per state directory: an exclusive flock that the kernel releases when the process dies.

`run` holds it for its whole life. Every other command that can send (`replay`, `review approve`, `invoice`,
`quarantine retry`, ...) records its work in the database (safe beside anyone) and carries it out only while it
holds the lock; when the daemon holds it, the daemon carries the recorded actions out at its next tick."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from daemon.errors import DaemonError
from daemon.filemodes import open_private, private_dir

LOCK_NAME = "run.lock"


class AlreadyRunning(DaemonError):
    pass


class RunLock:
    def __init__(self, state_dir: Path, purpose: str = "run") -> None:
        self.path = state_dir / LOCK_NAME
        self.purpose = purpose
        self._handle: IO[str] | None = None

    def acquire(self, *, wait_for_commands: float = 0.0) -> RunLock:
        """Take the lock or raise. A short-lived command holding it is waited for up to `wait_for_commands` s;
        another `run` never is."""
        deadline = time.monotonic() + wait_for_commands
        while not self.try_acquire():
            pid, purpose = self.holder()
            if purpose == "run" or time.monotonic() >= deadline:
                raise AlreadyRunning(
                    f"another `partnerships {purpose}` (pid {pid}) is acting on {self.path.parent}; only one may. "
                    "`status`, `classify` and `review list` work beside it")
            time.sleep(0.2)
        return self

    def try_acquire(self) -> bool:
        private_dir(self.path.parent)
        handle = os.fdopen(open_private(self.path, os.O_RDWR), "r+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {self.purpose}\n")
        handle.flush()
        self._handle = handle
        return True

    def holder(self) -> tuple[str, str]:
        """(pid, command) of the process holding the lock, as it wrote them."""
        try:
            words = self.path.read_text().split()
        except OSError:
            words = []
        return (words[0] if words else "unknown", words[1] if len(words) > 1 else "run")

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


@contextmanager
def writer(state_dir: Path, purpose: str) -> Iterator[RunLock]:
    """The lock if it is free (`.held`), else an unheld one: the caller then only records, never sends."""
    lock = RunLock(state_dir, purpose)
    lock.try_acquire()
    try:
        yield lock
    finally:
        lock.release()


def lock_holder(state_dir: Path) -> str | None:
    """The pid of the `partnerships run` holding this state's lock, or None when no daemon runs on it."""
    lock = RunLock(state_dir)
    if not lock.path.exists():
        return None
    with lock.path.open("r") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, purpose = lock.holder()
            return pid if purpose == "run" else None
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
