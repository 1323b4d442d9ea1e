"""Progress of a long pass (a replay, the first sync of a mailbox): a bar on a terminal, a line per N messages
elsewhere (journald), nothing with --quiet."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")
LINE_EVERY = 1000  # messages between two progress lines when not on a terminal
SHOW_FROM = 100  # a pass over fewer messages than this shows no progress: it is over at once


class Progress:
    def __init__(self, total: int | None, label: str, *, quiet: bool = False, stream: IO[str] | None = None,
                 every: int = LINE_EVERY) -> None:
        self.total, self.label, self.every = total, label, every
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._bar: Any = None
        self.enabled = not quiet and (total is None or total >= SHOW_FROM)
        if self.enabled and self.stream.isatty():
            from tqdm import tqdm  # only on a terminal: loading it costs start-up time elsewhere

            self._bar = tqdm(total=total, desc=label, unit="msg", file=self.stream, dynamic_ncols=True,
                             mininterval=0.2)

    def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(count)
        elif self.done % self.every == 0:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        of = f"/{self.total}" if self.total is not None else ""
        eta = (f", about {(self.total - self.done) / rate:.0f} s left" if self.total is not None and rate > 0
               else "")
        return f"progress {self.label}: {self.done}{of} messages, {rate:.0f} msg/s{eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.done % self.every:
            self.stream.write(self.line() + "\n")
            self.stream.flush()


def track(items: Iterable[T], total: int | None, label: str, *, quiet: bool = False,
          stream: IO[str] | None = None) -> Iterator[T]:
    progress = Progress(total, label, quiet=quiet, stream=stream)
    try:
        for item in items:
            yield item
            progress.advance()
    finally:
        progress.close()
