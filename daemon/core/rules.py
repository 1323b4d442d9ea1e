"""Load declarative rules from rules/*.toml, evaluate them over a message and explain the outcome."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.core.evidence import ACTION_INTENTS, REFUSALS, STRONG, VETOES, Evidence, Finding, find_intent, phrase_scopes
from daemon.core.extract import Facts
from daemon.core.lexicon import Lexicon, load_lexicon
from daemon.core.message import Message
from daemon.core.model import LinearModel, learned_model, load_model
from daemon.core.rulefile import (
    checked_rule,
    known_keys,
    one_of,
    read_toml,
    regex,
    rule_files,
    rule_tables,
    unique_names,
)
from daemon.settings import Config

INTENTS = ("first_contact", "service_confirmation", "delivery_affirmation", "contract", "waiting",
           "decline", "service_ended")
OTHER = "other"
MODEL_INTENTS = (*INTENTS, OTHER)
CLASSIFY_CHARS = 6_000
DIRECTIONS = ("inbound", "outbound", "any")
ROLES = ("lead_contact", "team", "operations", "unknown")
FACT_NAMES = ("tier", "price", "month")
_LIST_KEYS = ("subject_any", "subject_regex", "text_any", "text_all", "text_regex", "unless_subject",
              "unless_text", "unless_text_regex", "attachment_type", "sender_role", "requires")
_KNOWN_KEYS = {"name", "priority", "confidence", "direction", "header", "unless_header",
               "attachment_name", "description", *_LIST_KEYS}
# Typographic apostrophes and dashes would defeat plain phrases such as "can't".
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-", "\u00a0": " "})


def normalize_text(text: str) -> str:
    return text.translate(_TYPOGRAPHY)


WORD_START, WORD_END = r"(?<!\w)", r"(?!\w)"


def _phrase_body(phrase: str) -> str:
    return r"\s+".join(re.escape(word) for word in normalize_text(phrase).split())


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    return re.compile(WORD_START + _phrase_body(phrase) + WORD_END, re.IGNORECASE)


_TOKEN = re.compile(r"\w+")


def words_of(text: str) -> frozenset[str]:
    """The words of `text` in lower case: a phrase none of whose words are all here cannot match (see PatternSet)."""
    return frozenset(_TOKEN.findall(text.lower()))


class PatternSet:
    """Alternatives compiled into one regex, so a miss (the common case) costs one search, not one per phrase.

    Phrases share one word-boundary check outside their alternation: the engine then rejects a position
    inside a word once instead of once per phrase, which makes the scan about nine times faster. Given the words
    of the text (`words_of`), a set skips the phrase scan when no phrase has all its words there: a set lookup
    per phrase instead of a regex scan of the text.
    """

    def __init__(self, phrases: Iterable[str] = (), regexes: Iterable[re.Pattern[str]] = ()) -> None:
        phrases, regexes = tuple(phrases), tuple(regexes)
        self.patterns = tuple(_phrase_pattern(p) for p in phrases) + regexes
        alternatives = [f"(?:{r.pattern})" for r in regexes]
        self._regexes = re.compile("|".join(alternatives), re.IGNORECASE) if regexes else None
        if phrases:
            alternatives.insert(0, WORD_START + "(?:" + "|".join(_phrase_body(p) for p in phrases) + ")" + WORD_END)
        self._combined = re.compile("|".join(alternatives), re.IGNORECASE)
        # The words each phrase needs, filed under one of them; a phrase with letters beyond ASCII (whose case
        # folding differs between str.lower and the regex engine) needs none, so it is always searched for.
        needs = [words_of(p) if normalize_text(p).isascii() else frozenset() for p in phrases]
        self._needs = tuple(needs)  # per phrase: the first len(phrases) of self.patterns
        self._always = any(not need for need in needs)
        self._needs_by_word: dict[str, list[frozenset[str]]] = {}
        for need in needs:
            if need:
                self._needs_by_word.setdefault(min(need), []).append(need)
        self._keys = frozenset(self._needs_by_word)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def first(self, haystack: str, words: frozenset[str] | None = None) -> str | None:
        if not self.patterns:
            return None
        pattern: re.Pattern[str] | None = self._combined
        if words is not None and not self._possible(words):
            pattern = self._regexes  # no phrase can match: the same answer from the regexes alone
        found = pattern.search(haystack) if pattern is not None else None
        return found.group(0) if found else None

    def _possible(self, words: frozenset[str]) -> bool:
        """Whether some phrase has all its words in `words` (one set intersection, then only the phrases filed
        under a word the text holds)."""
        if self._always:
            return True
        needs = self._needs_by_word
        return any(need <= words for key in self._keys & words for need in needs[key])

    def each(self, haystack: str, words: frozenset[str] | None = None) -> list[str]:
        """Every alternative that matches, for the explanation; only called on a hit. Given the words of the
        text, a phrase some of whose words are missing is not searched for."""
        patterns = self.patterns
        if words is not None:
            needs = self._needs
            patterns = tuple(p for i, p in enumerate(patterns) if i >= len(needs) or needs[i] <= words)
        return [m.group(0) for m in (p.search(haystack) for p in patterns) if m]


NO_PATTERNS = PatternSet()


@dataclass(frozen=True)
class Context:
    """What the rules may know besides the message itself."""

    direction: str = "inbound"
    sender_role: str = "unknown"


@dataclass(frozen=True)
class Rule:
    name: str
    intent: str
    file: str
    priority: int = 50
    confidence: float = 0.9
    direction: str = "any"
    sender_roles: tuple[str, ...] = ()
    subject_any: PatternSet = NO_PATTERNS
    text_any: PatternSet = NO_PATTERNS
    text_all: tuple[re.Pattern[str], ...] = ()
    unless_subject: PatternSet = NO_PATTERNS
    unless_text: PatternSet = NO_PATTERNS
    headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    unless_headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    attachment_types: tuple[str, ...] = ()
    attachment_name: re.Pattern[str] | None = None
    requires: tuple[str, ...] = ()

    def evaluate(self, message: Message, text: str, subject: str, context: Context, facts: Facts,
                 words: tuple[frozenset[str], frozenset[str]] | None = None) -> tuple[bool, tuple[str, ...], str]:
        """(hit, phrases that matched, why it missed); `words`: `words_of` the text and the subject, if known."""
        if self.direction != "any" and context.direction != self.direction:
            return False, (), f"direction is {context.direction}"
        if self.sender_roles and context.sender_role not in self.sender_roles:
            return False, (), f"sender role is {context.sender_role}"
        text_words, subject_words = words or (None, None)
        # The positive phrases first: most mail matches none, and then no veto needs a scan of its own.
        if self.subject_any and not self.subject_any.first(subject, subject_words):
            return False, (), "no subject phrase"
        if self.text_any and self.text_any.first(text, text_words) is None:
            return False, (), "no text phrase"
        matched: list[str] = []
        for label, patterns, haystack in (("subject", self.unless_subject, subject),
                                          ("text", self.unless_text, text)):
            vetoed = patterns.first(haystack)
            if vetoed:
                return False, (), f"unless {label} matched {vetoed!r}"
        for name, pattern in self.unless_headers:
            if any(pattern.search(value) for value in message.header(name)):
                return False, (), f"unless header {name} matched"
        if self.subject_any:
            hit = self.subject_any.first(subject)
            if not hit:
                return False, (), "no subject phrase"
            matched.append(f"subject: {hit}")
        if self.text_any:
            if self.text_any.first(text) is None:
                return False, (), "no text phrase"
            matched.extend(self.text_any.each(text, text_words))
        for pattern in self.text_all:
            found = pattern.search(text)
            if not found:
                return False, (), f"missing required phrase /{pattern.pattern}/"
            matched.append(found.group(0))
        for name, pattern in self.headers:
            if not any(pattern.search(value) for value in message.header(name)):
                return False, (), f"header {name} did not match"
            matched.append(f"header {name}")
        if self.attachment_types or self.attachment_name:
            found_attachment = next((a for a in message.attachments if self._attachment_fits(a)), None)
            if found_attachment is None:
                return False, (), "no matching attachment"
            matched.append(f"attachment: {found_attachment.filename or found_attachment.content_type}")
        missing = [name for name in self.requires if getattr(facts, name) is None]
        if missing:
            return False, (), f"missing fact(s): {', '.join(missing)}"
        return True, tuple(dict.fromkeys(matched)), ""

    def _attachment_fits(self, attachment: Any) -> bool:
        if self.attachment_types and attachment.content_type not in self.attachment_types:
            return False
        return not (self.attachment_name and not self.attachment_name.search(attachment.filename or ""))


@dataclass(frozen=True)
class RuleHit:
    rule: str
    intent: str
    priority: int
    confidence: float
    matched: tuple[str, ...]


@dataclass(frozen=True)
class Classification:
    intent: str
    rule: str | None
    rule_file: str | None
    confidence: float
    matched: tuple[str, ...]
    facts: Facts
    explanation: str
    hits: tuple[RuleHit, ...] = ()
    ambiguous: bool = False
    language: str = ""  # the detected language of the new text (en, es, pt, fr, de)
    sentence: str = ""  # the sentence that carries the decision, when one does


def not_classified(reason: str, facts: Facts) -> Classification:
    """The classification of mail that cannot act (a machine sent it, or it concerns no lead): none."""
    return Classification(OTHER, None, None, 1.0, (), facts, f"not classified: {reason}")


SENTENCE_RULE = "sentence-cues"
# Who the sentence cues listen to: mail from the community (operations' and the team's mail is not evidence;
# the team's introductions have their own phrase rule).
CUE_ROLES = ("lead_contact", "unknown")
UNANCHORED_VETO = ("service_confirmation", "waiting", "decline", "service_ended")


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    files: tuple[str, ...] = field(default=())
    lexicon: Lexicon | None = None
    model: LinearModel | None = None

    def classify(self, message: Message, context: Context, facts: Facts) -> Classification:
        # What a person writes about a tier or a month sits near the top; a megabyte of pasted logs must not
        # cost a megabyte of regex scans per rule.
        text = normalize_text(message.new_text[:CLASSIFY_CHARS])
        subject = normalize_text(message.subject)
        finding, _evidence, language = self._sentences(message, text, subject, context, facts)
        hits: list[RuleHit] = []
        misses: list[str] = []
        words = (words_of(text), words_of(subject))
        for rule in self.rules:
            hit, matched, why = rule.evaluate(message, text, subject, context, facts, words)
            if hit:
                veto = self._scope_veto(rule.intent, matched, text, subject, facts, language)
                if veto:
                    misses.append(f"{rule.name}: {veto}")
                    continue
                hits.append(RuleHit(rule.name, rule.intent, rule.priority, rule.confidence, matched))
            elif why and not why.startswith(("direction", "sender role", "no text", "no subject")):
                misses.append(f"{rule.name}: {why}")
        hits.sort(key=lambda h: (-h.priority, -h.confidence, h.rule))
        if finding is not None and (not hits or (finding.intent in ACTION_INTENTS
                                                 and hits[0].intent not in ACTION_INTENTS)):
            return self._from_sentence(finding, facts, tuple(hits))
        if not hits:
            return Classification(OTHER, None, None, 1.0, (), facts,
                                  "no rule matched" + (f" ({'; '.join(misses)})" if misses else ""),
                                  language=language)
        best = hits[0]
        rivals = [h for h in hits[1:] if h.intent != best.intent and h.priority == best.priority]
        confidence = best.confidence
        explanation = f"rule {best.rule} ({best.intent}) matched {', '.join(best.matched) or 'its conditions'}"
        sentence = ""
        if finding is not None and finding.intent == best.intent:
            # An explicit rule states its own confidence: the sentence only explains it.
            sentence = finding.evidence.sentence
            explanation += f"; {finding.explanation}"
        elif (finding is not None and finding.intent in ACTION_INTENTS and best.intent in ACTION_INTENTS
              and finding.confidence >= STRONG):
            rivals.append(RuleHit(SENTENCE_RULE, finding.intent, best.priority, finding.confidence,
                                  (finding.evidence.cue,)))
        if rivals:
            # Two intents equally plausible: keep the stronger but halve the trust, so acting needs a human.
            confidence = round(confidence / 2, 3)
            explanation += "; also matched " + ", ".join(f"{h.rule} ({h.intent})" for h in rivals)
        rule_file = next(r.file for r in self.rules if r.name == best.rule)
        return Classification(best.intent, best.rule, rule_file, confidence, best.matched, facts,
                              explanation, tuple(hits), bool(rivals), language, sentence)

    def _sentences(self, message: Message, text: str, subject: str, context: Context,
                   facts: Facts) -> tuple[Finding | None, list[Evidence], str]:
        if self.lexicon is None:
            return None, [], ""
        allowed = frozenset(VETOES) if (context.direction == "inbound" and context.sender_role in CUE_ROLES) \
            else frozenset()
        return find_intent(text, subject, message.attachments, facts, self.lexicon, allowed, self.model)

    def _scope_veto(self, intent: str, matched: tuple[str, ...], text: str, subject: str, facts: Facts,
                    language: str) -> str:
        """Why a phrase rule's hit does not count: every phrase it matched stands in a negated, hedged,
        conditional or questioned sentence, in a sentence that refuses ("I can confirm we will not ..."), or,
        for a status move, far from anything about the service ("RESERVATION CONFIRMED" in a travel booking)."""
        if self.lexicon is None or intent not in ACTION_INTENTS:
            return ""
        phrases = [p for p in matched if not p.startswith(("subject: ", "attachment: ", "header "))]
        reasons = []
        for phrase in phrases:
            scopes, refusal, anchored = phrase_scopes(text, subject, phrase, facts, self.lexicon, language, intent)
            blocked = scopes & VETOES[intent]
            if refusal and intent not in REFUSALS:
                blocked.add("refusal in the same sentence")
            if not anchored and intent in UNANCHORED_VETO:
                blocked.add("no word about the service, a tier or a price near it")
            if not blocked:
                return ""
            reasons.append(f"{phrase!r} in a sentence with {', '.join(sorted(blocked))}")
        return ("vetoed: " + "; ".join(reasons)) if reasons else ""

    def _from_sentence(self, finding: Finding, facts: Facts, hits: tuple[RuleHit, ...]) -> Classification:
        evidence = finding.evidence
        return Classification(finding.intent, SENTENCE_RULE, evidence.file, finding.confidence, (evidence.cue,),
                              facts, finding.explanation, hits, bool(finding.rivals), finding.language,
                              evidence.sentence)


def load_rules(directory: Path, learned_model: Path | None = None) -> RuleSet:
    """Read every *.toml in `directory`; any problem raises RuleError naming file, rule and reason. The model is
    `learned_model` when that file exists (`partnerships learn` installed it), else the one in `directory`."""
    files = rule_files(directory)
    rules = [rule for path in files for rule in _load_file(path)]
    unique_names((rule.file, rule.name) for rule in rules)
    return RuleSet(tuple(rules), tuple(p.name for p in files), load_lexicon(directory, INTENTS),
                   load_model(directory, MODEL_INTENTS, learned_model))


def rules_of(config: Config) -> RuleSet:
    """The configured rules, with the model `partnerships learn` installed under the state directory if any."""
    return load_rules(config.rules_dir, learned_model(config.state_dir))


def _load_file(path: Path) -> list[Rule]:
    data = read_toml(path, path.name)
    intent = one_of(path.name, None, "intent", data.get("intent"), INTENTS)
    known_keys(path.name, None, data, ("intent", "rule", "description"), top_level=True)
    return [_build_rule(path.name, intent, raw, index)
            for index, raw in enumerate(rule_tables(path.name, data), start=1)]


def _build_rule(file: str, intent: str, raw: dict[str, Any], index: int) -> Rule:
    name, fail = checked_rule(file, raw, index, _KNOWN_KEYS, _LIST_KEYS)
    direction = one_of(file, name, "direction", raw.get("direction", "any"), DIRECTIONS)
    roles = tuple(one_of(file, name, "sender_role", role, ROLES) for role in raw.get("sender_role", []))
    for fact in raw.get("requires", []):
        one_of(file, name, "requires", fact, FACT_NAMES)
    priority = raw.get("priority", 50)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise fail("priority must be an integer")
    confidence = raw.get("confidence", 0.9)
    if not isinstance(confidence, int | float) or isinstance(confidence, bool) or not 0 < confidence <= 1:
        raise fail("confidence must be a number in (0, 1]")

    def regexes(key: str) -> tuple[re.Pattern[str], ...]:
        return tuple(regex(file, name, key, p, re.IGNORECASE) for p in raw.get(key, []))

    def header_table(key: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
        table = raw.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise fail(f"{key} must be a table of header name = \"regex\"")
        return tuple((k.lower(), regex(file, name, key, v, re.IGNORECASE)) for k, v in table.items())

    name_pattern = raw.get("attachment_name")
    if name_pattern is not None and not isinstance(name_pattern, str):
        raise fail("attachment_name must be a regular expression string")
    positive = any(raw.get(k) for k in ("subject_any", "subject_regex", "text_any", "text_all", "text_regex",
                                        "header", "attachment_type", "attachment_name"))
    if not positive:
        raise fail("a rule needs at least one positive condition (phrases, regexes, headers or attachments)")
    return Rule(
        name=name,
        intent=intent,
        file=file,
        priority=priority,
        confidence=float(confidence),
        direction=direction,
        sender_roles=roles,
        subject_any=PatternSet(raw.get("subject_any", []), regexes("subject_regex")),
        text_any=PatternSet(raw.get("text_any", []), regexes("text_regex")),
        text_all=tuple(_phrase_pattern(p) for p in raw.get("text_all", [])),
        unless_subject=PatternSet(raw.get("unless_subject", [])),
        unless_text=PatternSet(raw.get("unless_text", []), regexes("unless_text_regex")),
        headers=header_table("header"),
        unless_headers=header_table("unless_header"),
        attachment_types=tuple(t.lower() for t in raw.get("attachment_type", [])),
        attachment_name=regex(file, name, "attachment_name", name_pattern, re.IGNORECASE) if name_pattern else None,
        requires=tuple(raw.get("requires", [])),
    )


