"""OAuth2 logins against real servers: Dovecot with XOAUTH2/OAUTHBEARER checking tokens at a local provider
(tests/servers.py OAuthTokenServer, which also plays Google's token endpoint), aiosmtpd with XOAUTH2."""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from factories import raw_email, run_cli
from imapclient.exceptions import LoginError
from servers import DovecotServer, OAuthTokenServer, RecordingSMTPServer, write_daemon_config
from webdesk import client, open_desk, sign_in

from daemon.errors import ActionError, ConfigError
from daemon.io.google_oauth import google_service_account_fetch, google_user_fetch
from daemon.io.imap import ImapSource
from daemon.io.oauth import OAuthLogin, make_login
from daemon.io.send import OutboxDirSender, Outgoing, SmtpSender
from daemon.io.tokens import TokenError, TokenSource
from daemon.runtime import load_config
from daemon.settings import ImapConfig, OAuthConfig, SecretRef, ServerConfig, SmtpConfig
from daemon.state import outbox
from daemon.state.models import make_sessions

USER = DovecotServer.DEFAULT_USER
LEADS_CSV = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
             "Lakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu,,,false,,\n")


@pytest.fixture
def provider() -> Iterator[OAuthTokenServer]:
    server = OAuthTokenServer(user=USER).start()
    yield server
    server.stop()


@pytest.fixture
def oauth_dovecot(provider: OAuthTokenServer) -> Iterator[DovecotServer]:
    server = DovecotServer(oauth2_introspection_url=provider.introspection_url)
    server.start()
    yield server
    server.stop()


def token_file(folder: Path, provider: OAuthTokenServer) -> Path:
    """What `partnerships auth google` leaves behind."""
    path = folder / "google-token.json"
    path.write_text(json.dumps({"type": "authorized_user", "client_id": "cid.apps.googleusercontent.com",
                                "client_secret": "client-secret", "refresh_token": provider.new_refresh_token(),
                                "token_uri": provider.token_uri}))
    path.chmod(0o600)
    return path


def confirmation(number: int) -> bytes:
    return raw_email(message_id=f"confirm{number}@example.test", sender="Ada Park <ada@lakeside.edu>",
                     subject=f"Re: Hub service #{number}",
                     body="We would like to go ahead with the Small tier at $1,500 per month.\n")


def oauth_config(tmp_path: Path, dovecot: DovecotServer, provider: OAuthTokenServer,
                 smtp: RecordingSMTPServer | None = None, mechanism: str = "xoauth2") -> Path:
    tokens = token_file(tmp_path, provider)
    auth = (f'auth = "oauth2-google"\noauth_token_file = "{tokens}"\noauth_token_uri = "{provider.token_uri}"\n')
    config = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV,
                                 source_extra=auth + f'oauth_mechanism = "{mechanism}"\npoll_seconds = 1\n',
                                 daemon_extra="retry_base_seconds = 0.2")
    if smtp is not None:
        config.write_text(config.read_text() + f'username = "{USER}"\n' + auth)
    return config


def imap_server(dovecot: DovecotServer, provider: OAuthTokenServer, tokens: Path, mechanism: str = "xoauth2"
                ) -> ServerConfig:
    return ServerConfig(host=dovecot.host, port=dovecot.port, tls="none", username=USER,
                        oauth=OAuthConfig("google", mechanism, token_file=tokens, token_uri=provider.token_uri))


# -- settings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "message"), [
    ('auth = "oauth2-google"\n', None),
    ('auth = "oauth2-google"\noauth_token_uri = "http://tokens.example.com/token"\n', "must be an https:// URL"),
    ('auth = "oauth2-google"\noauth_client_id = "x"\n', "are for auth = \"oauth2-microsoft\""),
    ('auth = "oauth2-microsoft"\n', "oauth_client_id: required"),
    ('auth = "oauth2-microsoft"\noauth_client_id = "app"\noauth_client_secret_env = "MS_SECRET"\n', None),
    ('auth = "kerberos"\n', "'kerberos' is not one of password, oauth2-google, oauth2-microsoft"),
])
def test_oauth_settings_are_checked(tmp_path: Path, extra: str, message: str | None) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[source]\nkind = "imap"\nhost = "imap.gmail.com"\nusername = "{USER}"\n{extra}')
    if message is None:
        oauth = load_config(config).source.imap.server.oauth
        assert oauth is not None and oauth.provider in ("google", "microsoft")
        assert load_config(config).source.imap.server.password is None
    else:
        with pytest.raises(ConfigError, match=message):
            load_config(config)


