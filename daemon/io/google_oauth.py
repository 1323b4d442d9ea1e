"""Google Workspace tokens through google-auth: an installed-app refresh token (`partnerships auth google` makes
it: consent URL, pasted code, PKCE) or a service account with domain-wide delegation impersonating the mailbox."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon.io.tokens import HTTP_TIMEOUT_SECONDS, TokenError, read_token_file, write_token_file

log = logging.getLogger("daemon.oauth")

GOOGLE_MAIL_SCOPE = "https://mail.google.com/"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


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
