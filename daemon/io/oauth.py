"""Logging in to IMAP and SMTP: a password, or an OAuth2 access token (XOAUTH2 / OAUTHBEARER) from Google or
Microsoft 365 (daemon.io.google_oauth, daemon.io.microsoft_oauth), refreshed before it expires (daemon.io.tokens).

A token that cannot be had raises `TokenError`, a ConnectionError: the IMAP watcher logs it in one line, shows it
in `status` and retries with backoff like any lost connection (the sync cursor is untouched); SMTP sends become
retryable action errors."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from daemon.io.google_oauth import google_service_account_fetch, google_user_fetch
from daemon.io.microsoft_oauth import microsoft_fetch
from daemon.io.tokens import TokenSource, default_token_file
from daemon.settings import OAuthConfig, ServerConfig


class ImapLogin(Protocol):
    def login(self, user: str, password: str) -> Any: ...
    def oauth2_login(self, user: str, access_token: str, mech: str = ...) -> Any: ...
    def oauthbearer_login(self, identity: str, access_token: str) -> Any: ...


class SmtpLogin(Protocol):
    def login(self, user: str, password: str) -> Any: ...
    def auth(self, mechanism: str, authobject: Callable[..., str], *, initial_response_ok: bool = ...) -> Any: ...


class Login(Protocol):
    """How to authenticate an IMAP or SMTP connection as `user`."""

    def imap(self, client: ImapLogin, user: str) -> None: ...
    def smtp(self, client: SmtpLogin, user: str) -> None: ...


@dataclass(frozen=True)
class PasswordLogin:
    password: str

    def imap(self, client: ImapLogin, user: str) -> None:
        client.login(user, self.password)

    def smtp(self, client: SmtpLogin, user: str) -> None:
        client.login(user, self.password)


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google's and Microsoft's format), before base64."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


@dataclass
class OAuthLogin:
    tokens: TokenSource
    mechanism: str = "xoauth2"

    def imap(self, client: ImapLogin, user: str) -> None:
        token = self.tokens.token()
        try:
            if self.mechanism == "oauthbearer":
                client.oauthbearer_login(user, token)
            else:
                client.oauth2_login(user, token)
        except Exception:
            self.tokens.forget()
            raise

    def smtp(self, client: SmtpLogin, user: str) -> None:
        token = self.tokens.token()
        # A challenge after the initial response carries the server's JSON error: answer empty to end the exchange.
        try:
            client.auth("XOAUTH2", lambda challenge=None: xoauth2_string(user, token) if challenge is None else "")
        except Exception:
            self.tokens.forget()
            raise


# -- wiring ------------------------------------------------------------------------------------------------------

_SOURCES: dict[tuple[Any, ...], TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def make_login(server: ServerConfig, state_dir: Path) -> Login:
    """The login of `server` as configured; IMAP and SMTP of one account share one token source."""
    source = token_source(server, state_dir)
    if source is None:
        return PasswordLogin(server.password.resolve_login() if server.password else "")
    assert server.oauth is not None
    return OAuthLogin(source, server.oauth.mechanism)


def token_source(server: ServerConfig, state_dir: Path) -> TokenSource | None:
    """The one token source of `server`'s account in this process (None: password login)."""
    oauth = server.oauth
    if oauth is None:
        return None
    assert server.username, "settings require a username with OAuth2"
    token_file = oauth.token_file or default_token_file(state_dir, oauth.provider)
    key = (oauth.provider, server.username, token_file, oauth.service_account_file, oauth.client_id)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = TokenSource(f"{server.username} ({oauth.provider})", _fetcher(oauth, server.username, token_file),
                                 margin=oauth.refresh_margin_seconds)
            _SOURCES[key] = source
    return source


def _fetcher(oauth: OAuthConfig, user: str, token_file: Path) -> Callable[[], tuple[str, float]]:
    if oauth.provider == "microsoft":
        return microsoft_fetch(oauth, token_file)
    if oauth.service_account_file is not None:
        return google_service_account_fetch(oauth.service_account_file, user, oauth.token_uri)
    return google_user_fetch(token_file, oauth.token_uri)
