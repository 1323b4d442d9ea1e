"""Tests of the real-server fixtures themselves (tests/servers.py, conftest.py)."""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import imapclient
import pytest
from servers import REJECT_REPLY, TEMPFAIL_REPLY, DovecotError, DovecotServer

RAW = (
    b"From: Alice Partner <alice@partner.example>\r\n"
    b"To: partnerships@example.test\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a proposal\r\n"
    b"Message-ID: <m1@partner.example>\r\n"
    b"Date: Mon, 03 Nov 2025 10:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b"sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe.\r\n"
    b".leading dot line\r\n"
)


def raw_message(n: int) -> bytes:
    return RAW.replace(b"<m1@", f"<m{n}@".encode()).replace(b"proposal", f"proposal {n}".encode())


# --- Dovecot ------------------------------------------------------------------------------


def test_login_works_and_bad_password_is_refused(dovecot: DovecotServer) -> None:
    assert dovecot.host == "127.0.0.1"
    assert dovecot.user == "partnerships@example.test"
    imap = dovecot.client()
    try:
        caps = imap.capabilities()
        assert {b"IDLE", b"UIDPLUS", b"CONDSTORE", b"MOVE"} <= set(caps)
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        imap.logout()

    other = imapclient.IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=15)
    try:
        with pytest.raises(imapclient.exceptions.LoginError):
            other.login(dovecot.user, "wrong-password")
    finally:
        other.shutdown()


def test_append_then_fetch_peek_returns_same_bytes_and_sets_no_seen(dovecot: DovecotServer) -> None:
    uid = dovecot.append("INBOX", RAW)
    assert isinstance(uid, int) and uid >= 1  # Dovecot has UIDPLUS

    imap = dovecot.client()
    try:
        imap.select_folder("INBOX")  # read-write on purpose: PEEK alone must keep \Seen unset
        fetched = imap.fetch([uid], ["BODY.PEEK[]"])
    finally:
        imap.logout()
    assert fetched[uid][b"BODY[]"] == RAW
    assert b"\\Seen" not in dovecot.flags("INBOX")[uid]
    assert dovecot.messages("INBOX") == {uid: RAW}


def test_append_keeps_given_flags(dovecot: DovecotServer) -> None:
    uid = dovecot.append("INBOX", RAW, flags=[b"\\Flagged", b"$Forwarded"])
    assert uid is not None
    flags = dovecot.flags("INBOX")[uid]
    assert b"\\Flagged" in flags and b"$Forwarded" in flags
    assert b"\\Seen" not in flags


def test_idle_sees_append_from_second_connection(dovecot: DovecotServer) -> None:
    watcher = dovecot.client()
    try:
        watcher.select_folder("INBOX", readonly=True)
        watcher.idle()
        started = time.monotonic()
        uid = dovecot.append("INBOX", RAW)  # separate connection
        responses: list = []
        while time.monotonic() - started < 10 and not any(r[1:] == (b"EXISTS",) for r in responses):
            responses += watcher.idle_check(timeout=1)
        elapsed = time.monotonic() - started
        watcher.idle_done()
    finally:
        watcher.logout()
    assert (1, b"EXISTS") in responses, responses
    assert elapsed < 10
    assert uid == 1


def test_restart_keeps_port_and_messages(dovecot: DovecotServer) -> None:
    uid = dovecot.append("INBOX", RAW)
    dovecot.create_folder("Sales")
    dovecot.append("Sales", raw_message(2))
    port, pid, uidvalidity = dovecot.port, dovecot.pid, dovecot.uidvalidity("INBOX")

    connected = dovecot.client()
    connected.select_folder("INBOX")
    dovecot.restart()

    # The old connection was dropped by the restart.
    with pytest.raises((imapclient.IMAPClient.AbortError, OSError)):
        connected.noop()
    connected.shutdown()

    assert dovecot.port == port
    assert dovecot.pid is not None and dovecot.pid != pid
    assert dovecot.messages("INBOX") == {uid: RAW}
    assert list(dovecot.messages("Sales").values()) == [raw_message(2)]
    assert dovecot.uidvalidity("INBOX") == uidvalidity


def test_kick_drops_idling_client(dovecot: DovecotServer) -> None:
    victim = dovecot.client()
    victim.select_folder("INBOX")
    victim.idle()
    output = dovecot.kick()
    assert dovecot.user in output

    started = time.monotonic()
    try:
        result = victim.idle_check(timeout=5)
    except (imapclient.IMAPClient.AbortError, OSError):
        result = None  # raising is also an acceptable way to report the drop
    finally:
        victim.shutdown()
    if result is not None:
        bye = any(r and r[0] == b"BYE" for r in result)
        assert bye or (result == [] and time.monotonic() - started < 4), result

    # The server itself is still fine.
    again = dovecot.client()
    assert again.noop()[0].startswith(b"NOOP completed")
    again.logout()