# -- IMAP and SMTP end to end ------------------------------------------------------------------------------------


def test_run_once_reads_imap_and_sends_smtp_with_xoauth2(oauth_dovecot: DovecotServer, provider: OAuthTokenServer,
                                                         smtp_server: Callable[..., RecordingSMTPServer],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    smtp = smtp_server(oauth_users=provider.user_of)
    oauth_dovecot.append("INBOX", confirmation(1))
    config = oauth_config(tmp_path, oauth_dovecot, provider, smtp)
    code, out, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    [sent] = smtp.wait_for(1)
    assert sent.auth_login == USER and sent.rcpt_tos[0] == "operations@codeforsociety.org"
    # IMAP and SMTP of one account share one access token: one refresh, not one per connection.
    assert provider.grants("refresh_token") == 1
    assert "client-secret" not in out + err and "rt-" not in out + err


def test_oauthbearer_login(oauth_dovecot: DovecotServer, provider: OAuthTokenServer, tmp_path: Path) -> None:
    server = imap_server(oauth_dovecot, provider, token_file(tmp_path, provider), mechanism="oauthbearer")
    source = ImapSource(ImapConfig(server=server), make_login(server, tmp_path))
    source.connect()
    assert source.client is not None and source.client.select_folder("INBOX", readonly=True)
    source.close()


def test_a_token_the_server_no_longer_accepts_is_replaced_at_the_next_login(
        oauth_dovecot: DovecotServer, provider: OAuthTokenServer, tmp_path: Path) -> None:
    tokens = TokenSource("t", google_user_fetch(token_file(tmp_path, provider), provider.token_uri))
    server = imap_server(oauth_dovecot, provider, tmp_path / "unused")
    source = ImapSource(ImapConfig(server=server), OAuthLogin(tokens))
    source.connect()
    source.close()
    provider.expire_all()  # e.g. revoked by an administrator before its expiry time
    with pytest.raises(LoginError):
        source.connect()
    source.connect()  # the refused token was dropped: a fresh one is fetched
    source.close()
    assert tokens.refreshes == 2


def test_tokens_are_refreshed_before_they_expire_not_at_every_login(provider: OAuthTokenServer,
                                                                    tmp_path: Path) -> None:
    now = [1_000_000.0]
    provider.lifetime = 3600
    tokens = TokenSource("t", google_user_fetch(token_file(tmp_path, provider), provider.token_uri), margin=300,
                         clock=lambda: now[0])
    first = tokens.token()
    now[0] += 3000  # 600 s left: still good
    assert tokens.token() == first and provider.grants("refresh_token") == 1
    now[0] += 301  # 299 s left: inside the margin
    second = tokens.token()
    assert second != first and provider.grants("refresh_token") == 2
    assert provider.user_of(second) == USER


def test_a_rotated_refresh_token_is_saved_atomically_0600(provider: OAuthTokenServer, tmp_path: Path) -> None:
    path = token_file(tmp_path, provider)
    old = json.loads(path.read_text())["refresh_token"]
    provider.rotate = True
    TokenSource("t", google_user_fetch(path, provider.token_uri)).token()
    saved = json.loads(path.read_text())
    assert saved["refresh_token"] != old and saved["refresh_token"] in provider.refresh_tokens
    assert saved["client_id"] == "cid.apps.googleusercontent.com"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    # The next process starts from the saved token: the old one would now be refused.
    assert TokenSource("t2", google_user_fetch(path, provider.token_uri)).token()


def test_a_refused_refresh_says_what_to_do_without_secrets(provider: OAuthTokenServer, tmp_path: Path) -> None:
    path = token_file(tmp_path, provider)
    provider.revoke_all()
    with pytest.raises(TokenError) as raised:
        TokenSource("t", google_user_fetch(path, provider.token_uri)).token()
    message = str(raised.value)
    assert "invalid_grant" in message and "run `partnerships auth google` again" in message
    assert "rt-" not in message and "client-secret" not in message
    provider.failing = True
    with pytest.raises(TokenError, match=r"Google refused|unreachable"):
        TokenSource("t", google_user_fetch(token_file(tmp_path, provider), provider.token_uri)).token()


@contextlib.contextmanager
def running_daemon(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`partnerships run` in its own process, its log in `log`; stopped with SIGTERM afterwards."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get(
        "PYTHONPATH", "")])}
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "daemon", "run", "--config", str(config)],
                                   cwd=config.parent, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def digest_text(config: Path, week: str) -> str:
    """The weekly digest the running daemon sends (to the outbox) once it is due: recorded here, sent by it."""
    settings = load_config(config)
    sessions = make_sessions(settings.database)
    outbox.enqueue_once(sessions, f"digest:{week}", "send_digest", {"week": week, "day": date.today().isoformat()})
    path = OutboxDirSender(settings.outbox_dir).path_for(f"digest:{week}")
    wait_for(path.exists)
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def test_a_failing_refresh_is_one_log_line_in_status_desk_metrics_and_digest_until_it_works_again(
        oauth_dovecot: DovecotServer, provider: OAuthTokenServer, tmp_path: Path) -> None:
    config = oauth_config(tmp_path, oauth_dovecot, provider)  # IMAP with OAuth2; the outbox sends the digest
    secrets = [json.loads((tmp_path / "google-token.json").read_text())["refresh_token"], "client-secret"]
    oauth_dovecot.append("INBOX", confirmation(1))
    provider.revoke_all()
    log = tmp_path / "daemon.log"
    seen: list[str] = []

    def status() -> str:
        code, out, err = run_cli("status", "--config", str(config))
        assert code == 0, err
        seen.append(out)
        return out

    def desk() -> tuple[str, str]:
        _, app = open_desk(load_config(config).state_dir, config=config)
        browser = client(app)
        sign_in(browser, "alice")
        health, metrics = browser.get("/health").text, browser.get("/metrics").text
        seen.extend([health, metrics])
        return health, metrics

    with running_daemon(config, log):
        wait_for(lambda: "oauth2 token refresh failed" in log.read_text())
        wait_for(lambda: provider.grants("refresh_token") >= 3)  # retried with backoff ...
        failures = [line for line in log.read_text().splitlines() if "invalid_grant" in line
                    and line.startswith(("level=ERROR", "level=WARNING"))]
        assert len(failures) == 1, failures  # ... and said once (besides the INFO line of systemd's READY=1)
        assert "run `partnerships auth google` again" in failures[0] and "(imap)" in failures[0]
        out = status()
        assert f"oauth2 imap: refresh failing since {date.today()}" in out and "invalid_grant" in out
        health, metrics = desk()
        assert "OAuth2 sign-in (imap)" in health and "invalid_grant" in health and "retrying with backoff" in health
        assert 'partnerships_oauth_refresh_ok{channel="imap"} 0.0' in metrics
        digest = digest_text(config, "2026-W01")
        seen.append(digest)
        assert "ATTENTION: the daemon cannot sign in to the mail server (OAuth2)" in digest
        assert "  - imap: refresh failing since" in digest and "invalid_grant" in digest
        # `partnerships auth google` again: the daemon picks the new token up by itself, where it stopped.
        secrets.append(json.loads(token_file(tmp_path, provider).read_text())["refresh_token"])
        wait_for(lambda: "confirm1@example.test" in log.read_text(), timeout=60)
        wait_for(lambda: "oauth2 token refresh works again" in log.read_text())
        digest = digest_text(config, "2026-W02")
        seen.append(digest)
        assert "ATTENTION" not in digest and "invalid_grant" not in digest
    out = status()
    assert "oauth2 imap: token refresh ok" in out and "last uid 1" in out and "invalid_grant" not in out
    health, metrics = desk()
    assert "token refresh ok" in health and 'partnerships_oauth_refresh_ok{channel="imap"} 1.0' in metrics
    text = log.read_text()
    assert len([line for line in text.splitlines() if "works again" in line]) == 1
    secrets += list(provider.access)
    for output in [text, *seen]:
        assert not [secret for secret in secrets if secret in output]


