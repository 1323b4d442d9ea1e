"""A state directory belongs to one configuration; credential files resolve the same inside and outside systemd."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from factories import run_cli
from servers import RecordingSMTPServer

from daemon.runtime import load_config


def smtp_config(tmp_path: Path, smtp: RecordingSMTPServer) -> Path:
    mbox = tmp_path / "inbox.mbox"
    mbox.write_bytes(b"")
    path = tmp_path / "partnerships.toml"
    path.write_text(f'[daemon]\nstate_dir = "state"\n[source]\nkind = "mbox"\npath = "inbox.mbox"\n'
                    f'[send]\nkind = "smtp"\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "none"\n')
    return path


@pytest.mark.parametrize("command", [["review", "list"], ["status"], ["leads"], ["actions", "list"],
                                     ["review", "approve", "1"], ["invoice", "--month", "2026-10"]])
def test_a_command_without_the_states_config_refuses_in_one_line(
        tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer], command: list[str]) -> None:
    smtp = smtp_server()
    config = smtp_config(tmp_path, smtp)
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    state = str(tmp_path / "state")
    code, _, err = run_cli(*command, "--state", state)
    assert code == 2
    assert err == f"partnerships: state {state} was set up with another configuration: pass --config {config}\n"
    assert not (tmp_path / "state" / "outbox").exists()  # nothing fell back to the outbox directory
    assert smtp.messages == []
    assert run_cli("status", "--config", str(config))[0] == 0


def test_the_demo_state_refuses_a_config_and_an_edited_config_is_accepted(
        tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    demo = tmp_path / "demo-state"
    assert run_cli("leads", "--state", str(demo))[0] == 0
    config = smtp_config(tmp_path, smtp_server())
    code, _, err = run_cli("leads", "--config", str(config), "--state", str(demo))
    assert code == 2 and "belongs to the embedded defaults (the demo): run without --config" in err

    assert run_cli("leads", "--config", str(config))[0] == 0
    # The operator edits the same file (another SMTP server): still this state's config.
    config.write_text(config.read_text().replace('host = "127.0.0.1"', 'host = "localhost"'))
    assert run_cli("leads", "--config", str(config))[0] == 0
    # A copy elsewhere with the same source, sender and backend is the same set-up.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "inbox.mbox").write_bytes(b"")
    (copy / "partnerships.toml").write_text(config.read_text().replace('state_dir = "state"',
                                                                       f'state_dir = "{tmp_path / "state"}"')
                                            .replace('path = "inbox.mbox"', f'path = "{tmp_path / "inbox.mbox"}"'))
    assert run_cli("leads", "--config", str(copy / "partnerships.toml"))[0] == 0


def test_another_config_on_the_same_state_refuses(tmp_path: Path,
                                                  smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    config = smtp_config(tmp_path, smtp_server())
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "other.mbox").write_bytes(b"")
    # Another mailbox and the outbox directory instead of SMTP, pointed at the same state directory.
    (other / "partnerships.toml").write_text(f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n'
                                             '[source]\nkind = "mbox"\npath = "other.mbox"\n')
    for command in (["run", "--once"], ["leads"]):
        code, _, err = run_cli(*command, "--config", str(other / "partnerships.toml"))
        assert code == 2
        assert err == (f"partnerships: state {tmp_path / 'state'} was set up with another configuration: "
                       f"pass --config {config}\n")


def imap_config(directory: Path) -> Path:
    path = directory / "partnerships.toml"
    path.write_text('[source]\nkind = "imap"\nhost = "127.0.0.1"\ntls = "none"\nusername = "u@example.test"\n'
                    'password_file = "imap-password"\n')
    return path


def test_a_bare_credential_name_resolves_the_same_way_inside_and_outside_systemd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = imap_config(tmp_path)
    (tmp_path / "imap-password").write_text("next-to-the-config\n")
    documented = tmp_path / "etc-credentials"
    documented.mkdir()
    systemd = tmp_path / "run-credentials"
    systemd.mkdir()
    (systemd / "imap-password").write_text("from-systemd\n")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setenv("PARTNERSHIPS_CREDENTIALS_DIRECTORY", str(documented))

    def password() -> str:
        return load_config(config).source.imap.server.password.resolve()

    assert password() == "next-to-the-config"  # the documented directory has no such file
    (documented / "imap-password").write_text("from-the-documented-directory\n")
    assert password() == "from-the-documented-directory"
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(systemd))  # inside the unit: LoadCredential=
    assert password() == "from-systemd"


@pytest.mark.sqlite_only("the modes of the SQLite file and of the directory it makes")
def test_state_files_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert run_cli("leads", "--state", str(state))[0] == 0
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "partnerships.sqlite3").stat().st_mode & 0o777 == 0o600
