"""The web desk's systemd unit: it verifies, keeps the daemon unit's hardening and listens on loopback only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.settings import PROJECT_ROOT

WEB_UNIT = PROJECT_ROOT / "systemd" / "partnerships-web.service"
DAEMON_UNIT = PROJECT_ROOT / "systemd" / "partnerships-daemon.service"


def _hardening(text: str) -> list[str]:
    return [line for line in text.split("# Hardening", 1)[1].split("[Install]")[0].splitlines()
            if line and not line.startswith("#")]


def test_web_unit_verifies_and_is_hardened_like_the_daemon(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: run scripts/install-test-deps.sh (installs Debian's systemd)")
    text = WEB_UNIT.read_text()
    unit = tmp_path / WEB_UNIT.name
    # verify insists that ExecStart exists: point it at this checkout's console script
    unit.write_text(text.replace("/opt/partnerships-daemon/.venv/bin/partnerships",
                                 str(Path(sys.executable).with_name("partnerships"))))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    if result.returncode != 0 and "Failed to" in result.stderr and "bus" in result.stderr.lower():
        pytest.skip(f"systemd-analyze cannot run in this container: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert _hardening(text) == _hardening(DAEMON_UNIT.read_text())
    for setting in ("DynamicUser=yes", "User=partnerships-daemon", "StateDirectory=partnerships-daemon",
                    "UMask=0077", "Restart=on-failure"):
        assert setting in text, setting
    assert re.search(r"^ExecStart=.* web .*--listen 127\.0\.0\.1:8025", text, re.MULTILINE)