def test_run_once_with_a_revoked_token_exits_2_with_one_line(oauth_dovecot: DovecotServer,
                                                              provider: OAuthTokenServer, tmp_path: Path) -> None:
    config = oauth_config(tmp_path, oauth_dovecot, provider)
    provider.revoke_all()
    code, _, err = run_cli("run", "--once", "--config", str(config))
    failures = [line for line in err.splitlines() if "invalid_grant" in line]
    assert code == 2 and len(failures) == 1 and failures[0].startswith("partnerships: IMAP 127.0.0.1:")


def test_service_account_with_domain_wide_delegation(oauth_dovecot: DovecotServer, provider: OAuthTokenServer,
                                                     tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({"type": "service_account", "client_email": "daemon@project.iam.gserviceaccount.com",
                                    "private_key": pem, "private_key_id": "k1", "client_id": "1",
                                    "token_uri": "https://oauth2.googleapis.com/token"}))
    tokens = TokenSource("sa", google_service_account_fetch(key_file, USER, provider.token_uri))
    server = imap_server(oauth_dovecot, provider, tmp_path / "unused")
    source = ImapSource(ImapConfig(server=server), OAuthLogin(tokens))
    source.connect()
    source.close()
    assert provider.grants("urn:ietf:params:oauth:grant-type:jwt-bearer") == 1


