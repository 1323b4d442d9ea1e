"""Logging in to IMAP and SMTP: a password, or an OAuth2 access token (XOAUTH2 / OAUTHBEARER) from Google or
Microsoft 365, refreshed before it expires; a refresh token the provider rotates is saved atomically (0600).

A refresh that fails raises `TokenError`, a ConnectionError: the IMAP watcher logs it in one line, shows it in
`status` and retries with backoff like any lost connection (the sync cursor is untouched); SMTP sends become
retryable action errors."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from daemon.settings import OAuthConfig, ServerConfig

log = logging.getLogger("daemon.oauth")

GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
# Delegated scopes (a signed-in mailbox) and the application scope (client credentials) of Exchange Online.
MICROSOFT_USER_SCOPES = ("https://outlook.office365.com/IMAP.AccessAsUser.All",
                         "https://outlook.office365.com/SMTP.Send")
MICROSOFT_APP_SCOPES = ("https://outlook.office365.com/.default",)
HTTP_TIMEOUT_SECONDS = 30.0


class TokenError(ConnectionError):
    """No access token could be had (refresh refused, provider unreachable); the message says what to do."""


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


class TokenSource:
    """An access token, cached and refreshed `margin` seconds before it expires; one refresh at a time."""

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

    def token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - self.margin:
                value, lifetime = self._fetch()
                self._token, self._expires_at = value, self.clock() + lifetime
                self.refreshes += 1
                log.info("oauth2 token refreshed for %s, valid %.0f s", self.name, lifetime)
            return self._token

    def forget(self) -> None:
        """After the server refused the token (revoked early): the next login fetches a new one."""
        with self._lock:
            self._token = None


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


# -- Google ------------------------------------------------------------------------------------------------------


def _seconds_left(expiry: datetime | None) -> float:
    if expiry is None:
        return 3600.0
    return (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()


def google_user_fetch(token_file: Path, token_uri: str | None) -> Callable[[], tuple[str, float]]:
    """The installed-app flow: the refresh token `partnerships auth google` stored."""
    import google.oauth2.credentials

    def fetch() -> tuple[str, float]:
        stored = read_token_file(token_file)
        credentials = google.oauth2.credentials.Credentials(
            token=None, refresh_token=stored["refresh_token"], client_id=stored.get("client_id"),
            client_secret=stored.get("client_secret"),
            token_uri=token_uri or stored.get("token_uri") or GOOGLE_TOKEN_URI)
        _google_refresh(credentials, f"Google refused the refresh token in {token_file}",
                        "run `partnerships auth google` again")
        if credentials.refresh_token and credentials.refresh_token != stored["refresh_token"]:
            write_token_file(token_file, {**stored, "refresh_token": credentials.refresh_token})
            log.warning("oauth2 refresh token rotated by Google; saved to %s", token_file)
        return credentials.token, _seconds_left(credentials.expiry)

    return fetch


def google_service_account_fetch(key_file: Path, subject: str, token_uri: str | None
                                 ) -> Callable[[], tuple[str, float]]:
    """A service account with domain-wide delegation, impersonating the watched mailbox."""
    from google.oauth2 import service_account

    def fetch() -> tuple[str, float]:
        try:
            info = json.loads(key_file.read_text(encoding="utf-8"))
            if token_uri:
                info["token_uri"] = token_uri
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=[GOOGLE_MAIL_SCOPE], subject=subject)
        except (OSError, ValueError, KeyError) as exc:
            raise TokenError(f"service account key {key_file} is unusable: {type(exc).__name__}") from None
        _google_refresh(credentials, f"Google refused the service account's token for {subject}",
                        "check domain-wide delegation of scope https://mail.google.com/ in the Admin console")
        return credentials.token, _seconds_left(credentials.expiry)

    return fetch


def _google_refresh(credentials: Any, refused: str, advice: str) -> None:
    """Refresh `credentials`; when Google says no, the error says what was refused, why, and what to do."""
    import google.auth.exceptions
    import google.auth.transport.requests

    try:
        credentials.refresh(google.auth.transport.requests.Request())
    except google.auth.exceptions.RefreshError as exc:
        raise TokenError(f"{refused} ({_reason(exc)}): {advice}") from None
    except google.auth.exceptions.TransportError as exc:
        raise TokenError(f"Google token endpoint unreachable: {type(exc).__name__}") from None


def _reason(exc: Exception) -> str:
    """The OAuth error code (e.g. invalid_grant) without the response body, which may echo request data."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split(":")[0].split(" ")[0][:80] or type(exc).__name__


