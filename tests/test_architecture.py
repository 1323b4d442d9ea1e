"""The house keeps its shape: the import contracts of pyproject.toml hold (no cycles between layers, SQL only in
daemon.state, Airtable only in daemon.leads.airtable, no I/O in the core), every module imports on its own and
says in its docstring what it owns."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for path in (ROOT / "daemon").rglob("*.py")
    # Alembic loads the migration scripts itself (their names start with digits); they are not modules to import.
    if "migrations" not in path.parts
)


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra"
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
def test_every_module_imports_on_its_own() -> None:
    """In a fresh interpreter each, so an import that only works after another module was loaded shows."""
    failures = []
    for module in MODULES:
        if module == "daemon.__main__":
            continue
        result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            failures.append(f"{module}: {result.stderr.strip().splitlines()[-1]}")
    assert failures == []


def test_every_module_says_what_it_owns() -> None:
    missing = [module for module in MODULES
               if not ast.get_docstring(ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text()
                                                  if (ROOT / (module.replace(".", "/") + ".py")).exists()
                                                  else (ROOT / module.replace(".", "/") / "__init__.py").read_text()))]
    assert missing == []


def test_every_action_kind_has_exactly_one_handler_and_unknown_kinds_fail_for_good() -> None:
    from daemon.actions import executor  # noqa: F401  (importing the executor registers every handler)
    from daemon.actions.registry import handler_for, registered
    from daemon.core.kinds import ActionKind
    from daemon.errors import ActionError

    assert registered() == frozenset(ActionKind)
    assert handler_for("forward") is handler_for(ActionKind.FORWARD)
    with pytest.raises(ActionError, match="launch_rocket") as refused:
        handler_for("launch_rocket")
    assert not refused.value.retryable