def test_smtp_xoauth2_refused_token_and_failed_refresh_are_action_errors(
        provider: OAuthTokenServer, smtp_server: Callable[..., RecordingSMTPServer], tmp_path: Path) -> None:
    smtp = smtp_server(oauth_users=provider.user_of)
    config = SmtpConfig(server=ServerConfig(host="127.0.0.1", port=smtp.port, tls="none", username=USER),
                        envelope_from=USER)
    outgoing = Outgoing(key="k1", sender=USER, recipients=("ops@example.test",),
                        data=raw_email(message_id="o1@example.test"))
    bad = TokenSource("bad", lambda: ("not-issued", 3600.0))
    with pytest.raises(ActionError) as refused:
        SmtpSender(config, OAuthLogin(bad)).send(outgoing)
    assert "535" in str(refused.value) and smtp.auth_failures == 1
    revoked = token_file(tmp_path, provider)
    provider.revoke_all()
    failing = TokenSource("failing", google_user_fetch(revoked, provider.token_uri))
    with pytest.raises(ActionError) as failed:
        SmtpSender(config, OAuthLogin(failing)).send(outgoing)
    assert failed.value.retryable and "invalid_grant" in str(failed.value)
    good = TokenSource("good", google_user_fetch(token_file(tmp_path, provider), provider.token_uri))
    SmtpSender(config, OAuthLogin(good)).send(outgoing)
    assert smtp.wait_for(1)[0].auth_login == USER


def test_auth_google_stores_the_refresh_token_0600(provider: OAuthTokenServer, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    client = tmp_path / "client_secret.json"
    client.write_text(json.dumps({"installed": {"client_id": "cid.apps.googleusercontent.com",
                                                "client_secret": "client-secret",
                                                "token_uri": provider.token_uri}}))
    code = provider.new_code()
    state = tmp_path / "state"
    # An address from another consent request (its state differs) is refused before the code is spent.
    monkeypatch.setattr("sys.stdin", io.StringIO(f"http://localhost/?state=other&code={code}&scope=s\n"))
    status, _, err = run_cli("auth", "google", "--client-secrets", str(client), "--state", str(state))
    assert status == 2 and "another consent request" in err and code in provider.codes
    monkeypatch.setattr("sys.stdin", io.StringIO(f"http://localhost/?code={code}&scope=s\n"))
    status, out, err = run_cli("auth", "google", "--client-secrets", str(client), "--state", str(state))
    assert status == 0, err
    assert "https://accounts.google.com/o/oauth2/auth?" in out and "client_id=cid.apps.googleusercontent.com" in out
    assert "scope=https%3A%2F%2Fmail.google.com%2F" in out and "client-secret" not in out
    saved = state / "credentials" / "google-token.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    data = json.loads(saved.read_text())
    assert data["refresh_token"] in provider.refresh_tokens and data["client_secret"] == "client-secret"
    assert provider.user_of(TokenSource("t", google_user_fetch(saved, None)).token()) == USER
    # A wrong or reused code changes nothing and says so.
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{code}\n"))
    status, _, err = run_cli("auth", "google", "--client-secrets", str(client), "--state", str(state))
    assert status == 2 and "invalid_grant" in err and json.loads(saved.read_text()) == data


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


# -- Microsoft 365 (msal talks https only: the provider runs with a certificate the test trusts) --------------------


@pytest.fixture
def microsoft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthTokenServer]:
    certificate, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate))
    server = OAuthTokenServer(user=USER, tls=(certificate, key)).start()
    yield server
    server.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "provider.crt", folder / "provider.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def microsoft_server(provider: OAuthTokenServer, folder: Path, **oauth: object) -> ServerConfig:
    settings = OAuthConfig("microsoft", client_id="app-id", authority=f"{provider.base_url}/tenant-id",
                           token_file=folder / "microsoft-token.json", **oauth)  # type: ignore[arg-type]
    return ServerConfig(host="outlook.office365.com", port=993, tls="ssl", username=USER, oauth=settings)