# -- Microsoft 365 -----------------------------------------------------------------------------------------------


def microsoft_fetch(oauth: OAuthConfig, token_file: Path) -> Callable[[], tuple[str, float]]:
    """Client credentials (an app with IMAP/SMTP access to the mailbox) or a delegated refresh token."""
    import msal

    authority = oauth.authority or MICROSOFT_AUTHORITY.format(tenant=oauth.tenant)
    # A configured authority is trusted as given: instance discovery would ask login.microsoftonline.com about it.
    options: dict[str, Any] = {"authority": authority, "timeout": HTTP_TIMEOUT_SECONDS,
                               "instance_discovery": oauth.authority is None}

    def fetch() -> tuple[str, float]:
        try:
            if oauth.client_secret is not None:
                secret = oauth.client_secret.resolve()
                app = msal.ConfidentialClientApplication(oauth.client_id, client_credential=secret, **options)
                result = app.acquire_token_for_client(scopes=list(MICROSOFT_APP_SCOPES))
                stored = None
            else:
                stored = read_token_file(token_file)
                app = msal.PublicClientApplication(oauth.client_id, **options)
                result = app.acquire_token_by_refresh_token(stored["refresh_token"], scopes=list(MICROSOFT_USER_SCOPES))
        except (ValueError, OSError) as exc:
            raise TokenError(f"Microsoft identity platform unreachable or misconfigured: {type(exc).__name__}"
                             ) from None
        if "access_token" not in result:
            raise TokenError(f"Microsoft refused the token request ({str(result.get('error', 'unknown'))[:80]}): "
                             + ("run `partnerships auth microsoft` again" if stored else "check the app's credentials"))
        if stored is not None and result.get("refresh_token") and result["refresh_token"] != stored["refresh_token"]:
            write_token_file(token_file, {**stored, "refresh_token": result["refresh_token"]})
            log.info("oauth2 refresh token rotated by Microsoft; saved to %s", token_file)
        return result["access_token"], float(result.get("expires_in", 3600))

    return fetch


# -- wiring ------------------------------------------------------------------------------------------------------

