"""Example leads and spend belong to the demo (no config file) only; the example config works from anywhere."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

from factories import raw_email, run_cli

from daemon.runtime import load_config
from daemon.settings import PROJECT_ROOT

EXAMPLE_CONFIG = PROJECT_ROOT / "examples" / "partnerships.toml"


def mbox_config(tmp_path: Path, extra: str = "") -> Path:
    mail = raw_email(message_id="hello@lakeside.edu", sender="Ada Park <ada@lakeside.edu>", body="Hello there.")
    (tmp_path / "inbox.mbox").write_bytes(b"From x Mon Jan  5 00:00:00 2026\n" + mail + b"\n")
    path = tmp_path / "partnerships.toml"
    path.write_text(f'[trust]\nauthserv_ids = ["mx.google.com"]\n'
                    f'[daemon]\nstate_dir = "state"\n[source]\nkind = "mbox"\npath = "inbox.mbox"\n{extra}')
    return path


def test_a_config_file_seeds_no_example_leads(tmp_path: Path) -> None:
    config = mbox_config(tmp_path)
    code, out, _ = run_cli("leads", "--json", "--config", str(config))
    assert code == 0 and json.loads(out) == []
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    code, out, _ = run_cli("leads", "--json", "--config", str(config))
    assert [lead["name"] for lead in json.loads(out)] == ["lakeside.edu"]  # only what the mailbox brought
    assert load_config(config).spend_dir is None


def test_the_demo_seeds_the_example_leads_and_spend(tmp_path: Path) -> None:
    code, out, _ = run_cli("leads", "--json", "--state", str(tmp_path / "state"))
    assert code == 0 and len(json.loads(out)) == 19
    assert load_config(None).spend_dir == PROJECT_ROOT / "examples" / "spend"


def test_a_named_seed_csv_is_loaded_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
        "Pine Ridge,Active Lead,lee@pine.edu,pine.edu,,,false,,\n")
    config = mbox_config(tmp_path, '[leads]\nseed_csv = "leads.csv"\n')
    code, out, _ = run_cli("leads", "--json", "--config", str(config))
    assert [lead["name"] for lead in json.loads(out)] == ["Pine Ridge"]
    other = tmp_path / "other"
    other.mkdir()
    config = mbox_config(other, '[leads]\nseed_csv = "missing.csv"\n')
    code, _, err = run_cli("leads", "--config", str(config))
    assert code == 2 and f"[leads] seed_csv: {other / 'missing.csv'} does not exist" in err


def test_no_spend_dir_means_no_invented_spend_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text(
        "name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
        "Pine Ridge,Active Service,lee@pine.edu,pine.edu,small,1500.00,true,,\n")
    config = mbox_config(tmp_path, '[leads]\nseed_csv = "leads.csv"\n')
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--dry-run", "--config", str(config))
    assert code == 0
    assert "no [invoice] spend_dir configured: cloud spend for 2026-10 is not included" in out
    assert "examples/spend" not in out


def header_commands() -> list[list[str]]:
    """The `partnerships ...` command lines in the example config's header comment."""
    lines = EXAMPLE_CONFIG.read_text().split("\n[", 1)[0].splitlines()
    return [shlex.split(line.lstrip("# "))[1:] for line in lines if line.lstrip("# ").startswith("partnerships ")]


def test_the_example_configs_header_command_works(monkeypatch) -> None:
    commands = header_commands()
    assert commands, "the example config names no command"
    monkeypatch.chdir(PROJECT_ROOT)
    for command in commands:
        code, out, err = run_cli(*command)
        assert code == 0, (command, err)
        assert "templates: ok" in out


def test_the_example_config_copied_elsewhere_keeps_working_paths(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "partnerships-daemon"
    etc.mkdir(parents=True)
    shutil.copy(EXAMPLE_CONFIG, etc / "partnerships.toml")
    copied, original = load_config(etc / "partnerships.toml"), load_config(EXAMPLE_CONFIG)
    assert (copied.rules_dir, copied.templates_dir, copied.state_dir) == (original.rules_dir,
                                                                           original.templates_dir, original.state_dir)
    code, out, err = run_cli("check", "--config", str(etc / "partnerships.toml"))
    assert code == 0 and "templates: ok" in out, err
    assert copied.source.kind == "imap" and copied.smtp is not None and copied.leads_seed_csv is None
