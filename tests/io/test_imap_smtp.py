"""The daemon against a real Dovecot (IMAP IDLE) and a real SMTP server (aiosmtpd): end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import raw_email
from servers import DovecotServer, RecordingSMTPServer, write_daemon_config
from sqlalchemy import select

from daemon.cli import main
from daemon.runtime import load_config, make_pipeline, open_runtime
from daemon.service.watch import watch
from daemon.settings import Config
from daemon.state.models import ActionRow, SyncCursor

pytestmark = pytest.mark.slow
# Deadlines are generous: conditions are waited for, so a loaded 2-core machine only makes the test slower.
SLOW = 120.0

LEADS_CSV = (
    "name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
    "Lakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu,,,false,,\n"
    "Pine Ridge,Active Lead,lee@pineridge.edu,pineridge.edu,,,false,,\n"
)


def confirmation(number: int, sender: str = "Ada Park <ada@lakeside.edu>") -> bytes:
    return raw_email(message_id=f"confirm{number}@example.test", sender=sender,
                     subject=f"Re: Hub service #{number}",
                     body="We would like to go ahead with the Small tier at $1,500 per month.\n")


@dataclass
class Stop:
    event: threading.Event

    @property
    def requested(self) -> bool:
        return self.event.is_set()


@dataclass
class Daemon:
    config: Config
    thread: threading.Thread
    stop: threading.Event
    errors: list[BaseException]

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the watcher did not stop within 20 s"
        assert not self.errors, self.errors


def write_config(tmp_path: Path, dovecot: DovecotServer, smtp: RecordingSMTPServer, folders: list[str]) -> Path:
    return write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV, folders=folders,
                               daemon_extra="retry_base_seconds = 0.2",
                               source_extra="poll_seconds = 1\nidle_renew_seconds = 30")


@pytest.fixture
def start_daemon(tmp_path: Path, dovecot: DovecotServer, smtp_server: Callable[..., RecordingSMTPServer]
                 ) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(*, folders: list[str] | None = None, mode: str = "accept") -> Daemon:
        smtp = smtp_server(mode=mode)
        config = load_config(write_config(tmp_path, dovecot, smtp, folders or ["INBOX"]))
        runtime = open_runtime(config)
        pipeline = make_pipeline(runtime, dry_run=False)
        stop, synced = threading.Event(), threading.Event()
        errors: list[BaseException] = []
        password = config.source.imap.server.password.resolve()

        def target() -> None:
            try:
                watch(config.source.imap, password, pipeline, Stop(stop), tick=pipeline.execute, on_synced=synced.set)
            except BaseException as exc:  # surfaced by halt()
                errors.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        daemon = Daemon(config, thread, stop, errors)
        daemon.smtp = smtp  # type: ignore[attr-defined]
        daemon.synced = synced  # type: ignore[attr-defined]
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop.set()
        daemon.thread.join(timeout=20)


def lead_status(config: Config, name: str) -> str:
    runtime = open_runtime(config)
    return next(lead.status for lead in runtime.leads.all() if lead.name == name)


def wait_until(predicate: Callable[[], bool], timeout: float = SLOW) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def test_confirmation_appended_while_idling_is_forwarded(dovecot: DovecotServer, start_daemon) -> None:
    dovecot.append("INBOX", raw_email(message_id="old@example.test", subject="Old news", body="Hello"))
    daemon = start_daemon()
    assert daemon.synced.wait(SLOW)  # the daemon has synced and is idling
    dovecot.append("INBOX", confirmation(1))
    [received] = daemon.smtp.wait_for(1, timeout=SLOW)
    message = received.message
    assert received.rcpt_tos == ["operations@codeforsociety.org", "partnerships@2i2c.org"]
    assert message["To"] == "operations@codeforsociety.org" and message["Cc"] == "partnerships@2i2c.org"
    assert message["Subject"] == "[partnerships] Service confirmation: Lakeside Lab - Re: Hub service #1"
    note, attached = message.get_payload()
    assert "NEW SERVICE for Lakeside Lab" in note.get_content()
    assert attached.get_payload()[0]["Message-ID"] == "<confirm1@example.test>"
    wait_until(lambda: lead_status(daemon.config, "Lakeside Lab") == "Needs Admin")
    daemon.halt()
    assert all(b"\\Seen" not in flags for flags in dovecot.flags("INBOX").values())
    assert len(dovecot.flags("INBOX")) == 2  # nothing moved or deleted


def test_reconnects_after_server_restart_and_catches_up(dovecot: DovecotServer, start_daemon) -> None:
    daemon = start_daemon()
    assert daemon.synced.wait(SLOW)
    dovecot.restart()  # drops the idling connection; the daemon is disconnected while it starts again
    dovecot.append("INBOX", confirmation(2))
    [received] = daemon.smtp.wait_for(1, timeout=SLOW)
    assert received.message["Subject"].endswith("Re: Hub service #2")
    daemon.halt()


def test_kicked_connection_reconnects(dovecot: DovecotServer, start_daemon) -> None:
    daemon = start_daemon()
    assert daemon.synced.wait(SLOW)
    dovecot.kick()
    dovecot.append("INBOX", confirmation(3))
    daemon.smtp.wait_for(1, timeout=SLOW)
    daemon.halt()


def test_uidvalidity_change_repeats_nothing(dovecot: DovecotServer, start_daemon) -> None:
    dovecot.create_folder("Sales")
    dovecot.append("Sales", confirmation(4))
    dovecot.append("Sales", confirmation(5, sender="Lee Wong <lee@pineridge.edu>"))
    daemon = start_daemon(folders=["Sales"])
    daemon.smtp.wait_for(2, timeout=SLOW)
    daemon.halt()
    new_validity = dovecot.recreate_folder_with_same_messages("Sales")
    again = start_daemon(folders=["Sales"])

    def cursor() -> SyncCursor:
        with open_runtime(again.config).sessions() as session:
            return session.get(SyncCursor, "imap:Sales")

    wait_until(lambda: cursor().uidvalidity == new_validity and cursor().last_uid == 2)
    again.halt()
    assert len(again.smtp.messages) == 0 and len(daemon.smtp.messages) == 2


def test_temporary_smtp_failure_is_retried(dovecot: DovecotServer, start_daemon) -> None:
    daemon = start_daemon(mode="tempfail-then-accept")
    dovecot.append("INBOX", confirmation(6))
    [received] = daemon.smtp.wait_for(1, timeout=SLOW)
    assert received.message["Subject"].endswith("Re: Hub service #6")
    assert daemon.smtp.attempts == 2
    daemon.halt()
    with open_runtime(daemon.config).sessions() as session:
        forward = session.scalar(select(ActionRow).where(ActionRow.kind == "forward"))
    assert (forward.status, forward.attempts) == ("done", 2)


def test_permanent_smtp_failure_is_failed_and_shown_in_status(dovecot: DovecotServer, start_daemon,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    daemon = start_daemon(mode="reject")
    dovecot.append("INBOX", confirmation(7))

    def failed() -> bool:
        with open_runtime(daemon.config).sessions() as session:
            forward = session.scalar(select(ActionRow).where(ActionRow.kind == "forward"))
            return forward is not None and forward.status == "failed"

    wait_until(failed)
    daemon.halt()
    # A 5xx is not retried: one attempt for the forward, one for its alert to partnerships@ (refused too).
    assert daemon.smtp.attempts == 2
    assert lead_status(daemon.config, "Lakeside Lab") == "Needs Admin"  # the rest of the decision stands
    main(["status", "--config", str(daemon.config.source_file)])
    out = capsys.readouterr().out
    assert "failed forward forward:confirm7@example.test:service_confirmation" in out
    assert "550 5.7.1 Rejected" in out


def test_run_once_over_imap_from_the_cli(dovecot: DovecotServer, smtp_server, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    smtp = smtp_server()
    dovecot.append("INBOX", confirmation(8))
    config = write_config(tmp_path, dovecot, smtp, ["INBOX"])
    assert main(["run", "--once", "--config", str(config)]) == 0
    assert "forwards written: 1" in capsys.readouterr().out
    assert len(smtp.wait_for(1, timeout=SLOW)) == 1


def test_smtp_login_with_password_from_environment(dovecot: DovecotServer, smtp_server, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    smtp = smtp_server(auth_user="daemon", auth_password="s3cret")
    dovecot.append("INBOX", confirmation(9))
    config = write_config(tmp_path, dovecot, smtp, ["INBOX"])
    config.write_text(config.read_text() + 'username = "daemon"\npassword_env = "TEST_SMTP_SECRET"\n')
    monkeypatch.setenv("TEST_SMTP_SECRET", "s3cret")
    assert main(["run", "--once", "--config", str(config)]) == 0
    [received] = smtp.wait_for(1, timeout=SLOW)
    assert received.auth_login == "daemon"


def test_missing_smtp_secret_is_a_config_error(dovecot: DovecotServer, smtp_server, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, dovecot, smtp_server(), ["INBOX"])
    config.write_text(config.read_text() + 'username = "daemon"\npassword_env = "TEST_SMTP_SECRET"\n')
    monkeypatch.delenv("TEST_SMTP_SECRET", raising=False)
    assert main(["run", "--once", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "[send] password: environment variable TEST_SMTP_SECRET is not set" in err


class NoCursor:
    def cursor(self, source: str) -> tuple[int | None, int]:
        return None, 0


def test_fetch_batches_by_count_and_size_with_the_servers_receipt_dates(
        dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first sync of a large folder FETCHes at most `batch_size` messages and FETCH_BYTES bytes at a time (a
    large message comes alone), in UID order, with each message's INTERNALDATE."""
    from datetime import UTC, datetime

    from daemon.io import imap as imap_module
    from daemon.io.imap import ImapSource

    days = [datetime(2025, 1, day, 9, 30, tzinfo=UTC) for day in range(1, 8)]
    large = 6  # the sixth is larger than a batch may be
    for number, day in enumerate(days, start=1):
        data = confirmation(number)
        if number == large:
            data = data.replace(b"per month.", b"per month.\n" + (b"y" * 76 + b"\n") * 200)
        dovecot.append("INBOX", data, msg_time=day)
    monkeypatch.setattr(imap_module, "FETCH_BYTES", 8000)
    config = load_config(write_daemon_config(tmp_path, dovecot, None, leads_csv=LEADS_CSV,
                                             source_extra="batch_size = 3\n"))
    imap = config.source.imap
    source = ImapSource(imap, imap.server.password.resolve())
    source.connect()
    commands: list[list[int]] = []
    request = imap_module._request

    def recording(client: object, uids: list[int], items: str) -> bytes:
        if "BODY.PEEK" in items:
            commands.append(list(uids))
        return request(client, uids, items)

    monkeypatch.setattr(imap_module, "_request", recording)
    try:
        uidvalidity, uids = source.new_uids("INBOX", NoCursor())  # every message
        items = list(source.fetch("INBOX", uidvalidity, uids))
    finally:
        source.close()
    assert [item.uid for item in items] == uids and len(items) == 7
    assert [item.received for item in items] == days
    assert max(len(batch) for batch in commands) <= 3
    assert [uids[large - 1]] in commands  # alone: with a neighbour it would pass FETCH_BYTES


