"""The long-running loop over an IMAP mailbox: sync every folder, act, wait (IDLE or poll), reconnect on failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from daemon.errors import DaemonError
from daemon.io.imap import CONNECTION_ERRORS, Backoff, ImapSource, StopFlag
from daemon.pipeline import Pipeline
from daemon.service.progress import track
from daemon.settings import ImapConfig

log = logging.getLogger("daemon.imap")


def sync_once(source: ImapSource, config: ImapConfig, pipeline: Pipeline, stop: StopFlag, *,
              quiet: bool = False) -> int:
    """Process everything above the stored cursors; returns how many messages were read. A long sync (the
    first one of a mailbox with years of history) shows its progress unless `quiet`."""
    started = pipeline.begin_pass()
    read = 0
    with pipeline.batch():
        for folder in config.folders:
            uidvalidity, uids = source.new_uids(folder, pipeline)
            for item in track(source.fetch(folder, uidvalidity, uids), len(uids), folder, quiet=quiet):
                pipeline.process(item)
                read += 1
                if stop.requested:  # what was processed is committed on the way out: stopping loses nothing
                    return read
    pipeline.finish_pass(started)
    return read


def watch(config: ImapConfig, password: str, pipeline: Pipeline, stop: StopFlag, *, once: bool = False,
          on_synced: Callable[[], None] = lambda: None, tick: Callable[[], None] = lambda: None,
          on_disconnected: Callable[[str], None] = lambda reason: None, max_wait: float | None = None,
          quiet: bool = False) -> None:
    """Run until `stop` is requested (or after one sync with `once`); connection errors never end it.

    `on_synced` follows every completed sync (a real round trip to the server); `max_wait` caps the time
    between two syncs, so a watchdog fed from `on_synced` notices a connection that died silently.
    """
    source = ImapSource(config, password)
    backoff = Backoff()
    # With one folder IDLE pushes its news; other folders are polled, so wake up at the poll interval.
    wait_seconds = config.idle_renew_seconds if len(config.folders) == 1 else min(
        config.idle_renew_seconds, config.poll_seconds)
    if max_wait is not None:
        wait_seconds = min(wait_seconds, max_wait)
    try:
        while not stop.requested:
            try:
                source.connect()
                while not stop.requested:
                    sync_once(source, config, pipeline, stop, quiet=quiet)
                    backoff.reset()
                    on_synced()
                    if once:
                        return
                    seconds = wait_seconds if source.supports_idle else min(config.poll_seconds, wait_seconds)
                    source.wait_for_change(config.folders[0], seconds, stop, tick)
            except CONNECTION_ERRORS as exc:
                source.close()
                if once:
                    server = config.server
                    raise DaemonError(f"IMAP {server.host}:{server.port}: {type(exc).__name__}: {exc}") from exc
                delay = backoff.next_delay()
                log.warning("imap connection failed: %s: %s; reconnecting in %.1f s",
                            type(exc).__name__, exc, delay)
                on_disconnected(f"{type(exc).__name__}: {exc}")
                _sleep(delay, stop, tick)
    finally:
        source.close()


def _sleep(seconds: float, stop: StopFlag, tick: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(1.0, deadline - time.monotonic()))
        tick()
