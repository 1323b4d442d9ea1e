"""The invoice batch end to end: CLI dry run and send, once per month, and the scheduler's catch-up."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from factories import bayside_has_ended, run_cli

from daemon.runtime import open_runtime
from daemon.service.scheduler import InvoiceScheduler
from daemon.settings import Config, InvoiceSchedule


@pytest.fixture
def replayed_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    assert run_cli("run", "--once", "--state", str(state))[0] == 0
    return state


def invoice_files(state: Path) -> list[Path]:
    return sorted((state / "outbox").glob("invoice-*.eml"))


def test_dry_run_prints_batch_and_csv_and_sends_nothing(replayed_state: Path) -> None:
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--dry-run", "--state", str(replayed_state))
    assert code == 0
    assert "Subject: Invoice batch for October 2026: 3 of 5 communities ready" in out
    assert "Riverbend University Hydrology Lab" in out and "4,284.37" in out
    assert "Summit State University Neuroscience: no delivery affirmation for October 2026" in out
    # Bayside wrote in November that its service ends on December 31: October's fee stays in the batch.
    assert "Bayside Genomics Consortium                       large   6,000.00" in out
    ended = "service ended 2026-12-31; billed for 2026-10, the month it was still running"
    assert (ended in out) == bayside_has_ended()
    assert "unknown community 'Westfield College Astronomy'" in out
    assert "2026-10,Riverbend University Hydrology Lab,medium,3000.00,1284.37,4284.37,USD,ready" in out
    assert invoice_files(replayed_state) == []


def test_invoice_is_sent_once_with_csv_attached(replayed_state: Path) -> None:
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--state", str(replayed_state))
    assert code == 0 and "sent the batch for 2026-10" in out
    [path] = invoice_files(replayed_state)
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "operations@codeforsociety.org" and message["Cc"] == "partnerships@2i2c.org"
    assert message["Subject"] == "Invoice batch for October 2026: 3 of 5 communities ready"
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Partnerships-Daemon"] == "invoice"
    body, attachment = message.get_payload()
    assert "3 of 5 communities" in body.get_content()
    assert attachment.get_filename() == "invoice-batch-2026-10.csv"
    assert b"Open Ocean Data Alliance,small,1500.00,0.00,1500.00,USD,ready" in attachment.get_payload(decode=True)
    code, again, _ = run_cli("invoice", "--month", "2026-10", "--state", str(replayed_state))
    assert code == 0 and "recorded before (done" in again
    assert len(invoice_files(replayed_state)) == 1
    assert "last invoice batch: 2026-10 done" in run_cli("status", "--state", str(replayed_state))[1]


def test_bad_month_is_a_usage_error(replayed_state: Path) -> None:
    assert run_cli("invoice", "--month", "October", "--state", str(replayed_state))[0] == 2


def scheduler_at(config: Config, moment: datetime) -> InvoiceScheduler:
    runtime = open_runtime(config)
    return InvoiceScheduler(config, runtime.sessions, runtime.executor, clock=lambda: moment)


def test_scheduler_catches_up_once_after_downtime(tmp_path: Path) -> None:
    config = Config(state_dir=tmp_path / "state", first_invoice_month="2026-09",
                    invoice_schedule=InvoiceSchedule(send_on="last-day", timezone="America/Los_Angeles"))
    # down from before Oct 31 09:00 Los Angeles until Nov 2: the October batch is sent at start-up
    assert scheduler_at(config, datetime(2026, 10, 31, 15, 59, tzinfo=UTC)).start() == ["2026-09"]
    assert scheduler_at(config, datetime(2026, 11, 2, 8, 0, tzinfo=UTC)).start() == ["2026-10"]
    assert scheduler_at(config, datetime(2026, 11, 2, 9, 0, tzinfo=UTC)).start() == []  # restart: not again
    names = [p.name for p in sorted((tmp_path / "state" / "outbox").iterdir())]
    assert len(names) == 2 and all(name.startswith("invoice-") for name in names)


def test_fresh_install_does_not_send_old_months(tmp_path: Path) -> None:
    config = Config(state_dir=tmp_path / "state")
    first = scheduler_at(config, datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    assert first.first_month == "2026-11" and first.start() == []
    # the first-run month is remembered, so a restart in December still starts from November; November's
    # batch waits for the affirmation window (December 1-7) and goes out on the 8th
    assert scheduler_at(config, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)).start() == []
    later = scheduler_at(config, datetime(2026, 12, 8, 12, 0, tzinfo=UTC))
    assert later.first_month == "2026-11" and later.start() == ["2026-11"]


def test_scheduler_checks_every_minute(tmp_path: Path) -> None:
    scheduler = scheduler_at(Config(state_dir=tmp_path / "state"), datetime(2026, 11, 23, tzinfo=UTC))
    [job] = scheduler.scheduler.jobs
    assert (job.interval, job.unit) == (1, "minutes")
    assert scheduler.scheduler.idle_seconds <= 60


def test_a_corrected_batch_is_marked_and_sent_once_per_reason(replayed_state: Path) -> None:
    state = str(replayed_state)
    code, _, err = run_cli("invoice", "--month", "2026-10", "--resend", "--reason", "fee", "--state", state)
    assert code == 2 and "the batch for 2026-10 was not sent (never recorded)" in err
    assert run_cli("invoice", "--month", "2026-10", "--state", state)[0] == 0
    code, _, err = run_cli("invoice", "--month", "2026-10", "--resend", "--state", state)
    assert code == 2 and "needs --reason TEXT" in err
    reason = "Riverbend's cloud spend was missing a day"
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--resend", "--reason", reason, "--state", state)
    assert code == 0 and f"sent a corrected batch for 2026-10 (reason: {reason})" in out
    sent = sorted(invoice_files(replayed_state), key=lambda path: path.stat().st_mtime)
    assert len(sent) == 2
    corrected = email.message_from_bytes(sent[1].read_bytes(), policy=policy.default)
    assert corrected["Subject"] == "CORRECTED Invoice batch for October 2026: 3 of 5 communities ready"
    body = corrected.get_payload()[0].get_content()
    assert "CORRECTION: this batch replaces the one sent before for October 2026; use this one." in body
    assert f"Reason: {reason}" in body
    # Once per reason (case and spacing do not make a new one); another reason is another correction.
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--resend", "--reason", reason.upper() + "  ",
                           "--state", state)
    assert code == 0 and "recorded before; it is sent once per reason" in out
    assert run_cli("invoice", "--month", "2026-10", "--resend", "--reason", "tier changed", "--state", state)[0] == 0
    assert len(invoice_files(replayed_state)) == 3
