"""Fixtures of the pure core's tests: the shipped rules, loaded once per module."""

from __future__ import annotations

import pytest

from daemon.core.rules import RuleSet, load_rules
from daemon.settings import Config


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(Config().rules_dir)
