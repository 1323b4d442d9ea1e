"""First import is safe: mail dated before `since` (default for IMAP: the day of installation) is recorded and
listed with what it would have done, never acted on, and no flag on the server changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import raw_email, run_cli
from servers import DovecotServer, RecordingSMTPServer, write_daemon_config

from daemon.runtime import load_config, open_runtime
from daemon.settings import RESOURCES
from daemon.state.models import get_meta

LEADS_CSV = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
             "Lakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu,,,false,,\n")


def confirmation(message_id: str, date: datetime) -> bytes:
    return raw_email(message_id=message_id, sender="Ada Park <ada@lakeside.edu>", subject="Re: Hub service",
                     body="We would like to go ahead with the Small tier at $1,500 per month.\n", date=date)


def test_first_sync_acts_only_on_mail_since_the_day_of_installation(
        dovecot: DovecotServer, smtp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    smtp: RecordingSMTPServer = smtp_server()
    old = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
    dovecot.append("INBOX", confirmation("old@example.test", old), msg_time=old)
    dovecot.append("INBOX", confirmation("new@example.test", datetime.now(UTC)))
    config = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV, since=None)
    code, out, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    [sent] = smtp.wait_for(1)
    assert "new@example.test" in sent.data.decode() and "old@example.test" not in sent.data.decode()
    assert "before since (recorded, not acted on): 1 message(s) would have done:" in out
    assert "<old@example.test> 2024-03-05: set_status" in out and "forward forward:old@example.test" in out
    runtime = open_runtime(load_config(config))
    assert get_meta(runtime.sessions, "installed_on") == {"installed_on": datetime.now(UTC).date().isoformat()}
    assert all(b"\\Seen" not in flags for flags in dovecot.flags("INBOX").values())
    code, out, _ = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "before since" not in out and len(smtp.messages) == 1


def test_since_goes_by_the_servers_receipt_date_not_the_date_header(
        dovecot: DovecotServer, smtp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Date header is the sender's word: backdating a new message must not hide it from review, and an old
    message with a fresh (or wrong) Date must not act. The IMAP INTERNALDATE decides."""
    monkeypatch.chdir(tmp_path)
    smtp: RecordingSMTPServer = smtp_server()
    long_ago = datetime(2023, 6, 1, 9, 0, tzinfo=UTC)
    # Received years ago, but its Date header claims today: history, held back.
    dovecot.append("INBOX", confirmation("forged-new@example.test", datetime.now(UTC)), msg_time=long_ago)
    # Received today, but its Date header claims 2023: new mail, acted on.
    dovecot.append("INBOX", confirmation("backdated@example.test", long_ago), msg_time=datetime.now(UTC))
    config = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV, since=None)
    code, out, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    [sent] = smtp.wait_for(1)
    assert "backdated@example.test" in sent.data.decode() and "forged-new@example.test" not in sent.data.decode()
    assert "before since (recorded, not acted on): 1 message(s) would have done:" in out
    assert "<forged-new@example.test> 2023-06-01:" in out


def test_an_mbox_goes_by_its_from_lines(tmp_path: Path) -> None:
    """In an mbox the From_ separator line keeps when the message arrived; the Date header only when it has none."""
    mbox = tmp_path / "export.mbox"
    old, new = confirmation("old@example.test", datetime.now(UTC)), confirmation("new@example.test",
                                                                                 datetime(2020, 1, 1, tzinfo=UTC))
    mbox.write_bytes(b"From ada@lakeside.edu Mon Jan  6 10:00:00 2025\n" + old.replace(b"\r\n", b"\n") +
                     b"\nFrom ada@lakeside.edu Tue Dec  1 10:00:00 2026\n" + new.replace(b"\r\n", b"\n") + b"\n")
    leads = tmp_path / "leads.csv"
    leads.write_text(LEADS_CSV)
    config = tmp_path / "c.toml"
    config.write_text('[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[source]\nsince = 2026-01-01\n'
                      f'[leads]\nseed_csv = "{leads}"\n')
    code, out, err = run_cli("replay", str(mbox), "--config", str(config))
    assert code == 0, err
    assert "before since (recorded, not acted on): 1 message(s) would have done:" in out
    assert "<old@example.test> 2025-01-06:" in out and "<new@example.test>" not in out


def test_a_configured_since_holds_back_an_mbox_replay(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n[source]\nsince = 2027-01-01\n'
                      f'[leads]\nseed_csv = "{RESOURCES / "examples" / "leads.csv"}"\n')
    code, out, err = run_cli("replay", str(RESOURCES / "examples" / "inbox.mbox"), "--config", str(config))
    assert code == 0, err
    assert "forwards written: 0" in out and "status changes: 0" in out and "leads created: 0" in out
    assert "before since (recorded, not acted on):" in out and "create_lead create_lead:westbrook.edu" in out
    assert not list((tmp_path / "state" / "outbox").glob("*.eml"))


@pytest.mark.parametrize("value", ['"yesterday"', "12", '"2026-13-01"'])
def test_since_must_be_a_date(tmp_path: Path, value: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[source]\nsince = {value}\n")
    code, _, err = run_cli("check", "--config", str(config))
    assert code == 2 and "[source] since:" in err and "is not a date (YYYY-MM-DD)" in err
