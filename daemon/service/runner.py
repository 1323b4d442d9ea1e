"""`partnerships run`: owns the lock, signals, systemd notifications, reloads and the loop over the source."""

from __future__ import annotations

import functools
import logging
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

from daemon.core.maniac import load_maniac_rules
from daemon.core.notes import NoteRenderer
from daemon.core.rules import rules_of
from daemon.errors import DaemonError
from daemon.io import FileSource
from daemon.io.imap import source_name
from daemon.io.oauth import Login, make_login, token_source
from daemon.io.tokens import TokenSource
from daemon.pipeline import Pipeline, Summary
from daemon.service.lock import RunLock
from daemon.service.progress import track
from daemon.service.scheduler import InvoiceScheduler
from daemon.service.sdnotify import Notifier
from daemon.service.watch import watch
from daemon.state.models import forget_meta, set_meta
from daemon.state.queries import CONNECTION_KEY, LAST_SYNC_PREFIX, OAUTH_OK, OAUTH_PREFIX, oauth_refresh
from daemon.state.schema import DatabaseLock, describe

if TYPE_CHECKING:
    from daemon.runtime import Runtime

log = logging.getLogger("daemon.run")
LISTENER = "run"  # the name the runner listens to token sources under


@dataclass
class Signals:
    """SIGTERM/SIGINT ask the loop to stop between two messages; SIGHUP asks for a reload of rules and templates."""

    stop_requested: bool = False
    reload_requested: bool = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._reload)

    @property
    def requested(self) -> bool:  # the StopFlag protocol of the watcher
        return self.stop_requested

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        log.warning("stop requested signal=%s: finishing the current message", signal.Signals(signum).name)
        self.stop_requested = True

    def _reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload_requested = True