def test_microsoft_client_credentials(microsoft: OAuthTokenServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    microsoft.clients["app-id"] = "app-secret"
    monkeypatch.setenv("MS_SECRET", "app-secret")
    secret = SecretRef(key="[source] oauth_client_secret", env="MS_SECRET")
    login = make_login(microsoft_server(microsoft, tmp_path, client_secret=secret), tmp_path)
    assert isinstance(login, OAuthLogin)
    assert microsoft.user_of(login.tokens.token()) == USER and microsoft.grants("client_credentials") == 1
    monkeypatch.setenv("MS_SECRET", "wrong")
    refused = make_login(microsoft_server(microsoft, tmp_path / "other", client_secret=secret), tmp_path)
    assert isinstance(refused, OAuthLogin)
    with pytest.raises(TokenError, match=r"Microsoft refused the token request \(invalid_grant\)"):
        refused.tokens.token()


def test_microsoft_refresh_token_rotation_is_saved(microsoft: OAuthTokenServer, tmp_path: Path) -> None:
    microsoft.rotate = True
    path = tmp_path / "microsoft-token.json"
    first = microsoft.new_refresh_token()
    path.write_text(json.dumps({"refresh_token": first}))
    login = make_login(microsoft_server(microsoft, tmp_path), tmp_path)
    assert isinstance(login, OAuthLogin) and microsoft.user_of(login.tokens.token()) == USER
    saved = json.loads(path.read_text())["refresh_token"]
    assert saved != first and saved in microsoft.refresh_tokens and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_auth_microsoft_device_code_stores_the_refresh_token(microsoft: OAuthTokenServer, tmp_path: Path) -> None:
    state = tmp_path / "state"
    status, out, err = run_cli("auth", "microsoft", "--client-id", "app-id", "--authority",
                               f"{microsoft.base_url}/tenant-id", "--state", str(state))
    assert status == 0, err
    assert "open https://microsoft.com/devicelogin and enter the code ABCD-1234" in out
    saved = state / "credentials" / "microsoft-token.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["refresh_token"] in microsoft.refresh_tokens
    login = make_login(microsoft_server(microsoft, state / "credentials"), state)
    assert isinstance(login, OAuthLogin) and microsoft.user_of(login.tokens.token()) == USER


@pytest.mark.parametrize("flow", ["client-credentials", "refresh-token"])
def test_microsoft_365_token_logs_in_to_dovecot_and_smtp(flow: str, microsoft: OAuthTokenServer, tmp_path: Path,
                                                        smtp_server: Callable[..., RecordingSMTPServer],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """msal, its authority the local provider (https; instance discovery off for a configured authority), gets a
    token that Dovecot (XOAUTH2, introspected at the same provider) and aiosmtpd (XOAUTH2) accept."""
    monkeypatch.chdir(tmp_path)
    dovecot = DovecotServer(oauth2_introspection_url=microsoft.introspection_url)
    dovecot.start()
    try:
        smtp = smtp_server(oauth_users=microsoft.user_of)
        dovecot.append("INBOX", confirmation(1))
        tokens = tmp_path / "microsoft-token.json"
        auth = (f'auth = "oauth2-microsoft"\noauth_client_id = "app-id"\n'
                f'oauth_authority = "{microsoft.base_url}/tenant-id"\n')
        if flow == "client-credentials":
            microsoft.clients["app-id"] = "app-secret"
            monkeypatch.setenv("MS_SECRET", "app-secret")
            auth += 'oauth_client_secret_env = "MS_SECRET"\n'
        else:
            microsoft.rotate = True
            first = microsoft.new_refresh_token()
            tokens.write_text(json.dumps({"client_id": "app-id", "refresh_token": first}))
            tokens.chmod(0o600)
            auth += f'oauth_token_file = "{tokens}"\n'
        config = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV, source_extra=auth,
                                     daemon_extra="retry_base_seconds = 0.2")
        config.write_text(config.read_text() + f'username = "{USER}"\n' + auth)
        code, out, err = run_cli("run", "--once", "--config", str(config))
        assert code == 0, err
        [sent] = smtp.wait_for(1)
        assert sent.auth_login == USER and sent.rcpt_tos[0] == "operations@codeforsociety.org"
        grant = "client_credentials" if flow == "client-credentials" else "refresh_token"
        assert microsoft.grants(grant) == 1  # IMAP and SMTP share one token
        assert [r["path"] for r in microsoft.requests if r.get("grant_type")] == ["/tenant-id/oauth2/v2.0/token"]
        secrets = ["app-secret", *microsoft.refresh_tokens, *microsoft.access]
        assert [secret for secret in secrets if secret in out + err] == []
        if flow == "refresh-token":
            saved = json.loads(tokens.read_text())
            assert saved["refresh_token"] != first and saved["refresh_token"] in microsoft.refresh_tokens
            # Rotated: the old one is dead, the saved one lives.
            assert first not in microsoft.refresh_tokens and first not in out + err
            assert saved["client_id"] == "app-id" and stat.S_IMODE(tokens.stat().st_mode) == 0o600
            assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".microsoft-token")] == []
    finally:
        dovecot.stop()