def test_the_uids_above_the_cursor_and_none_when_it_is_at_the_top(dovecot: DovecotServer) -> None:
    """A search for N:* answers the highest UID even when it is below N: the cursor at the top finds nothing."""
    from daemon.io.imap import searched_uids

    for number in range(1, 6):
        dovecot.append("INBOX", confirmation(number))
    client = dovecot.client()
    try:
        client.select_folder("INBOX", readonly=True)
        every = searched_uids(client, 0)
        above = searched_uids(client, every[1])
        top = searched_uids(client, every[-1])
        completed, unread = client.noop()  # the search's answer was read off the connection, all of it
    finally:
        client.logout()
    assert len(every) == 5 and every == sorted(every)
    assert above == every[2:] and top == []
    assert completed.startswith(b"NOOP completed") and unread == []


def test_a_fetch_stopped_early_leaves_the_connection_usable_and_nothing_read(
        dovecot: DovecotServer, tmp_path: Path) -> None:
    """The FETCH of the next batch is sent before the current one is handed out; stopping in between reads its
    answer off the connection, so the next command gets its own answer. Nothing is ever marked \\Seen."""
    from daemon.io.imap import ImapSource

    sent = [confirmation(number) for number in range(1, 8)]
    for data in sent:
        dovecot.append("INBOX", data)
    config = load_config(write_daemon_config(tmp_path, dovecot, None, leads_csv=LEADS_CSV,
                                             source_extra="batch_size = 2\n"))
    imap = config.source.imap
    source = ImapSource(imap, imap.server.password.resolve())
    client = source.connect()
    try:
        uidvalidity, uids = source.new_uids("INBOX", NoCursor())
        fetched = source.fetch("INBOX", uidvalidity, uids)
        first = [next(fetched) for _ in range(3)]  # the second batch half read, the third one requested
        fetched.close()
        completed, unread = client.noop()  # a FETCH answer left on the connection would show here
        again_validity, again = source.new_uids("INBOX", NoCursor())
        items = list(source.fetch("INBOX", again_validity, again))
        flags = client.get_flags(uids)
    finally:
        source.close()
    assert completed.startswith(b"NOOP completed") and unread == []
    assert [item.uid for item in first] == uids[:3]
    assert again == uids and [item.uid for item in items] == uids
    assert [item.data.replace(b"\r\n", b"\n") for item in items] == [data.replace(b"\r\n", b"\n") for data in sent]
    assert not any(b"\\Seen" in flags[uid] for uid in uids)


