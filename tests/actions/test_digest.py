"""The weekly digest: off by default, due once per ISO week at the configured moment, and what it reports."""

from __future__ import annotations

import contextlib
import email
import io
from datetime import UTC, date, datetime, time
from email import policy
from pathlib import Path

import pytest
from factories import cascade_has_started

from daemon.cli import main
from daemon.core.digest import OpenReview, digest_variables, digest_week
from daemon.core.lead import Lead
from daemon.errors import ConfigError
from daemon.runtime import load_config, open_runtime
from daemon.service.scheduler import InvoiceScheduler
from daemon.settings import Config, DigestSettings

MONDAY_9_LA = DigestSettings(enabled=True, weekday="monday", at=time(9, 0), timezone="America/Los_Angeles")


@pytest.mark.parametrize(("now", "week"), [
    (datetime(2026, 11, 23, 16, 59, tzinfo=UTC), None),  # Monday 08:59 in Los Angeles
    (datetime(2026, 11, 23, 17, 0, tzinfo=UTC), "2026-W48"),
    (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), "2026-W48"),  # Sunday: still this week's digest
    (datetime(2027, 1, 4, 17, 30, tzinfo=UTC), "2027-W01"),
])
def test_digest_week(now: datetime, week: str | None) -> None:
    assert digest_week(now, MONDAY_9_LA) == week


def test_config_off_by_default_and_validated(tmp_path: Path) -> None:
    assert Config().digest.enabled is False
    path = tmp_path / "c.toml"
    path.write_text('[digest]\nenabled = true\nweekday = "Friday"\nat = "16:30"\ntimezone = "Europe/Berlin"\n')
    digest = load_config(path).digest
    assert (digest.enabled, digest.weekday, digest.at, digest.timezone) == (True, "friday", time(16, 30),
                                                                          "Europe/Berlin")
    path.write_text('[digest]\nweekday = "someday"\n')
    with pytest.raises(ConfigError, match=r"\[digest\] weekday: 'someday'"):
        load_config(path)


def test_digest_content() -> None:
    leads = [Lead("1", "Quiet Lead", "Active Lead"), Lead("2", "Busy Lead", "Active Lead"),
             Lead("3", "Affirmed Service", "Active Service"), Lead("4", "Unaffirmed Service", "Active Service"),
             Lead("5", "Contracted Service", "Active Service"), Lead("6", "Closed", "Inactive Lead")]
    activity = {"2": datetime(2026, 11, 20), "3": datetime(2026, 11, 3), "4": datetime(2026, 11, 2),
                "5": datetime(2026, 11, 10)}
    variables = digest_variables(leads, activity, {("3", "2026-10"), ("4", "2026-09")}, {"5"},
                                 [OpenReview("Busy Lead", "decline", "not allowed", datetime(2026, 11, 1))],
                                 date(2026, 11, 23), MONDAY_9_LA)
    assert {row["status"]: row["count"] for row in variables["per_status"]} == {
        "Active Lead": 2, "Inactive Lead": 1, "Needs Admin": 0, "Active Service": 3, "Inactive Service": 0,
        "Waiting": 0}
    assert [q["name"] for q in variables["quiet"]] == ["Quiet Lead"]  # closed leads are expected to be quiet
    assert variables["unaffirmed"] == ["Unaffirmed Service"] and variables["last_month"] == "2026-10"
    assert variables["reviews"][0]["lead"] == "Busy Lead"


def test_scheduler_sends_the_digest_once_per_week(tmp_path: Path) -> None:
    state = tmp_path / "state"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "--once", "--state", str(state)]) == 0
    config = Config(state_dir=state, digest=MONDAY_9_LA)
    moment = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    for _ in range(2):  # a restart in the same week does not send it again
        runtime = open_runtime(config)
        InvoiceScheduler(config, runtime.sessions, runtime.executor, clock=lambda: moment).start()
    [path] = (state / "outbox").glob("digest-*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "partnerships@2i2c.org" and message["Cc"] is None
    assert message["Subject"].startswith("[partnerships] Weekly digest 2026-W48: 22 leads, 3 review item(s)")
    body = message.get_content()
    assert f"Needs Admin       {2 if cascade_has_started() else 3}" in body
    assert "Summit State University Neuroscience" in body  # no affirmation for 2026-10 and no contract
    assert "sender grants@harborview-ocean.org is not a known contact" in body


def test_digest_and_status_list_an_action_that_failed_for_good(tmp_path: Path) -> None:
    from daemon.state import outbox

    state = tmp_path / "state"
    config = Config(state_dir=state, digest=MONDAY_9_LA, leads_seed_csv=None)
    runtime = open_runtime(config)
    # A forward whose original was never stored fails for good (not retryable), and raises one alert.
    outbox.enqueue_once(runtime.sessions, "forward:lost@example.test:contract", "forward",
                        {"message_id": "lost@example.test"})
    runtime.executor.run_pending()
    [alert] = (state / "outbox").glob("alert-*.eml")
    alert_message = email.message_from_bytes(alert.read_bytes(), policy=policy.default)
    assert alert_message["To"] == "partnerships@2i2c.org" and alert_message["Cc"] is None
    assert "original <lost@example.test> is not stored" in alert_message.get_content()
    moment = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    InvoiceScheduler(config, runtime.sessions, runtime.executor, clock=lambda: moment).start()
    [path] = (state / "outbox").glob("digest-*.eml")
    body = email.message_from_bytes(path.read_bytes(), policy=policy.default).get_content()
    assert "Actions that failed for good (1)" in body
    assert "forward forward:lost@example.test:contract: original <lost@example.test> is not stored" in body