def test_a_failing_smtp_refresh_pauses_sending_without_using_up_attempts_and_clears(
        oauth_dovecot: DovecotServer, provider: OAuthTokenServer, smtp_server: Callable[..., RecordingSMTPServer],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    smtp = smtp_server(oauth_users=provider.user_of)
    config = write_daemon_config(tmp_path, oauth_dovecot, smtp, leads_csv=LEADS_CSV,  # IMAP with its password
                                 daemon_extra="retry_base_seconds = 0.2")
    config.write_text(config.read_text() + f'username = "{USER}"\nauth = "oauth2-google"\noauth_token_file = '
                      f'"{token_file(tmp_path, provider)}"\noauth_token_uri = "{provider.token_uri}"\n')
    provider.revoke_all()
    oauth_dovecot.append("INBOX", confirmation(1))
    code, _, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    assert len([line for line in err.splitlines() if "oauth2 token refresh failed" in line and "(smtp)" in line]) == 1
    code, out, _ = run_cli("status", "--config", str(config))
    assert "oauth2 smtp: refresh failing since" in out and "invalid_grant" in out
    waiting = [line for line in out.splitlines() if "forward:confirm1@example.test" in line]
    assert len(waiting) == 1 and "pending" in waiting[0] and "attempts=0" in waiting[0]  # not the message's fault
    token_file(tmp_path, provider)  # `partnerships auth google` again
    oauth_dovecot.append("INBOX", confirmation(2))
    code, _, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    assert smtp.wait_for(1)[0].auth_login == USER and "oauth2 token refresh works again" in err
    code, out, _ = run_cli("status", "--config", str(config))
    assert "oauth2 smtp: token refresh ok" in out and "oauth2 imap" not in out


def test_a_channel_back_on_a_password_forgets_its_old_refresh_failure(tmp_path: Path) -> None:
    from daemon.state.models import make_sessions, set_meta

    (tmp_path / "inbox.mbox").write_bytes(b"From x Tue Nov 10 19:30:00 2026\n" + raw_email(message_id="p1@x.test")
                                          + b"\n")
    config = tmp_path / "partnerships.toml"
    config.write_text('[daemon]\nstate_dir = "state"\n[source]\nkind = "mbox"\npath = "inbox.mbox"\n')
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    set_meta(make_sessions(tmp_path / "state" / "partnerships.sqlite3"),
             {"oauth:imap": "refresh failing since 2026-11-01 10:00:00 UTC for old: invalid_grant"})
    assert "invalid_grant" in run_cli("status", "--config", str(config))[1]
    assert run_cli("run", "--once", "--config", str(config))[0] == 0  # no OAuth2 channel any more
    out = run_cli("status", "--config", str(config))[1]
    assert "invalid_grant" not in out and "oauth2 imap" not in out
