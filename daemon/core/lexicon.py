"""Per-language sentence cues (rules/lexicon/<lang>.toml): intent cues and the scope words that cancel them.

The team edits these files like the rules: a cue is a regular expression over a sentence in lower case
without accents, matched as whole words. A bad file fails `partnerships check` and start-up with file and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.core.language import LANGUAGES
from daemon.core.rulefile import known_keys, one_of, read_toml, regex, string_list
from daemon.errors import RuleError

SCOPES = ("negation", "not_negation", "hedge", "conditional", "not_conditional", "temporal", "question",
          "other_service", "topic", "certification", "pending", "deliberation", "draft")
STRENGTHS = ("strong", "weak")
LEXICON_DIR = "lexicon"


@dataclass(frozen=True)
class Cue:
    intent: str
    strength: str
    pattern: str


@dataclass(frozen=True)
class LanguageCues:
    """One language: per intent, its cues in one alternation (one scan per intent and sentence; one alternation
    for all intents would find only one cue per position, and "we won't continue the hub" is both a refusal and an
    end of service), and the scope patterns."""

    language: str
    file: str
    cues: tuple[Cue, ...]
    combined: tuple[re.Pattern[str], ...]  # per intent; group "c<i>" is cues[i]
    scopes: dict[str, re.Pattern[str] | None]
    any_cue: re.Pattern[str] | None = None  # every cue in one alternation: which sentences need a closer look

    def scope(self, name: str) -> re.Pattern[str] | None:
        return self.scopes.get(name)


@dataclass(frozen=True)
class Lexicon:
    languages: dict[str, LanguageCues]

    def for_language(self, language: str, also: tuple[str, ...] = ()) -> tuple[LanguageCues, ...]:
        """The language's own cues, then English ones (people mix English into mail in other languages), then
        those of `also` (other languages whose words the text holds: a short text may be told wrongly)."""
        names = dict.fromkeys((language, "en", *also))
        return tuple(self.languages[name] for name in names if name in self.languages)


# Patterns are matched against one sentence (no line breaks), or against all sentences joined by line breaks to
# find the few that hold a cue at all (one scan per message instead of one per sentence and intent): MULTILINE
# makes ^ and $ mean the sentence's start and end in both.
_FLAGS = re.MULTILINE


def _words(patterns: list[str]) -> str:
    return r"(?<!\w)(?:" + "|".join(f"(?:{p})" for p in patterns) + r")(?!\w)"


def _compile(file: str, key: str, patterns: Any) -> re.Pattern[str] | None:
    patterns = string_list(file, key, "patterns", patterns)
    for pattern in patterns:
        regex(file, key, "pattern", pattern)
    return re.compile(_words(patterns), _FLAGS) if patterns else None


def load_language(path: Path, intents: tuple[str, ...]) -> LanguageCues:
    data = read_toml(path, path.name)
    language = one_of(path.name, None, "language", data.get("language"), LANGUAGES)
    known_keys(path.name, None, data, ("language", "scope", "intent"), top_level=True)
    raw_scope = data.get("scope", {})
    known_keys(path.name, "scope", raw_scope, SCOPES)
    scopes = {name: _compile(path.name, f"scope.{name}", raw_scope.get(name, [])) for name in SCOPES}
    cues: list[Cue] = []
    for intent, table in data.get("intent", {}).items():
        one_of(path.name, f"intent.{intent}", "intent", intent, intents)
        if not isinstance(table, dict):
            raise RuleError(path.name, f"intent.{intent}", "holds only `strong` and `weak` lists")
        known_keys(path.name, f"intent.{intent}", table, STRENGTHS)
        for strength in STRENGTHS:
            _compile(path.name, f"intent.{intent}.{strength}", table.get(strength, []))
            cues.extend(Cue(intent, strength, p) for p in table.get(strength, []))
    # One word-start check outside the alternation: the engine rejects a position inside a word once, not once
    # per cue (the same trick as rules.PatternSet).
    combined = tuple(
        re.compile(r"(?<!\w)(?:" + "|".join(rf"(?P<c{i}>{c.pattern})(?!\w)" for i, c in enumerate(cues)
                                             if c.intent == intent) + ")", _FLAGS)
        for intent in dict.fromkeys(c.intent for c in cues))
    any_cue = re.compile(_words([c.pattern for c in cues]), _FLAGS) if cues else None
    return LanguageCues(language, f"{LEXICON_DIR}/{path.name}", tuple(cues), combined, scopes, any_cue)


def load_lexicon(rules_dir: Path, intents: tuple[str, ...]) -> Lexicon | None:
    """rules/lexicon/*.toml, or None when the folder is absent (phrase rules alone)."""
    folder = rules_dir / LEXICON_DIR
    if not folder.is_dir():
        return None
    languages: dict[str, LanguageCues] = {}
    for path in sorted(folder.glob("*.toml")):
        cues = load_language(path, intents)
        if cues.language in languages:
            raise RuleError(path.name, None, f"language {cues.language} is defined twice")
        languages[cues.language] = cues
    return Lexicon(languages)
