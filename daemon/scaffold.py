"""`partnerships init DIR`: an editable starting point (config, rules, templates, example mailbox and leads)
copied from the ones this installation ships, so an installed daemon never needs the source checkout."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import daemon
from daemon.errors import ConfigError
from daemon.settings import RESOURCES

# The example config points one level up (it lives in examples/); in DIR everything sits side by side.
CONFIG_PATHS = {'"../state"': '"state"', '"../rules"': '"rules"', '"../templates"': '"templates"'}
EXAMPLE_FILES = ("inbox.mbox", "leads.csv")


def version() -> str:
    """The installed distribution's version, or the package's own when run from a checkout."""
    try:
        return metadata.version("partnerships-daemon")
    except metadata.PackageNotFoundError:
        return daemon.__version__


def init_directory(target: Path) -> list[Path]:
    """Write DIR/partnerships.toml, DIR/rules/, DIR/templates/ and the example inputs; refuse to overwrite."""
    config = target / "partnerships.toml"
    planned = [config, target / "rules", target / "templates", target / "spend",
               *(target / name for name in EXAMPLE_FILES)]
    existing = [path for path in planned if path.exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists: init never overwrites; choose an empty directory")
    target.mkdir(parents=True, exist_ok=True)
    text = (RESOURCES / "examples" / "partnerships.toml").read_text(encoding="utf-8")
    for old, new in CONFIG_PATHS.items():
        text = text.replace(old, new)
    config.write_text(text, encoding="utf-8")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(RESOURCES / "rules", target / "rules", ignore=ignore)
    shutil.copytree(RESOURCES / "templates", target / "templates", ignore=ignore)
    shutil.copytree(RESOURCES / "examples" / "spend", target / "spend", ignore=ignore)
    for name in EXAMPLE_FILES:
        shutil.copyfile(RESOURCES / "examples" / name, target / name)
    return planned