def test_fetch_answers_of_another_shape_read_as_the_usual_one() -> None:
    """The usual FETCH answer is read directly; items in another order, or unsolicited FLAGS, go through
    imapclient's parser and give the same messages, sizes and receipt dates."""
    from datetime import UTC, datetime

    from daemon.io.imap import fetched_messages, fetched_sizes

    usual = [(b'1 (UID 7 INTERNALDATE "05-Jan-2025 09:30:00 +0100" BODY[] {5}', b"hello"), b")",
             (b'2 (UID 9 INTERNALDATE "06-Jan-2025 09:30:00 +0000" BODY[] {3}', b"bye"), b")"]
    other = [(b'1 (INTERNALDATE "05-Jan-2025 09:30:00 +0100" BODY[] {5}', b"hello"), b" UID 7)",
             (b'2 (UID 9 FLAGS (\\Recent) INTERNALDATE "06-Jan-2025 09:30:00 +0000" BODY[] {3}', b"bye"), b")"]
    expected = {7: (b"hello", datetime(2025, 1, 5, 8, 30, tzinfo=UTC)),
                9: (b"bye", datetime(2025, 1, 6, 9, 30, tzinfo=UTC))}
    assert fetched_messages(usual) == expected
    assert fetched_messages(other) == expected
    assert fetched_messages([None]) == {}
    unreadable = [(b'1 (UID 7 INTERNALDATE "yesterday" BODY[] {5}', b"hello"), b")"]
    assert fetched_messages(unreadable) == {7: (b"hello", None)}
    assert fetched_sizes([b"1 (UID 7 RFC822.SIZE 5)", b"2 (UID 9 RFC822.SIZE 3)"]) == {7: 5, 9: 3}
    assert fetched_sizes([b"1 (RFC822.SIZE 5 UID 7)", b"2 (UID 9 RFC822.SIZE 3 FLAGS ())"]) == {7: 5, 9: 3}
