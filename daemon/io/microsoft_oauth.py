"""Microsoft 365 tokens through msal: client credentials (an app with access to the mailbox) or a delegated
refresh token, which `partnerships auth microsoft` obtains with the device-code flow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.io.tokens import HTTP_TIMEOUT_SECONDS, TokenError, read_token_file, write_token_file
from daemon.settings import OAuthConfig

log = logging.getLogger("daemon.oauth")

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
# Delegated scopes (a signed-in mailbox) and the application scope (client credentials) of Exchange Online.
MICROSOFT_USER_SCOPES = ("https://outlook.office365.com/IMAP.AccessAsUser.All",
                         "https://outlook.office365.com/SMTP.Send")
MICROSOFT_APP_SCOPES = ("https://outlook.office365.com/.default",)


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
