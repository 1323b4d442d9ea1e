"""OAuth2 access tokens: cached and refreshed before they expire (`TokenSource`), and the token files that keep
refresh tokens (written atomically, 0600). A token that cannot be had is a `TokenError`, a ConnectionError, so
the IMAP watcher retries it with backoff like a lost connection. A source remembers whether its last refresh failed
and tells its listeners once per change (the service records it for `status`, the desk, metrics and the digest)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("daemon.oauth")
HTTP_TIMEOUT_SECONDS = 30.0


class TokenError(ConnectionError):
    """No access token could be had (refresh refused, provider unreachable); the message says what to do."""


# Called with the source after its refresh outcome changed, and the problem it had before (None: none, or unknown).
RefreshListener = Callable[["TokenSource", "str | None"], None]


class TokenSource:
    """An access token, cached and refreshed `margin` seconds before it expires; one refresh at a time.

    `problem` is why the last refresh failed (None once one works); `failing_since` when the failures began.
    Listeners hear of every change: the first outcome, a failure, another reason, a refresh that works again."""

    def __init__(self, name: str, fetch: Callable[[], tuple[str, float]], *, margin: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._fetch = fetch  # -> (access token, seconds it stays valid)
        self.margin = margin
        self.clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0
        self.problem: str | None = None
        self.failing_since: float | None = None
        self._known = False  # whether any refresh was tried yet
        self._listeners: dict[str, RefreshListener] = {}

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - self.margin:
                try:
                    value, lifetime = self._fetch()
                except TokenError as exc:
                    self._outcome(str(exc))
                    raise
                self._token, self._expires_at = value, self.clock() + lifetime
                self.refreshes += 1
                log.info("oauth2 token refreshed for %s, valid %.0f s", self.name, lifetime)
                self._outcome(None)
            return self._token

    def listen(self, name: str, listener: RefreshListener) -> None:
        """Tell `listener` of every change from now on (a later one under the same name replaces it); when an
        outcome is known already, it hears of it at once."""
        with self._lock:
            self._listeners[name] = listener
            if self._known:
                listener(self, None)

    def unlisten(self, name: str) -> None:
        with self._lock:
            self._listeners.pop(name, None)

    def _outcome(self, problem: str | None) -> None:
        previous, known = self.problem, self._known
        self.problem, self._known = problem, True
        if problem is None:
            self.failing_since = None
        elif previous is None:
            self.failing_since = self.clock()
        if known and problem == previous:
            return
        for listener in list(self._listeners.values()):
            listener(self, previous)

    def forget(self) -> None:
        """After the server refused the token (revoked early): the next login fetches a new one."""
        with self._lock:
            self._token = None


# -- token files -------------------------------------------------------------------------------------------------


def read_token_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokenError(f"OAuth2 token file {path} does not exist: create it with `partnerships auth`") from None
    except (OSError, ValueError) as exc:
        raise TokenError(f"OAuth2 token file {path} is unreadable: {type(exc).__name__}") from None
    if not isinstance(data, dict) or not data.get("refresh_token"):
        raise TokenError(f"OAuth2 token file {path} holds no refresh_token: create it with `partnerships auth`")
    return data


def write_token_file(path: Path, data: dict[str, Any]) -> None:
    """Atomically (temporary file, fsync, rename) and readable by this user only: a crash never leaves half a
    token, and the refresh token a provider just rotated is never lost."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            json.dump(data, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def default_token_file(state_dir: Path, provider: str) -> Path:
    return state_dir / "credentials" / f"{provider}-token.json"