_SOURCES: dict[tuple[Any, ...], TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def make_login(server: ServerConfig, state_dir: Path) -> Login:
    """The login of `server` as configured; IMAP and SMTP of one account share one token source."""
    oauth = server.oauth
    if oauth is None:
        return PasswordLogin(server.password.resolve() if server.password else "")
    assert server.username, "settings require a username with OAuth2"
    token_file = oauth.token_file or default_token_file(state_dir, oauth.provider)
    key = (oauth.provider, server.username, token_file, oauth.service_account_file, oauth.client_id)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = TokenSource(f"{server.username} ({oauth.provider})", _fetcher(oauth, server.username, token_file),
                                 margin=oauth.refresh_margin_seconds)
            _SOURCES[key] = source
    return OAuthLogin(source, oauth.mechanism)


def _fetcher(oauth: OAuthConfig, user: str, token_file: Path) -> Callable[[], tuple[str, float]]:
    if oauth.provider == "microsoft":
        return microsoft_fetch(oauth, token_file)
    if oauth.service_account_file is not None:
        return google_service_account_fetch(oauth.service_account_file, user, oauth.token_uri)
    return google_user_fetch(token_file, oauth.token_uri)


# -- `partnerships auth google`: the installed-app consent, once ----------------------------------------------------

GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
# Desktop clients may redirect to a loopback address; on a server nothing listens there, so the person copies the
# code from the address bar of the page that failed to load.
GOOGLE_REDIRECT_URI = "http://localhost"


@dataclass(frozen=True)
class GoogleClient:
    client_id: str
    client_secret: str
    token_uri: str
    auth_uri: str


def read_google_client(path: Path) -> GoogleClient:
    """The client_secret.json of a Desktop OAuth client, as the Google Cloud console downloads it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        client = data.get("installed") or data.get("web") or data
        return GoogleClient(client["client_id"], client["client_secret"],
                            client.get("token_uri", GOOGLE_TOKEN_URI), client.get("auth_uri", GOOGLE_AUTH_URI))
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise TokenError(f"{path} is not a Google OAuth client file (client_secret.json): {type(exc).__name__}"
                         ) from None


def google_consent(client: GoogleClient) -> tuple[str, str, str]:
    """(consent URL, state, PKCE verifier): offline access so Google hands out a refresh token."""
    import base64
    import hashlib
    import secrets
    import urllib.parse

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(16)
    query = urllib.parse.urlencode({
        "client_id": client.client_id, "redirect_uri": GOOGLE_REDIRECT_URI, "response_type": "code",
        "scope": GOOGLE_MAIL_SCOPE, "access_type": "offline", "prompt": "consent", "state": state,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{client.auth_uri}?{query}", state, verifier


def code_from(answer: str) -> str:
    """The code itself, or the whole address the browser was sent to (http://localhost/?state=..&code=..)."""
    import urllib.parse

    answer = answer.strip()
    if answer.startswith("http"):
        codes = urllib.parse.parse_qs(urllib.parse.urlsplit(answer).query).get("code", [])
        return codes[0] if codes else ""
    return answer


def google_exchange(client: GoogleClient, code: str, verifier: str, token_uri: str | None = None) -> dict[str, Any]:
    """The authorization code for tokens; returns what the token file keeps (never the access token)."""
    import requests

    try:
        response = requests.post(token_uri or client.token_uri, timeout=HTTP_TIMEOUT_SECONDS, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": GOOGLE_REDIRECT_URI,
            "client_id": client.client_id, "client_secret": client.client_secret, "code_verifier": verifier})
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise TokenError(f"Google token endpoint unreachable: {type(exc).__name__}") from None
    if not isinstance(body, dict) or not body.get("refresh_token"):
        error = str(body.get("error", f"HTTP {response.status_code}")) if isinstance(body, dict) else "no JSON"
        raise TokenError(f"Google did not grant a refresh token ({error[:80]}): run the command again and paste "
                         "the new code (each code works once)")
    return {"type": "authorized_user", "client_id": client.client_id, "client_secret": client.client_secret,
            "refresh_token": body["refresh_token"], "token_uri": token_uri or client.token_uri}


# -- `partnerships auth microsoft`: a delegated refresh token through the device-code flow -------------------------


def microsoft_device_login(client_id: str, tenant: str, authority: str | None, token_file: Path,
                           show: Callable[[str], None]) -> None:
    """Prints where to sign in and the code to type; waits for the person; stores the refresh token (0600)."""
    import msal

    app = msal.PublicClientApplication(client_id, authority=authority or MICROSOFT_AUTHORITY.format(tenant=tenant),
                                       instance_discovery=authority is None, timeout=HTTP_TIMEOUT_SECONDS)
    try:
        flow = app.initiate_device_flow(scopes=list(MICROSOFT_USER_SCOPES))
        if "user_code" not in flow:
            raise TokenError(f"Microsoft refused to start the sign-in ({str(flow.get('error', 'unknown'))[:80]})")
        show(f"Sign in as the mailbox the daemon reads: open {flow['verification_uri']} and enter the code "
             f"{flow['user_code']}")
        result = app.acquire_token_by_device_flow(flow)
    except (ValueError, OSError) as exc:
        raise TokenError(f"Microsoft identity platform unreachable or misconfigured: {type(exc).__name__}"
                         ) from None
    if not result.get("refresh_token"):
        raise TokenError(f"Microsoft did not grant a refresh token ({str(result.get('error', 'unknown'))[:80]})")
    write_token_file(token_file, {"client_id": client_id, "refresh_token": result["refresh_token"]})
