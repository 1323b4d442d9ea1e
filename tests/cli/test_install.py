"""Installed like a Python service: a wheel built from the tracked files carries rules, templates, examples and
migrations; installed elsewhere, `partnerships --version`, `init` and `run --once` work without the checkout,
and the systemd unit verifies with the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import daemon
from daemon.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(wheel, target): built from a copy of the tracked files (the checkout stays clean), installed with
    `pip install --target` (no index: the dependencies come from the test environment)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
                             ).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (PROJECT_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(base / "dist"),
                    str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = (base / "dist").glob("partnerships_daemon-*.whl")
    target = base / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    yield wheel, target


def run_installed(target: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Only the installed copy and the dependencies: not the checkout (no PYTHONPATH to it, cwd elsewhere).
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PARTNERSHIPS_"))}
    env["PYTHONPATH"] = str(target)
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_wheel_carries_rules_templates_examples_and_migrations(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("daemon/resources/rules/service_confirmation.toml", "daemon/resources/templates/digest.txt.j2",
                     "daemon/resources/examples/partnerships.toml", "daemon/resources/examples/inbox.mbox",
                     "daemon/state/migrations/env.py", "daemon/state/migrations/versions/0001_baseline.py",
                     "daemon/state/migrations/versions/0002_quarantine_retry.py"):
        assert required in names, required
    assert not [name for name in names if name.startswith("tests/") or "__pycache__" in name]


def test_installed_elsewhere_version_init_and_run_once(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, target = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    version = run_installed(target, "--version", cwd=elsewhere)
    assert version.returncode == 0 and version.stdout.strip() == f"partnerships-daemon {daemon.__version__}"
    probe = run_installed(target, "check", cwd=elsewhere)
    assert probe.returncode == 0, probe.stderr
    assert str(target / "daemon" / "resources" / "rules") in probe.stdout  # not the checkout's rules
    init = run_installed(target, "init", str(tmp_path / "site-config"), cwd=elsewhere)
    assert init.returncode == 0, init.stderr
    config = tmp_path / "site-config" / "partnerships.toml"
    assert {p.name for p in config.parent.iterdir()} >= {"partnerships.toml", "rules", "templates", "leads.csv"}
    again = run_installed(target, "init", str(tmp_path / "site-config"), cwd=elsewhere)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    checked = run_installed(target, "check", "--config", str(config), cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr  # the written config is valid as it stands
    # The written config watches IMAP; a run here uses the copied example mailbox, rules and templates.
    config = config.with_name("demo.toml")
    config.write_text('[daemon]\nstate_dir = "state"\nrules_dir = "rules"\ntemplates_dir = "templates"\n'
                      '[source]\nkind = "mbox"\npath = "inbox.mbox"\n[leads]\nseed_csv = "leads.csv"\n'
                      '[trust]\nauthserv_ids = ["mx.google.com"]\n')
    first = run_installed(target, "run", "--once", "--config", str(config), cwd=elsewhere)
    assert first.returncode == 0, first.stderr
    assert "forwards written: 2" in first.stdout  # 4 more went To operations directly
    state = config.parent / "state"
    current = run_installed(target, "db", "current", "--config", str(config), cwd=elsewhere)
    assert current.returncode == 0 and f"revision: {_head()}" in current.stdout and str(state) in current.stdout
    second = run_installed(target, "run", "--once", "--config", str(config), cwd=elsewhere)
    assert second.returncode == 0 and "forwards written: 0" in second.stdout


def test_systemd_unit_verifies_with_the_installed_script(installed: tuple[Path, Path], tmp_path: Path) -> None:
    _, target = installed
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: run scripts/install-test-deps.sh (installs Debian's systemd)")
    script = target / "bin" / "partnerships"
    assert script.exists()
    unit = tmp_path / "partnerships-daemon.service"
    unit.write_text((PROJECT_ROOT / "systemd" / "partnerships-daemon.service").read_text().replace(
        "/opt/partnerships-daemon/.venv/bin/partnerships", str(script)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def _head() -> str:
    from daemon.state.schema import head_revision

    return head_revision()
