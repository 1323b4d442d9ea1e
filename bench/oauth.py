"""Measure an OAuth2 token refresh end to end against the local servers of the tests.

Usage: .venv/bin/python bench/oauth.py [--rounds N]
Each round: google-auth refreshes the access token at a local token endpoint (the refresh token rotated and saved
atomically), then IMAPClient logs in to Dovecot with XOAUTH2 (Dovecot asks the local server to introspect the
token) and SMTP (aiosmtpd) with XOAUTH2. Prints the median and worst of each step.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

from daemon.io.google_oauth import google_user_fetch
from daemon.io.oauth import OAuthLogin
from daemon.io.tokens import TokenSource
from daemon.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from servers import DovecotServer, OAuthTokenServer, RecordingSMTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    provider = OAuthTokenServer().start()
    provider.rotate = True
    dovecot = DovecotServer(oauth2_introspection_url=provider.introspection_url)
    dovecot.start()
    smtp = RecordingSMTPServer(oauth_users=provider.user_of).start()
    refresh, imap_login, smtp_login = [], [], []
    try:
        with tempfile.TemporaryDirectory() as folder:
            tokens_file = Path(folder) / "google-token.json"
            tokens_file.write_text(json.dumps({"client_id": "c", "client_secret": "s", "token_uri": provider.token_uri,
                                               "refresh_token": provider.new_refresh_token(dovecot.user)}))
            for _ in range(args.rounds):
                tokens = TokenSource("bench", google_user_fetch(tokens_file, None))
                login = OAuthLogin(tokens)
                started = time.perf_counter()
                tokens.token()
                refresh.append(time.perf_counter() - started)
                started = time.perf_counter()
                client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False)
                login.imap(client, dovecot.user)
                imap_login.append(time.perf_counter() - started)
                client.logout()
                started = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", smtp.port) as connection:
                    connection.ehlo()
                    login.smtp(connection, dovecot.user)
                smtp_login.append(time.perf_counter() - started)
    finally:
        smtp.stop()
        dovecot.stop()
        provider.stop()
    for name, values in (("token refresh (rotated, saved)", refresh), ("IMAP XOAUTH2 login", imap_login),
                         ("SMTP XOAUTH2 login", smtp_login)):
        print(f"{name:32s} median {statistics.median(values) * 1000:6.1f} ms, worst {max(values) * 1000:6.1f} ms"
              f" ({len(values)} rounds)")


if __name__ == "__main__":
    main()
