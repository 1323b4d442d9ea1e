"""Small things a new user meets first: --version, a fast --help, options before the command, a dry run that
ends, names cut with an ellipsis, times that say UTC, audit lines on their own line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from factories import raw_email, run_cli

from daemon import __version__
from daemon.runtime import load_config, open_runtime


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "daemon", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    return time.monotonic() - started, done


def test_version_and_a_fast_help() -> None:
    _, done = timed("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"partnerships-daemon {__version__}"
    # The best of three, so a busy machine does not decide; the heavy libraries load only for a command.
    seconds = min(timed("--help")[0] for _ in range(3))
    _, done = timed("--help")
    assert done.returncode == 0 and "partnerships check --config FILE" in done.stdout
    assert seconds < 0.3, f"--help took {seconds:.2f} s"


def test_options_before_the_command(tmp_path: Path) -> None:
    run_cli("leads", "--state", str(tmp_path / "other"))  # another state, which the option must not fall back to
    code, out, _ = run_cli("--state", str(tmp_path / "state"), "status")
    assert (code, out) == run_cli("status", "--state", str(tmp_path / "state"))[:2]
    assert out != run_cli("status", "--state", str(tmp_path / "other"))[1]


def test_dry_run_without_once_ends_after_one_pass(tmp_path: Path) -> None:
    code, out, err = run_cli("run", "--dry-run", "--state", str(tmp_path / "state"))
    assert code == 0 and "[dry run] would do" in out
    assert "one pass only (--dry-run implies --once)" in err


def test_long_names_are_cut_with_an_ellipsis_and_times_say_utc(tmp_path: Path) -> None:
    code, out, _ = run_cli("leads", "--state", str(tmp_path / "state"))
    assert code == 0 and "last activity (UTC)" in out
    assert "Ironwood Institute for Computational Li…  " in out  # 40 columns, the last one an ellipsis


def test_the_audit_line_starts_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
        "Pine Ridge,Active Lead,lee@pine.edu,pine.edu,,,false,,met at the conference\n")
    mail = raw_email(message_id="no1@pine.edu", sender="Lee <lee@pine.edu>",
                     body="Thanks, but we have decided not to move forward with this.")
    (tmp_path / "inbox.mbox").write_bytes(b"From x Mon Jan  5 00:00:00 2026\n" + mail + b"\n")
    config = tmp_path / "c.toml"
    config.write_text('[daemon]\nstate_dir = "state"\n[source]\npath = "inbox.mbox"\n[leads]\nseed_csv = "leads.csv"\n'
                      '[trust]\nauthserv_ids = ["mx.google.com"]\n')
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    [lead] = open_runtime(load_config(config)).leads.all()
    lines = lead.notes.splitlines()
    assert lines[0] == "met at the conference"
    assert lines[1].startswith("2026-10-06 partnerships-daemon: Active Lead -> Inactive Lead")
