"""Who is asking: local accounts (argon2 passwords, a session cookie, login rate limiting) or an identity header
set by a single-sign-on proxy, believed only from the configured proxy addresses. Also the CSRF check."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from daemon.errors import ConfigError

log = logging.getLogger("daemon.web.auth")
_HASHER = PasswordHasher()
# Verified against when the account does not exist, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("no such account")
MIN_PASSWORD_CHARS = 10
MAX_TRACKED_KEYS = 10_000


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8025
    # Cookies without Secure only for plain-http tests on loopback (`--insecure-cookie`); refused elsewhere.
    insecure_cookie: bool = False
    sso_header: str | None = None  # e.g. X-Forwarded-Email from oauth2-proxy
    trusted_proxies: tuple[str, ...] = ()  # addresses or networks whose identity header is believed
    session_lifetime: timedelta = timedelta(hours=12)
    login_failures: int = 5  # allowed per account and per address ...
    login_window_seconds: float = 900.0  # ... within this window
    metrics_token: str | None = None  # a bearer token that may read /metrics without signing in

    def __post_init__(self) -> None:
        if self.insecure_cookie and not _is_loopback(self.host):
            raise ConfigError(f"--insecure-cookie is only for http://127.0.0.1 tests, not for {self.host}")
        if self.sso_header and not self.trusted_proxies:
            raise ConfigError("--sso-header needs --trusted-proxy: the header is believed only from the proxy")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(f"--trusted-proxy {proxy!r} is not an IP address or network") from None

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no Domain.
        return "desk_session" if self.insecure_cookie else "__Host-desk_session"


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    return _HASHER.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass
class LoginLimiter:
    """Failed sign-ins per account and per client address in a sliding window; over the limit, sign-in is
    refused (even with the right password) until the oldest failure leaves the window."""

    limit: int
    window: float
    clock: object = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def attempt(self, account_key: str, address_key: str) -> tuple[float, float]:
        """(seconds to wait, 0 when allowed; this attempt's stamp). An allowed attempt counts as a failure
        until `succeeded` says otherwise, so parallel guesses cannot all slip in before the first fails."""
        now = self._now()
        with self._lock:
            wait = max(self._wait(account_key, now), self._wait(address_key, now))
            if wait > 0:
                return wait, now
            if len(self._failures) > MAX_TRACKED_KEYS:  # names made up by the thousand must not fill memory
                for key in [k for k, times in self._failures.items() if self._wait(k, now) == 0.0 and not times]:
                    del self._failures[key]
            for key in (account_key, address_key):
                self._failures.setdefault(key, deque()).append(now)
        return 0.0, now

    def succeeded(self, account_key: str, address_key: str, stamp: float) -> None:
        """The right password: the account's failures are forgotten, and this attempt is not held against
        the address."""
        with self._lock:
            self._failures.pop(account_key, None)
            times = self._failures.get(address_key)
            if times and stamp in times:
                times.remove(stamp)

    def _wait(self, key: str, now: float) -> float:
        times = self._failures.get(key)
        if not times:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def _now(self) -> float:
        return float(self.clock())  # type: ignore[operator]


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The address to rate-limit: the peer, or the last hop a trusted proxy reports."""
    if peer and forwarded_for and is_trusted(peer, trusted_proxies):
        return forwarded_for.split(",")[-1].strip() or peer
    return peer or "unknown"


def is_trusted(peer: str | None, trusted_proxies: Sequence[str]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies)


def sso_identity(settings: WebSettings, peer: str | None, header_value: str | None) -> str | None:
    """The signed-in person a trusted proxy names; a header from anywhere else is ignored (and logged)."""
    if not settings.sso_header or not header_value:
        return None
    if not is_trusted(peer, settings.trusted_proxies):
        log.warning("ignored %s header from untrusted address %s", settings.sso_header, peer)
        return None
    identity = header_value.strip().lower()
    if not identity or len(identity) > 254 or any(c.isspace() or ord(c) < 32 for c in identity):
        return None
    return identity


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
