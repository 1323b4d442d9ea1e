"""Secrets (IMAP and SMTP passwords, the Airtable token) never show in logs, status, check or error messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from factories import raw_email, run_cli
from servers import DovecotServer, RecordingSMTPServer, write_daemon_config

IMAP_SECRET = "imap-SECRET-7f3a"
SMTP_SECRET = "smtp-SECRET-91bc"
LEADS = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
         "Lakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu,,,false,,\n")


def run_combined(*args: str) -> tuple[int, str]:
    code, out, err = run_cli(*args)
    return code, out + err


def test_wrong_passwords_are_reported_without_the_passwords(tmp_path: Path, dovecot: DovecotServer, smtp_server,
                                                             caplog: pytest.LogCaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    smtp: RecordingSMTPServer = smtp_server(auth_user="daemon", auth_password="the-right-one")
    dovecot.append("INBOX", raw_email(sender="Ada <ada@lakeside.edu>",
                                      body="We would like to go ahead with the Small tier at $1,500 per month."))
    config = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS,
                                 daemon_extra="max_attempts = 1\nretry_base_seconds = 0.1")
    config.write_text(config.read_text() + 'username = "daemon"\npassword_env = "TEST_SMTP_SECRET"\n')
    monkeypatch.setenv("TEST_SMTP_SECRET", SMTP_SECRET)
    outputs = []
    code, out = run_combined("run", "--once", "--config", str(config))  # IMAP login works, SMTP login fails
    outputs.append(out)
    assert code == 0 and "forwards written: 0" in out
    for command in (["status"], ["status", "--json"], ["check"], ["review", "list"]):
        outputs.append(run_combined(*command, "--config", str(config))[1])
    assert "535" in "".join(outputs)  # the server's refusal is shown ...
    (tmp_path / "imap-password").write_text(IMAP_SECRET)
    code, out = run_combined("run", "--once", "--config", str(config))
    outputs.append(out)
    assert code == 2 and "login refused by" in out and "Authentication failed" in out
    everything = "\n".join(outputs) + "\n".join(record.getMessage() for record in caplog.records)
    everything += "\n".join(str(record.exc_info) for record in caplog.records if record.exc_info)
    for secret in (IMAP_SECRET, SMTP_SECRET, dovecot.password):  # ... the secrets are not
        assert secret not in everything
