"""The long-running loop over an IMAP mailbox: sync every folder, act, wait (IDLE or poll), reconnect on failure."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from imapclient.exceptions import LoginError

from daemon.errors import DaemonError
from daemon.io.imap import CONNECTION_ERRORS, Backoff, ImapSource, StopFlag
from daemon.io.oauth import Login
from daemon.io.tokens import TokenError
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
            # Closed on the way out: a FETCH still outstanding is read off the connection.
            with closing(source.fetch(folder, uidvalidity, uids)) as fetched:
                for item in track(fetched, len(uids), folder, quiet=quiet):
                    pipeline.process(item)
                    read += 1
                    if stop.requested:  # what was processed is committed on the way out: stopping loses nothing
                        return read
    pipeline.finish_pass(started)
    return read


@dataclass
class AuthBackoff:
    """After a refused login: wait base, 2*base, 4*base ... up to an hour. No jitter and no quick retries: a
    provider locks an account that keeps failing (Gmail), and a wrong password is fixed by a person."""

    base: float = 60.0
    cap: float = 3600.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return min(self.cap, self.base * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Problems:
    """Reports a connection problem once per change (a new reason, or recovery), not on every retry. A problem
    `logged` elsewhere (a token refresh: the service says it once, for IMAP and SMTP) changes the state only."""

    on_change: Callable[[str | None], None]
    current: str | None = None
    logged: bool = False

    def failed(self, reason: str, delay: float, *, logged: bool = False) -> None:
        if reason != self.current:
            if not logged:
                log.warning("imap connection failed: %s; retrying in %.1f s (reported again only when this "
                            "changes)", reason, delay)
            self.current, self.logged = reason, logged
            self.on_change(reason)
        else:
            log.debug("imap connection failed again: %s; retrying in %.1f s", reason, delay)

    def recovered(self) -> None:
        if self.current is not None:
            if not self.logged:
                log.warning("imap connection works again after: %s", self.current)
            self.current, self.logged = None, False
            self.on_change(None)


def watch(config: ImapConfig, login: Login | str | Callable[[], Login | str], pipeline: Pipeline, stop: StopFlag, *,
          once: bool = False, on_synced: Callable[[], None] = lambda: None, tick: Callable[[], None] = lambda: None,
          on_disconnected: Callable[[str], None] = lambda reason: None, max_wait: float | None = None,
          on_problem: Callable[[str | None], None] = lambda reason: None, quiet: bool = False) -> None:
    """Run until `stop` is requested (or after one sync with `once`); connection errors never end it.

    `on_synced` follows every completed sync (a real round trip to the server); `max_wait` caps the time
    between two syncs, so a watchdog fed from `on_synced` notices a connection that died silently.
    `on_disconnected` follows every failed attempt; `on_problem` only a change (a new reason; None: recovered).
    A refused login backs off exponentially up to an hour and reads the password again before each try,
    so a fixed credential file is picked up without a restart.
    """
    make_login = login if callable(login) else (lambda: login)
    source = ImapSource(config, make_login())
    backoff = Backoff()
    auth_backoff = AuthBackoff(base=config.auth_retry_seconds)
    problems = Problems(on_problem)
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
                    auth_backoff.reset()
                    problems.recovered()
                    on_synced()
                    if once:
                        return
                    seconds = wait_seconds if source.supports_idle else min(config.poll_seconds, wait_seconds)
                    source.wait_for_change(config.folders[0], seconds, stop, tick)
            except LoginError as exc:
                source.close()
                server = config.server
                reason = f"login refused by {server.host}:{server.port} for {server.username}: {_text(exc)}"
                if once:
                    raise DaemonError(f"IMAP {reason}") from exc
                delay = auth_backoff.next_delay()
                problems.failed(reason, delay)
                on_disconnected(reason)
                _sleep(delay, stop, tick)
                source = ImapSource(config, _reread(make_login))
            except CONNECTION_ERRORS as exc:
                source.close()
                if once:
                    server = config.server
                    raise DaemonError(f"IMAP {server.host}:{server.port}: {type(exc).__name__}: {exc}") from exc
                delay = backoff.next_delay()
                reason = f"{type(exc).__name__}: {exc}"
                problems.failed(reason, delay, logged=isinstance(exc, TokenError))
                on_disconnected(reason)
                _sleep(delay, stop, tick)
    finally:
        source.close()


def _sleep(seconds: float, stop: StopFlag, tick: Callable[[], None]) -> None:
    deadline = time.monotonic() + seconds
    while not stop.requested and time.monotonic() < deadline:
        time.sleep(min(1.0, deadline - time.monotonic()))
        tick()


def _text(exc: BaseException) -> str:
    text = str(exc)
    # imapclient reports the server's answer as a bytes repr: b'[AUTHENTICATIONFAILED] Authentication failed.'
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def _reread(make_login: Callable[[], Login | str]) -> Login | str:
    """The login again (a credential file may have been fixed); unreadable now: try with nothing, fail, wait."""
    try:
        return make_login()
    except DaemonError as exc:
        log.warning("imap password cannot be read: %s", exc)
        return ""