def test_recreate_folder_changes_uidvalidity_and_keeps_messages(dovecot: DovecotServer) -> None:
    dovecot.create_folder("Partners")
    for n in range(3):
        dovecot.append("Partners", raw_message(n), flags=[b"\\Flagged"] if n == 0 else ())
    before = dovecot.uidvalidity("Partners")

    after = dovecot.recreate_folder_with_same_messages("Partners")

    assert after != before
    assert dovecot.uidvalidity("Partners") == after
    messages = dovecot.messages("Partners")
    assert len(messages) == 3
    assert sorted(messages.values()) == sorted(raw_message(n) for n in range(3))
    flagged = [uid for uid, flags in dovecot.flags("Partners").items() if b"\\Flagged" in flags]
    assert len(flagged) == 1
    assert not any(b"\\Seen" in flags for flags in dovecot.flags("Partners").values())


def test_create_and_delete_folder(dovecot: DovecotServer) -> None:
    dovecot.create_folder("Archive/2025")
    imap = dovecot.client()
    try:
        folders = {name: delim for _flags, delim, name in imap.list_folders()}
        assert folders["Archive/2025"] == b"/"
        assert "Archive" in folders  # the parent exists implicitly
    finally:
        imap.logout()
    dovecot.delete_folder("Archive/2025")
    imap = dovecot.client()
    try:
        assert not imap.folder_exists("Archive/2025")
    finally:
        imap.logout()


def test_start_refuses_directory_nobody_cannot_reach(tmp_path) -> None:
    # pytest's tmp_path lives under /tmp/pytest-of-<user> (mode 0700).
    server = DovecotServer()
    with pytest.raises(DovecotError, match="not traversable by 'nobody'"):
        server.start(tmp_path)
    assert not server.running


# --- SMTP ---------------------------------------------------------------------------------


def make_email(subject: str = "Forward: proposal") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "partnerships@example.test"
    msg["To"] = "ops@example.test"
    msg["Subject"] = subject
    msg.set_content("Sch\u00f6ne Gr\u00fc\u00dfe\n")
    return msg


def test_smtp_accept_records_envelope_and_parsed_message(smtp_server) -> None:
    server = smtp_server()
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        refused = client.send_message(make_email(), to_addrs=["ops@example.test", "cc@example.test"])
    assert refused == {}

    [recorded] = server.wait_for(1, timeout=5)
    assert recorded.mail_from == "partnerships@example.test"
    assert recorded.rcpt_tos == ["ops@example.test", "cc@example.test"]
    assert recorded.message["Subject"] == "Forward: proposal"
    assert recorded.message.get_content() == "Sch\u00f6ne Gr\u00fc\u00dfe\n"
    assert b"\r\nSubject: Forward: proposal\r\n" in recorded.data
    assert recorded.auth_login is None
    assert server.attempts == 1


def test_smtp_records_data_bytes_exactly(smtp_server) -> None:
    server = smtp_server()
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail("a@example.test", ["b@example.test"], RAW)
    [recorded] = server.wait_for(1, timeout=5)
    assert recorded.data == RAW  # dot-unstuffed, CRLF kept
    assert recorded.message["Message-ID"] == "<m1@partner.example>"


def test_smtp_tempfail_then_accept(smtp_server) -> None:
    server = smtp_server(mode="tempfail-then-accept")
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPDataError) as first:
            client.send_message(make_email())
        assert isinstance(first.value, smtplib.SMTPResponseException)
        assert first.value.smtp_code == 451
        assert first.value.smtp_error == TEMPFAIL_REPLY[4:].encode()
        assert server.messages == []

        assert client.send_message(make_email("second try")) == {}
    [recorded] = server.wait_for(1, timeout=5)
    assert recorded.message["Subject"] == "second try"
    assert server.attempts == 2


def test_smtp_reject_gives_550(smtp_server) -> None:
    server = smtp_server(mode="reject")
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        for _ in range(2):
            with pytest.raises(smtplib.SMTPDataError) as info:
                client.send_message(make_email())
            assert info.value.smtp_code == 550
            assert info.value.smtp_error == REJECT_REPLY[4:].encode()
    assert server.attempts == 2
    assert server.messages == []
    with pytest.raises(TimeoutError, match="expected 1"):
        server.wait_for(1, timeout=0.2)


def test_smtp_auth_when_configured(smtp_server) -> None:
    server = smtp_server(auth_user="sender@example.test", auth_password="s3cret")
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("auth")
        with pytest.raises(smtplib.SMTPSenderRefused) as unauthenticated:
            client.send_message(make_email())
        assert unauthenticated.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError) as wrong:
            client.login("sender@example.test", "nope")
        assert wrong.value.smtp_code == 535
        client.login("sender@example.test", "s3cret")
        assert client.send_message(make_email()) == {}
    [recorded] = server.wait_for(1, timeout=5)
    assert recorded.auth_login == "sender@example.test"
    assert server.auth_failures == 2  # smtplib.login() tries PLAIN, then LOGIN
    assert server.attempts == 1


def test_smtp_factory_gives_independent_servers(smtp_server) -> None:
    first, second = smtp_server(), smtp_server(mode="reject")
    assert first.port != second.port
    assert (first.mode, second.mode) == ("accept", "reject")
    with pytest.raises(ValueError, match="mode must be one of"):
        smtp_server(mode="bounce")
