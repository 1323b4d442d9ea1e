"""Build hook: the wheel carries rules/, templates/ and examples/ inside the package (daemon/resources/), so an
installed `partnerships` finds its defaults and `partnerships init` its starting copies. A checkout uses the
top-level folders directly (daemon.settings.RESOURCES)."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCE_DIRS = ("rules", "templates", "examples")


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "daemon" / "resources"
        for name in RESOURCE_DIRS:
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(Path(__file__).parent / name, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "build_inbox.py"))


setup(cmdclass={"build_py": BuildWithResources})
