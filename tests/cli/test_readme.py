"""README.md, executed: every `partnerships ...` command it shows runs against a real set-up, and every TOML block
loads (so no key it documents is unknown)."""

from __future__ import annotations

import io
import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest
from factories import raw_email, run_cli

from daemon.errors import ConfigError
from daemon.runtime import load_config
from daemon.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, re.S)
ETC_CONFIG = "/etc/partnerships-daemon/partnerships.toml"
# Placeholders of the command table, as a user would fill them in for the example mailbox.
FILL = {"ID": "3", "NAME": "Pinecrest Community College", "FILE.eml...": "{eml}", "PATH": "{mbox}",
        "YYYY-MM": "2026-10", "YYYY-MM-DD": "2026-12-01", "TEXT": "Riverbend's spend was missing a day",
        "STATUS": "Active Lead", "S": "Waiting", "T": "small", "F": "1500", "12": "12", "N": "5",
        "eval/": "{eval}", "eval/labels.csv": "{labels}", "labels.csv": "{labels}"}
# Commands that serve until stopped are run by their own tests, as servers.
SERVERS = {"web": "tests/web/test_web.py::test_partnerships_web_serves_on_loopback",
           # interactive: a browser consent or a device code; run against a local token server there
           "auth": "tests/io/test_oauth.py"}
# What a command may answer besides success, because of what the example state holds.
EXPECTED_REFUSALS = {"actions retry 12": "is done, not failed", "actions retry 3": "is done, not failed",
                     "actions cancel 12": "nothing to cancel", "quarantine retry 3": "does not exist",
                     "quarantine show 3": "does not exist"}


def readme_commands() -> list[str]:
    """The `partnerships` commands of the shell blocks and of the inline code, in the order the README has them."""
    found = [line.split("#")[0].strip() for lang, body in BLOCKS if lang == "sh" for line in body.splitlines()
             if line.startswith("partnerships ")]
    found += [" ".join(inline.split()) for inline in re.findall(r"`(partnerships [^`]+)`", README)]
    return list(dict.fromkeys(found))


def concrete(command: str, paths: dict[str, str]) -> list[str]:
    """A documented form made runnable: optional parts taken, the first of alternatives, placeholders filled."""
    command = command.replace(r"\|", "|").replace("[", "").replace("]", "")
    words = []
    for word in shlex.split(command)[1:]:
        word = word.split("|")[0]
        words.append(FILL.get(word, word).format(**paths))
    return words


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("readme")
    (tmp / "reply.eml").write_bytes(raw_email(body="We would like to go ahead with the Small tier at $1,500."))
    config = tmp / "partnerships.toml"
    examples = PROJECT_ROOT / "examples"
    config.write_text(f'[daemon]\nstate_dir = "{tmp / "state"}"\n[source]\npath = "{examples / "inbox.mbox"}"\n'
                      f'[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      f'[leads]\nseed_csv = "{examples / "leads.csv"}"\n'
                      f'[invoice]\nspend_dir = "{examples / "spend"}"\n')
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    assert run_cli("invoice", "--month", "2026-10", "--config", str(config))[0] == 0  # so that --resend can correct it
    return {"config": str(config), "eml": str(tmp / "reply.eml"), "mbox": str(examples / "inbox.mbox"),
            "eval": str(PROJECT_ROOT / "eval"), "labels": str(PROJECT_ROOT / "eval" / "labels.csv")}


def test_the_readme_shows_the_commands() -> None:
    shown = " ".join(readme_commands())
    for command in ("run", "replay", "classify", "leads", "lead show", "lead edit", "lead undo", "review list",
                    "review approve", "invoice", "status", "check", "actions list", "actions retry",
                    "actions cancel"):
        assert f"partnerships {command}" in shown, command


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_runs(setup: dict[str, str], command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = concrete(command, setup)
    corpus = os.environ.get("PARTNERSHIPS_CORPUS") or str(PROJECT_ROOT.parent / "shared" / "corpus")
    args = [arg.replace("../shared/corpus", corpus, 1) for arg in args]  # the README's path beside a checkout
    if args[0] == "eval" and args[1] == setup["mbox"]:  # the table's generic PATH: the labelled set it measures
        args[1] = setup["eval"]
    if args[0] in SERVERS:
        assert (PROJECT_ROOT / SERVERS[args[0]].split("::")[0]).exists()
        return
    monkeypatch.setattr("sys.stdin", io.StringIO("a password typed by the reader\n"))  # `users add` asks for one
    args = [setup["config"] if arg == ETC_CONFIG else arg for arg in args]
    if "--state" in args:  # a state is used with its own config (see "One configuration per state directory")
        at = args.index("--state")
        del args[at:at + 2]
    if "--config" not in args:
        args += ["--config", setup["config"]]
    if args[0] == "run" and "--once" not in args:
        args.append("--once")  # the long-running form, for one pass
    code, out, err = run_cli(*args)
    refusal = next((why for start, why in EXPECTED_REFUSALS.items() if " ".join(args).startswith(start)), None)
    if refusal:
        assert code == 2 and refusal in err, (args, err)
    else:
        assert code == 0, (args, out, err)


@pytest.mark.parametrize("block", [body for lang, body in BLOCKS if lang == "toml"])
def test_every_readme_toml_block_is_a_valid_config(tmp_path: Path, block: str) -> None:
    data = tomllib.loads(block)  # a syntax error in the docs fails here
    path = tmp_path / "c.toml"
    if "invoice" in data and "airtable" in data["invoice"] and "leads" not in data:
        # [invoice.airtable] only goes with the Airtable backend: shown with the block that configures it.
        airtable = next(body for lang, body in BLOCKS if lang == "toml" and "[leads.airtable]" in body)
        block = airtable + "\n" + block
    path.write_text(block)
    try:
        load_config(path)
    except ConfigError as exc:
        pytest.fail(f"a README block does not load: {exc}\n{block}")
