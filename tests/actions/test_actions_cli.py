"""`partnerships actions list|retry|cancel` and the alert mail after a permanent failure, against real aiosmtpd."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from factories import raw_email, run_cli
from servers import RecordingSMTPServer

from daemon.settings import PROJECT_ROOT

LEADS_CSV = (
    "name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
    "Lakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu,,,false,,\n"
)
FORWARD_KEY = "forward:confirm1@lakeside.edu:service_confirmation"


def write_setup(tmp_path: Path, smtp: RecordingSMTPServer, *, smtp_password: str | None = None,
                templates: Path | None = None) -> Path:
    """An mbox with one confirmation, SMTP to `smtp` (with a password file when `smtp_password` is given)."""
    mail = raw_email(message_id="confirm1@lakeside.edu", sender="Ada Park <ada@lakeside.edu>",
                     subject="Re: Hub service", body="We would like to go ahead with the Small tier at $1,500 "
                                                     "per month.\n")
    (tmp_path / "inbox.mbox").write_bytes(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\n" + mail + b"\n")
    (tmp_path / "leads.csv").write_text(LEADS_CSV)
    auth = ""
    if smtp_password is not None:
        (tmp_path / "smtp-password").write_text(smtp_password + "\n")
        auth = 'username = "daemon"\npassword_file = "smtp-password"\n'
    templates_line = f'templates_dir = "{templates}"\n' if templates else ""
    config = tmp_path / "partnerships.toml"
    config.write_text(f"""
[trust]
authserv_ids = ["mx.google.com"]
[daemon]
state_dir = "state"
max_attempts = 2
retry_base_seconds = 0.01
{templates_line}
[source]
kind = "mbox"
path = "inbox.mbox"

[leads]
seed_csv = "leads.csv"

[send]
kind = "smtp"
host = "127.0.0.1"
port = {smtp.port}
tls = "none"
{auth}""")
    return config


def failed_rows(config: Path) -> list[dict]:
    code, out, _ = run_cli("actions", "list", "--failed", "--json", "--config", str(config))
    assert code == 0
    return json.loads(out)


def test_smtp_535_pauses_sending_and_retry_after_the_fix_delivers(
        tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    smtp = smtp_server(auth_user="daemon", auth_password="right")
    config = write_setup(tmp_path, smtp, smtp_password="wrong")
    code, out, _ = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "pending forward " + FORWARD_KEY in out
    # One login (smtplib tries AUTH PLAIN, then LOGIN: two refusals), not one per retry or per message.
    assert smtp.auth_failures == 2 and smtp.messages == []
    # A refused login is not the message's fault: nothing failed, nothing alerts, the forward waits.
    assert failed_rows(config) == []
    [forward] = json.loads(run_cli("actions", "list", "--json", "--config", str(config))[1])
    assert (forward["key"], forward["status"], forward["attempts"]) == (FORWARD_KEY, "pending", 0)
    assert "535" in forward["last_error"] and "all sending paused until" in forward["last_error"]
    code, out, _ = run_cli("status", "--config", str(config))
    assert "smtp: login refused since" in out and "535" in out and "wrong" not in out

    # A second pass within the pause does not try to log in again.
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    assert smtp.auth_failures == 2
    (tmp_path / "smtp-password").write_text("right\n")
    code, out, _ = run_cli("actions", "retry", str(forward["id"]), "--config", str(config))
    assert code == 0, out
    assert f"done: {FORWARD_KEY}" in out
    [received] = smtp.wait_for(1)
    assert received.rcpt_tos == ["operations@codeforsociety.org", "partnerships@2i2c.org"]
    code, out, _ = run_cli("status", "--config", str(config))
    assert "smtp: login refused" not in out
    code, out, _ = run_cli("actions", "retry", "--all-failed", "--config", str(config))
    assert code == 0 and "no failed actions to retry" in out
    assert len(smtp.messages) == 1


def test_a_second_refusal_doubles_the_pause(tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    from datetime import datetime, timedelta

    from daemon.runtime import load_config, open_runtime

    smtp = smtp_server(auth_user="daemon", auth_password="right")
    config = write_setup(tmp_path, smtp, smtp_password="wrong")
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    runtime = open_runtime(load_config(config))
    start = datetime(2030, 1, 1)
    runtime.executor.clock = lambda: start
    runtime.executor.run_pending()
    first = runtime.executor.login_pause.until
    assert first == start + timedelta(seconds=60)
    runtime.executor.clock = lambda: start + timedelta(seconds=30)
    runtime.executor.run_pending()  # still paused: no login attempt
    assert runtime.executor.login_pause.refusals == 1
    runtime.executor.clock = lambda: first
    runtime.executor.run_pending()
    assert runtime.executor.login_pause.until == first + timedelta(seconds=120)
    # Three logins (the run above and the two tries here; none during the pause), two refusals each (PLAIN, LOGIN).
    assert smtp.auth_failures == 6


def test_template_error_sends_one_alert_and_retry_after_fixing_the_template(
        tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    confirmation = templates / "forward_service_confirmation.txt.j2"
    good = confirmation.read_text()
    confirmation.write_text(good.replace("{{ new_hub_url }}", "{{ new_hub_url }} {{ no_such_variable }}"))
    smtp = smtp_server()
    config = write_setup(tmp_path, smtp, templates=templates)
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    [alert] = smtp.wait_for(1)
    assert "Action failed for good: forward" in str(alert.message["Subject"])
    body = alert.message.get_content()
    assert "no_such_variable" in body and "partnerships actions retry" in body
    [forward] = failed_rows(config)
    assert forward["key"] == FORWARD_KEY

    # A second pass neither retries the failed forward nor alerts again.
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    assert len(smtp.messages) == 1

    confirmation.write_text(good)
    code, out, _ = run_cli("actions", "retry", str(forward["id"]), "--config", str(config))
    assert code == 0 and f"done: {FORWARD_KEY}" in out
    forwarded = smtp.wait_for(2)[1]
    assert forwarded.rcpt_tos == ["operations@codeforsociety.org", "partnerships@2i2c.org"]


def test_cancel_stops_an_action_and_refuses_what_is_done(
        tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    smtp = smtp_server(mode="reject")
    config = write_setup(tmp_path, smtp)
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    rows = failed_rows(config)
    forward = next(r for r in rows if r["kind"] == "forward")
    code, out, _ = run_cli("actions", "cancel", str(forward["id"]), "--config", str(config))
    assert code == 0 and f"action #{forward['id']} {FORWARD_KEY} cancelled by" in out
    code, out, _ = run_cli("actions", "list", "--config", str(config))
    assert f"#{forward['id']}  cancelled" in out
    code, _, err = run_cli("actions", "cancel", str(forward["id"]), "--config", str(config))
    assert code == 2 and "is cancelled: nothing to cancel" in err
    code, _, err = run_cli("actions", "retry", "9999", "--config", str(config))
    assert code == 2 and "action #9999 does not exist" in err
    code, _, err = run_cli("actions", "retry", "--config", str(config))
    assert code == 2 and "needs either an ID or --all-failed" in err
