"""A refused IMAP login: exponential backoff up to an hour, reported once per change, READY=1 all the same."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from factories import run_cli
from servers import PARTNERSHIPS, DovecotServer, NotifySocket, write_daemon_config

from daemon.service.watch import AuthBackoff


def test_auth_backoff_doubles_up_to_an_hour() -> None:
    backoff = AuthBackoff(base=60)
    assert [backoff.next_delay() for _ in range(8)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    backoff.reset()
    assert backoff.next_delay() == 60


def test_wrong_imap_password_backs_off_reports_once_and_recovers_when_fixed(
        tmp_path: Path, dovecot: DovecotServer) -> None:
    config = write_daemon_config(tmp_path, dovecot, None, leads_csv="name,status,contact_emails,domain,"
                                 "service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n",
                                 source_extra="auth_retry_seconds = 0.25")
    (tmp_path / "imap-password").write_text("not-the-password\n")
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "4000000"}
    process = subprocess.Popen([str(PARTNERSHIPS), "run", "--config", str(config), "--log-level", "debug"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Up although the mailbox refuses us: systemd must not sit in `activating`.
        notify.wait_for("READY=1", timeout=20)
        status_line = notify.wait_for("STATUS=mailbox unreachable")
        assert "login refused by 127.0.0.1" in status_line and "AUTHENTICATIONFAILED" in status_line
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            shown = run_cli("status", "--config", str(config))[1]
            if "disconnected since" in shown:
                break
            time.sleep(0.2)
        assert "login refused by 127.0.0.1" in shown and "not-the-password" not in shown
        assert f"daemon: running (pid {process.pid})" in shown
        time.sleep(3.5)  # a few retries: 0.25 + 0.5 + 1 + 2 s
        (tmp_path / "imap-password").write_text(dovecot.password + "\n")
        notify.clear()
        notify.wait_for("STATUS=last sync", timeout=30)  # the fixed file is read again: no restart needed
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
        notify.sock.close()
    assert err.count("imap connection failed: login refused") == 1, err  # once per change
    delays = [float(d) for d in re.findall(r"imap connection failed(?: again)?: login refused.*?retrying in "
                                           r"([\d.]+) s", err)]
    assert delays[:4] == [0.2, 0.5, 1.0, 2.0], delays  # "%.1f" of 0.25, 0.5, 1, 2: doubling, no quick retries
    assert "imap connection works again after: login refused" in err
    assert "not-the-password" not in err and dovecot.password not in err
    shown = run_cli("status", "--config", str(config))[1]
    assert "daemon: not running (no `partnerships run` holds this state's lock)" in shown
    assert "connection: none; last known: connected (last sync" in shown
