"""Checks shared by every rule file the team edits (rules/*.toml, rules/lexicon/*.toml, rules/maniac/*.toml): one
validator, so each file fails the same way, with a RuleError naming the file, the rule or key, and the reason."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from daemon.errors import RuleError


def rule_files(directory: Path, what: str = "rules") -> list[Path]:
    """The *.toml files of `directory`, which must exist and hold at least one."""
    if not directory.is_dir():
        raise RuleError(str(directory), None, f"{what} directory does not exist")
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise RuleError(str(directory), None, "no *.toml rule files")
    return files


def read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuleError(label, None, f"invalid TOML: {exc}") from None


def one_of(label: str, where: str | None, key: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise RuleError(label, where, f"{key} {value!r} is not one of {', '.join(allowed)}")
    return value


def known_keys(label: str, where: str | None, table: Mapping[str, Any], allowed: Iterable[str],
               top_level: bool = False) -> None:
    unknown = set(table) - set(allowed)
    if unknown:
        kind = "top-level key(s)" if top_level else "key(s)"
        raise RuleError(label, where, f"unknown {kind}: {', '.join(sorted(unknown))}")


def string_list(label: str, where: str | None, key: str, value: Any) -> list[str]:
    """A list of strings none of them blank (a blank phrase would compile to a pattern matching everything)."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RuleError(label, where, f"{key} must be a list of non-empty strings")
    return value


def regex(label: str, where: str | None, key: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise RuleError(label, where, f"{key}: bad regular expression {pattern!r}: {exc}") from None


def rule_tables(label: str, data: Mapping[str, Any]) -> list[Any]:
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(label, None, "no [[rule]] tables")
    return raw_rules


def rule_name(label: str, raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name:
        raise RuleError(label, f"#{index}", "every rule needs a non-empty name")
    return name


def checked_rule(label: str, raw: Any, index: int, allowed: Iterable[str],
                 lists: Iterable[str]) -> tuple[str, Callable[[str], RuleError]]:
    """A rule table's name, once its keys and list values are checked, and a `fail(reason)` that names it."""
    name = rule_name(label, raw, index)
    known_keys(label, name, raw, allowed)
    for key in lists:
        string_list(label, name, key, raw.get(key, []))
    return name, lambda reason: RuleError(label, name, reason)


def unique_names(names: Iterable[tuple[str, str]]) -> None:
    """(file label, rule name) pairs: a rule name is used once across the files."""
    seen: dict[str, str] = {}
    for label, name in names:
        if name in seen:
            raise RuleError(label, name, f"duplicate rule name (also in {seen[name]})")
        seen[name] = label