@dataclass
class Runner:
    runtime: Runtime
    pipeline: Pipeline
    dry_run: bool = False
    once: bool = False
    interval: float = 60.0
    quiet: bool = False  # no progress of a long first pass
    notifier: Notifier = field(default_factory=Notifier)
    signals: Signals = field(default_factory=Signals)
    invoices: InvoiceScheduler | None = None
    synced_at: datetime | None = None
    connection_problem: str | None = None
    smtp_reported: str | None = None

    def run(self) -> Summary:
        config = self.runtime.config
        lock = None if self.dry_run else RunLock(config.state_dir).acquire(wait_for_commands=60)
        shared = None if self.dry_run else DatabaseLock(self.runtime.sessions.kw["bind"], describe(config.database))
        if shared is not None:
            try:
                shared.acquire()
            except BaseException:
                if lock is not None:
                    lock.release()
                raise
        self.signals.install()
        refreshing = self._listen_to_token_refreshes()
        try:
            if not self.dry_run:
                self.invoices = InvoiceScheduler(config, self.runtime.sessions, self.runtime.executor)
                self.invoices.start()
            imap = config.source.imap
            if config.source.kind == "imap" and imap is not None:
                server = imap.server

                def login() -> Login:  # made again after a refused login: the password file may have been fixed
                    return make_login(server, config.state_dir)

                max_wait = self.notifier.watchdog_interval
                watch(imap, login, self.pipeline, self.signals, once=self.once, on_synced=self._synced,
                      tick=self._tick, on_disconnected=self._disconnected, max_wait=max_wait,
                      on_problem=self._connection_problem, quiet=self.quiet)
            else:
                self._watch_files()
        finally:
            for source in refreshing:
                source.unlisten(LISTENER)
            self.notifier.stopping()
            if shared is not None:
                shared.release()
            if lock is not None:
                lock.release()
        return self.pipeline.summary

    def _watch_files(self) -> None:
        source = self.runtime.config.source
        while True:
            messages = FileSource(source.path, source.kind)
            # Only the first pass can be long: later ones find the messages known and pass over them quickly.
            first = self.synced_at is None
            self.pipeline.process_all(track(messages, len(messages), source.path.name, quiet=self.quiet or not first))
            self._synced()
            if self.once or self.signals.stop_requested:
                return
            deadline = time.monotonic() + self.interval
            while time.monotonic() < deadline:
                if self.signals.stop_requested:
                    return
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
                self._tick()
                self.notifier.watchdog()  # re-reading a local file has no connection that could die silently

    def _synced(self) -> None:
        """After every complete pass over the source: the proof of life systemd's watchdog waits for."""
        self.synced_at = datetime.now(UTC)
        config = self.runtime.config
        sources = ([source_name(f) for f in config.source.imap.folders] if config.source.kind == "imap"
                   and config.source.imap else [f"{config.source.kind}:{config.source.path.name}"])
        if not self.dry_run:
            stamp = self.synced_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            values = {f"{LAST_SYNC_PREFIX}{source}": stamp for source in sources}
            values[CONNECTION_KEY] = f"connected (last sync {stamp})"
            set_meta(self.runtime.sessions, values)
        status = self._status_line()
        self.notifier.ready(status)
        self.notifier.status(status)
        self.notifier.watchdog()

    def _disconnected(self, reason: str) -> None:
        # Failing loudly and retrying is alive; only a silent hang should trip the watchdog.
        self.notifier.watchdog()

    def _connection_problem(self, reason: str | None) -> None:
        """Once per change: the state (for `status`), systemd's STATUS= and, the first time, READY=1: the daemon
        is up and retrying, so systemd must not sit in `activating` while the mailbox is unreachable."""
        self.connection_problem = reason
        if reason is None:
            return  # the next sync reports "connected"
        if not self.dry_run:
            set_meta(self.runtime.sessions, {
                CONNECTION_KEY: f"disconnected since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {reason}"})
        status = f"mailbox unreachable, retrying with backoff: {reason}"
        self.notifier.ready(status)
        self.notifier.status(status)
        self.notifier.watchdog()

    def _listen_to_token_refreshes(self) -> list[TokenSource]:
        """Hear of every change of the OAuth2 token refreshes of the mailbox and the mail server (one source when
        they are the same account)."""
        config = self.runtime.config
        servers = []
        if config.source.kind == "imap" and config.source.imap is not None:
            servers.append(("imap", config.source.imap.server))
        if config.send_kind == "smtp" and config.smtp is not None:
            servers.append(("smtp", config.smtp.server))
        channels: dict[int, tuple[TokenSource, list[str]]] = {}
        for channel, server in servers:
            source = token_source(server, config.state_dir)
            if source is not None:
                channels.setdefault(id(source), (source, []))[1].append(channel)
        for source, names in channels.values():
            source.listen(LISTENER, functools.partial(self._token_refresh, tuple(names)))
        oauth = {name for _, names in channels.values() for name in names}
        if not self.dry_run:  # a channel back on a password: its old refresh failure is no longer true
            forget_meta(self.runtime.sessions, [f"{OAUTH_PREFIX}{c}" for c in ("imap", "smtp") if c not in oauth])
        return [source for source, _ in channels.values()]

    def _token_refresh(self, channels: tuple[str, ...], source: TokenSource, previous: str | None) -> None:
        """Once per change: one log line, and per channel "ok" or since when and why the refresh fails, in the state
        (`status`, the desk's health page, /metrics, the weekly digest). The watcher and the outbox retry."""
        stored = {} if self.dry_run else oauth_refresh(self.runtime.sessions)
        problem = source.problem
        if problem is not None:
            since = datetime.fromtimestamp(source.failing_since or time.time(), UTC)
            text = f"refresh failing since {since:%Y-%m-%d %H:%M:%S} UTC for {source.name}: {problem}"
            if not (self.once and "imap" in channels):  # `run --once` ends with this reason as its error line
                log.error("oauth2 token refresh failed for %s (%s): %s; retrying with backoff (reported again "
                          "only when this changes)", source.name, ", ".join(channels), problem)
        else:
            text = OAUTH_OK
            earlier = previous or next((stored[c] for c in channels if stored.get(c, OAUTH_OK) != OAUTH_OK), None)
            if earlier:
                log.warning("oauth2 token refresh works again for %s (%s) after: %s", source.name,
                            ", ".join(channels), earlier)
        # The same failure after a restart keeps the moment it began.
        changed = {f"{OAUTH_PREFIX}{c}": text for c in channels
                   if stored.get(c) != text and not (problem and stored.get(c, "").endswith(f": {problem}"))}
        if changed and not self.dry_run:
            set_meta(self.runtime.sessions, changed)

    def _tick(self) -> None:
        if self.connection_problem is not None:
            self.notifier.watchdog()  # waiting out a backoff (up to an hour) is not a hang
        self.pipeline.execute()
        refused = self.runtime.executor.login_pause.reason
        if refused != self.smtp_reported:  # once per change, like the mailbox's problems
            self.smtp_reported = refused
            self.notifier.status(f"sending paused, smtp login refused: {refused}" if refused
                                 else self._status_line())
        if self.invoices is not None:
            self.invoices.tick()
        if self.signals.reload_requested:
            self.signals.reload_requested = False
            self.reload()

    def reload(self) -> bool:
        """New rules and templates, or (when either is broken) the old ones and a log line saying why."""
        config = self.runtime.config
        try:
            rules = rules_of(config)
            maniac = load_maniac_rules(config.rules_dir / "maniac")
            renderer = NoteRenderer(config.templates_dir, globals_={"currency": config.currency})
            renderer.check()
        except DaemonError as exc:
            log.error("reload failed, keeping the rules and templates in use: %s", exc)
            self.notifier.status(f"reload failed, old rules in use: {exc}")
            return False
        self.pipeline.rules = rules
        self.pipeline.maniac = maniac
        self.runtime.executor.renderer = renderer
        log.warning("reloaded rules=%d templates=%s", len(rules.rules), config.templates_dir)
        self.notifier.status(f"reloaded rules={len(rules.rules)}")
        return True

    def _status_line(self) -> str:
        summary = self.pipeline.summary
        synced = self.synced_at.strftime("%H:%M:%S") if self.synced_at else "never"
        return (f"last sync {synced} UTC; read {summary.read}, reviews {len(summary.reviews)}, "
                f"quarantined {len(summary.quarantined)}")
