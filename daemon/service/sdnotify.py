"""systemd's notify protocol (READY, WATCHDOG, STATUS, STOPPING): one datagram to $NOTIFY_SOCKET, no libsystemd."""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("daemon.systemd")


class Notifier:
    """Silently does nothing when not started by systemd (no NOTIFY_SOCKET), so the CLI runs anywhere."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog_for_us = usec.isdigit() and (not pid or pid == str(os.getpid()))
        # systemd recommends pinging at half the interval.
        self.watchdog_interval = int(usec) / 2e6 if watchdog_for_us else None
        self._last_ping = 0.0
        self._ready = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def send(self, *lines: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Never block: a reader that stopped reading (a full queue) must not stall the daemon.
                sock.setblocking(False)
                sock.sendto("\n".join(lines).encode(), self.address)
        except BlockingIOError:
            log.warning("sd_notify dropped (the notify socket's queue is full): %s", lines[0])
        except OSError as exc:  # systemd gone or socket unreachable: the daemon's work matters more
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        if not self._ready:
            self._ready = True
            self.send("READY=1", f"STATUS={status}")
            log.info("ready status=%r", status)

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        """Ping at most every half interval; callers may call it as often as they like."""
        if self.watchdog_interval is None:
            return
        now = time.monotonic()
        if now - self._last_ping >= min(self.watchdog_interval, 1.0):
            self._last_ping = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
