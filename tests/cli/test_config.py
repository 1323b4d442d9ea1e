"""Config loading: embedded defaults, overrides, and errors that name the bad key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from daemon.errors import ConfigError
from daemon.runtime import load_config
from daemon.settings import PROJECT_ROOT


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partnerships.toml"
    path.write_text(text)
    return path


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARTNERSHIPS_CONFIG", raising=False)
    monkeypatch.delenv("PARTNERSHIPS_STATE", raising=False)
    config = load_config()
    assert config.addresses.operations == "operations@codeforsociety.org"
    assert config.addresses.team_domains == ("2i2c.org",)
    assert config.source.path == PROJECT_ROOT / "examples" / "inbox.mbox"
    assert config.tier("Medium").fee == Decimal("3000.00")


def test_values_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[daemon]
state_dir = "st"
[addresses]
team_domains = ["Example.org"]
operations = "Ops@Example.net"
[tiers.basic]
fee = "99.50"
"""))
    assert config.state_dir == tmp_path / "st"
    assert config.addresses.team_domains == ("example.org",)
    assert config.addresses.operations == "ops@example.net"
    assert [(t.name, t.fee) for t in config.tiers] == [("basic", Decimal("99.50"))]


def test_state_override_wins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[daemon]\nstate_dir = "st"\n'), state_dir=tmp_path / "other")
    assert config.state_dir == tmp_path / "other"
    assert config.db_path.parent == tmp_path / "other"


@pytest.mark.parametrize(("text", "message"), [
    ("[addresses]\noperations = \"nobody\"\n", "[addresses] operations: 'nobody' is not an e-mail address"),
    ("[daemon]\nstate_dirr = \"x\"\n", "[daemon] unknown key(s): state_dirr"),
    ("[tiers.small]\nfee = 1500.5\n", "[tiers.small] fee: expected a decimal string"),
    ("[rules]\nmin_confidence = 3\n", "[rules] min_confidence: 3.0 is not between 0 and 1"),
    ("[source]\nkind = \"pop3\"\n", "[source] kind: 'pop3' is not one of"),
    ("nonsense = [\n", "invalid TOML"),
])
def test_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert message in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
