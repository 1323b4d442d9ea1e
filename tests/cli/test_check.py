"""`partnerships check`: templates rendered under StrictUndefined; `--live` logs in to real IMAP, SMTP, Airtable."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from airtable_server import BASE_ID, AirtableServer, add_partnerships_base
from airtable_support import write_config
from factories import run_cli
from servers import DovecotServer, RecordingSMTPServer, write_daemon_config
from sqlalchemy import select

from daemon.checks import sample_contexts
from daemon.runtime import load_config, open_runtime
from daemon.settings import PROJECT_ROOT, Config
from daemon.state.models import ActionRow

LEADS_CSV = "name,status,contact_emails,domain\nLakeside Lab,Active Lead,ada@lakeside.edu,lakeside.edu\n"


def test_check_fails_on_a_template_naming_an_undefined_variable(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", templates)
    contract = templates / "forward_contract.txt.j2"
    contract.write_text(contract.read_text().replace("{% block summary -%}", "{% block summary -%}{{ comunity }}"))
    config = tmp_path / "c.toml"
    config.write_text(f'[daemon]\ntemplates_dir = "{templates}"\nstate_dir = "state"\n')
    code, out, _ = run_cli("check", "--config", str(config))
    assert code == 2
    assert "templates: template forward_contract.txt.j2: 'comunity' is undefined" in out
    assert "1 template(s) fail to render" in out


def test_sample_forward_context_has_every_variable_the_daemon_provides(tmp_path: Path) -> None:
    """The sample must not offer names a real forward lacks (then check would pass a template that fails)."""
    config = Config(state_dir=tmp_path / "state")
    code, _, _ = run_cli("run", "--once", "--state", str(config.state_dir))
    assert code == 0
    with open_runtime(config).sessions() as session:
        forwards = list(session.scalars(select(ActionRow).where(ActionRow.kind == "forward")))
    assert forwards
    samples = sample_contexts(config)
    for forward in forwards:
        # Completed when sent (daemon.actions.executor: _note_variables).
        real = set(forward.payload["vars"]) | {"new_hub_url", "approved_by", "start_date", "billing_contact", "flag"}
        assert set(samples[forward.payload["template"]]) == real


def live_config(tmp_path: Path, dovecot: DovecotServer, smtp: RecordingSMTPServer, smtp_password: str) -> Path:
    path = write_daemon_config(tmp_path, dovecot, smtp, leads_csv=LEADS_CSV)
    (tmp_path / "smtp-password").write_text(smtp_password + "\n")
    path.write_text(path.read_text() + 'username = "daemon"\npassword_file = "smtp-password"\n')
    return path


def test_check_live_logs_in_to_imap_and_smtp(tmp_path: Path, dovecot: DovecotServer,
                                             smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    smtp = smtp_server(auth_user="daemon", auth_password="smtp-secret-1")
    config = live_config(tmp_path, dovecot, smtp, "smtp-secret-1")
    code, out, _ = run_cli("check", "--live", "--config", str(config))
    assert code == 0, out
    assert f"imap: ok: logged in to 127.0.0.1:{dovecot.port} as {dovecot.user}; folders INBOX present" in out
    assert f"smtp: ok: logged in to 127.0.0.1:{smtp.port} as daemon" in out
    assert smtp.messages == []  # a login, nothing sent


def test_check_live_reports_wrong_passwords_without_printing_them(
        tmp_path: Path, dovecot: DovecotServer, smtp_server: Callable[..., RecordingSMTPServer]) -> None:
    smtp = smtp_server(auth_user="daemon", auth_password="smtp-secret-1")
    config = live_config(tmp_path, dovecot, smtp, "wrong-smtp-secret")
    (tmp_path / "imap-password").write_text("wrong-imap-secret\n")
    code, out, err = run_cli("check", "--live", "--config", str(config))
    assert code == 1
    [imap_line] = [line for line in out.splitlines() if line.startswith("imap:")]
    [smtp_line] = [line for line in out.splitlines() if line.startswith("smtp:")]
    assert imap_line.startswith("imap: FAILED:") and "AUTHENTICATIONFAILED" in imap_line.upper()
    assert smtp_line.startswith("smtp: FAILED:") and "refused the login of daemon: 535" in smtp_line
    for secret in ("wrong-smtp-secret", "wrong-imap-secret", "smtp-secret-1", dovecot.password):
        assert secret not in out + err


def test_check_live_logs_in_to_airtable(tmp_path: Path) -> None:
    with AirtableServer() as server:
        add_partnerships_base(server)
        path = write_config(tmp_path, server)
        code, out, _ = run_cli("check", "--live", "--config", str(path))
        assert code == 0, out
        assert f"airtable: ok: token accepted by base {BASE_ID}" in out
        (tmp_path / "airtable-token").write_text("patWRONGTOKEN")
        code, out, _ = run_cli("check", "--live", "--config", str(path))
        assert code == 2 and "airtable: " in out and "401" in out and "patWRONGTOKEN" not in out
        assert load_config(path).lead_backend == "airtable"
