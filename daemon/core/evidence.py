"""Sentence-level evidence for an intent: which sentence says what, and whether its scope cancels it.

Each sentence of the new text is matched against the cues of its language (and English); a cue counts only
outside the scopes its intent is vetoed by (a negated, hedged, conditional or questioned confirmation is not a
confirmation). The strongest sentence explains the decision; two different action intents both stated firmly
halve the confidence, so a person decides.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, replace

from daemon.core.extract import Facts
from daemon.core.language import detect, fold, languages_of
from daemon.core.lexicon import LanguageCues, Lexicon
from daemon.core.message import Attachment
from daemon.core.model import MODEL_FILE, LinearModel, features
from daemon.core.prices import amount_starts
from daemon.core.sentences import Sentence, clause_start, split_sentences

ANALYSED_CHARS = 4000  # decisions are stated near the top; pasted logs below must not cost time
STRONG, WEAK, UNSURE = 0.9, 0.6, 0.7
ACTION_INTENTS = ("service_confirmation", "delivery_affirmation", "contract", "waiting", "decline", "service_ended")
REFUSALS = ("decline", "service_ended", "waiting")
# The scopes that cancel a cue of each intent. A refusal is often said with a negation ("not moving forward"),
# and "can we revisit in March?" still asks to wait, so those scopes do not cancel them.
VETOES = {
    "service_confirmation": frozenset({"negation", "hedge", "conditional", "temporal", "question", "other_service"}),
    "delivery_affirmation": frozenset({"negation", "hedge", "conditional", "temporal", "question"}),
    "contract": frozenset({"negation", "hedge", "conditional", "temporal", "question", "other_service", "draft"}),
    "waiting": frozenset({"other_service", "deliberation", "negated"}),
    "decline": frozenset({"hedge", "conditional", "temporal", "question", "other_service", "pending", "negated"}),
    "service_ended": frozenset({"negation", "hedge", "conditional", "question", "other_service"}),
    "first_contact": frozenset({"negation"}),
}
# Which intent a sentence means when it carries strong cues of several: "we have decided not to move forward" holds
# an agreement cue inside a refusal; "I confirm the services were delivered" a confirmation cue inside an
# affirmation; "we cannot proceed before March" a refusal cue inside a postponement.
SPECIFICITY = {"waiting": 8, "service_ended": 7, "decline": 6, "delivery_affirmation": 4, "contract": 3,
               "service_confirmation": 2, "first_contact": 1}
NEGATION_REACH = 80  # characters before a cue, within its clause, in which a negation still applies
_CONTRACT_NAME = re.compile(r"contra[ct]|agreement|(?<![a-z])(?:sow|msa)(?![a-z])|statement.of.work|convenio|acordo|"
                            r"convention|vertrag|vereinbarung|accord|terms.of.service|order.form")
_DOCUMENT = re.compile(r"\.(?:pdf|docx?|odt|rtf)$")
_SIGNED = re.compile(r"sign|execut|firmad|suscrit|assinad|unterschr|unterzeichn|gezeichnet|final")
_DRAFT = re.compile(r"draft|redline|borrador|rascunho|brouillon|entwurf|markup|review|comments")
_REPLY = re.compile(r"^\s*(?:re|aw|sv|antw|rif|res|r)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)  # a reply's subject
_YES = re.compile(r"(?<!\w)s\u00ed(?!\w)", re.IGNORECASE)  # Spanish "yes", not the conditional "si"


@dataclass(frozen=True)
class Evidence:
    intent: str
    strength: str  # strong | weak
    cue: str  # the words that matched
    sentence: str  # as written
    file: str  # the lexicon file of the cue
    blocked: tuple[str, ...] = ()  # scopes that cancel it
    index: int = 0  # of the sentence in the new text

    @property
    def counts(self) -> bool:
        return not self.blocked


@dataclass(frozen=True)
class Finding:
    intent: str
    confidence: float
    evidence: Evidence
    language: str
    rivals: tuple[str, ...] = ()

    @property
    def explanation(self) -> str:
        text = (f"sentence ({self.language}, {self.evidence.strength} cue {self.evidence.cue!r} in "
                f"{self.evidence.file}): {self.evidence.sentence[:200]!r}")
        return text + (f"; also stated: {', '.join(self.rivals)}" if self.rivals else "")


def sentences_of(text: str) -> list[Sentence]:
    return [Sentence(s, fold(_YES.sub("yes", s) if "\u00ed" in s or "\u00cd" in s else s))
            for s in split_sentences(text[:ANALYSED_CHARS])]


class Joined:
    """Texts (folded sentences, say) joined by line breaks, so one scan tells which of them a pattern matches in
    (lexicon patterns are MULTILINE: ^ and $ keep meaning a sentence's start and end)."""

    def __init__(self, texts: Iterable[str], separator: str = "\n") -> None:
        texts = list(texts)
        self.text = separator.join(texts)
        self.starts: list[int] = []
        position = 0
        for text in texts:
            self.starts.append(position)
            position += len(text) + len(separator)

    def index(self, position: int) -> int:
        return bisect_right(self.starts, position) - 1

    def hits(self, patterns: Iterable[re.Pattern[str] | None]) -> set[int]:
        """Indexes of the sentences in which any of `patterns` matches (starts)."""
        found: set[int] = set()
        starts, text = self.starts, self.text
        for pattern in patterns:
            if pattern is None:
                continue
            position = 0
            while (match := pattern.search(text, position)) is not None:
                index = self.index(match.start())
                found.add(index)
                if index + 1 >= len(starts):
                    break
                position = starts[index + 1]  # this sentence is known; look on from the next one
        return found


def _spans(pattern: re.Pattern[str] | None, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)] if pattern else []


def _outside(span: tuple[int, int], excluded: list[tuple[int, int]]) -> bool:
    return not any(a <= span[0] and span[1] <= b for a, b in excluded)


def _any(patterns: Iterable[re.Pattern[str] | None], text: str, excluded: list[tuple[int, int]] = ()) -> bool:
    return any(_outside(span, excluded) for pattern in patterns for span in _spans(pattern, text))


def scopes_at(sentence: Sentence, start: int, end: int, cues: tuple[LanguageCues, ...], intent: str = "") -> set[str]:
    """The scopes a cue at [start, end) of the folded sentence stands in."""
    folded = sentence.folded
    found: set[str] = set()
    not_negation = [s for c in cues for s in _spans(c.scope("not_negation"), folded)]
    reach_from = max(clause_start(folded, start), start - NEGATION_REACH)
    # Up to the cue's end ("I cannot confirm" is one cue that holds its own negation), except for refusals, whose
    # cues are negations themselves ("we no longer need the hub").
    until = start if intent in REFUSALS else end
    spans = {(a, b) for c in cues for a, b in _spans(c.scope("negation"), folded) if reach_from <= a}  # a set:
    negations = {span for span in spans if _outside(span, not_negation)}  # languages share "no"
    if intent in REFUSALS and any(start <= a < end for a, b in spans - negations):
        found.add("negated")  # the refusal's own "not" is no negation: "we can't wait to take this forward"
    if any(b <= until for _, b in negations):
        found.add("negation")
    if intent in REFUSALS and _negated_refusal(folded, start, end, negations):
        found.add("negated")
    if _any((c.scope("hedge") for c in cues), folded):
        found.add("hedge")
    not_conditional = [s for c in cues for s in _spans(c.scope("not_conditional"), folded)]
    if _any((c.scope("conditional") for c in cues), folded, not_conditional):
        found.add("conditional")
    if _any((c.scope("temporal") for c in cues), folded, not_conditional):
        found.add("temporal")  # "once the grant comes through": not yet agreed, but an end or a wait it only dates
    question = any(c.scope("question") and c.scope("question").match(folded.lstrip("\u00bf ")) for c in cues)
    # A question mark closes only the last clause: "Medium is fine for us, when can we start?" agrees.
    if question or (sentence.is_question and clause_start(folded, len(folded)) <= start):
        found.add("question")
    if any(c.scope("deliberation") and c.scope("deliberation").match(folded.lstrip("\u00bf ")) for c in cues):
        found.add("deliberation")  # "should we pause ...?": weighing an option, not asking to wait
    for name in ("other_service", "draft", "pending"):
        if _any((c.scope(name) for c in cues), folded):
            found.add(name)
    return found


DOUBLE_REACH = 25  # characters between a negation and a refusal's own negation that make a double negative
_CLITIC = re.compile(r"ne|n'\w*")
_AND = re.compile(r"(?<!\w)(?:and|or|nor|y|o|e|ou|et|und|oder)(?!\w)")


def _negated_refusal(folded: str, start: int, end: int, negations: set[tuple[int, int]]) -> bool:
    """A refusal cue negated: one without a negation of its own after a negation ("we're not declining", "nobody
    wants another vendor"), or one with its own right after another ("I wouldn't say the answer is no"), not two
    refusals in a row ("we can't and won't proceed")."""
    before = [(a, b) for a, b in negations if b <= start]
    if not before:
        return False
    if not any(start <= a < end for a, _ in negations):
        return True
    # French "ne ... pas" is one negation in two words: its "ne" does not double the "pas" of "ne ... pas suite"
    doubling = [b for a, b in before if not _CLITIC.fullmatch(folded, a, b)]
    nearest = max(doubling, default=-DOUBLE_REACH - 1)
    return start - nearest <= DOUBLE_REACH and not _AND.search(folded, nearest, start)


def evidence_in(sentence: Sentence, cues: tuple[LanguageCues, ...], index: int = 0) -> list[Evidence]:
    found: list[Evidence] = []
    for language in cues:
        for match in (m for pattern in language.combined for m in _overlapping(pattern, sentence.folded)):
            cue = language.cues[int(match.lastgroup[1:])]  # type: ignore[index]
            blocked = scopes_at(sentence, match.start(), match.end(), cues, cue.intent) & VETOES[cue.intent]
            found.append(Evidence(cue.intent, cue.strength, match.group(0), sentence.text, language.file,
                                  tuple(sorted(blocked)), index))
    return _most_specific(found)


def _overlapping(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Matches that may overlap: "we will not be going ahead" holds an agreement cue from "we" and a refusal
    cue from "not"; a plain finditer would see only the first."""
    found: list[re.Match[str]] = []
    position = 0
    while (match := pattern.search(text, position)) is not None:
        found.append(match)
        position = match.start() + 1
    return found


def _most_specific(found: list[Evidence]) -> list[Evidence]:
    """Within one sentence only the most specific intent stated counts (see SPECIFICITY)."""
    # A contract's words ("signed") are judged with its document (contract_evidence), not against the others.
    counted = [e for e in found if e.counts and e.intent != "contract"]
    if not counted:
        return found
    top = max((e.strength == "strong", SPECIFICITY[e.intent]) for e in counted)
    return [e for e in found if not e.counts or e.intent == "contract"
            or (e.strength == "strong", SPECIFICITY[e.intent]) == top]


SHORT_REPLY = 3  # sentences: a reply this short is about what its subject says


def short(sentences: list[Sentence]) -> bool:
    """At most SHORT_REPLY sentences of three words or more (signature lines such as "Maria Chen" or "Westbrook
    University" do not make a reply long)."""
    return sum(1 for s in sentences if len(s.folded.split()) >= 3) <= SHORT_REPLY


def anchors(sentences: list[Sentence], subject: str, cues: tuple[LanguageCues, ...], facts: Facts,
            joined: Joined | None = None) -> list[bool]:
    """Per sentence: whether it or a neighbour is about our business (a topic word, the tier named, a price),
    or, in a short reply, its subject is. "We accept" means nothing on its own; "we accept the offer",
    "we accept. Medium at $3k" or "we accept" under "Re: Hub proposal" does."""
    tier = fold(facts.tier) if facts.tier else None
    topical = (joined or Joined(s.folded for s in sentences)).hits(c.scope("topic") for c in cues)
    if facts.price is not None:  # no amount in the text, none in a sentence
        # NUL ends each sentence: no amount pattern reaches across it
        written = Joined((s.text for s in sentences), "\0")
        topical.update(written.index(start) for start in amount_starts(written.text))
    own = [i in topical or bool(tier and tier in s.folded) for i, s in enumerate(sentences)]
    if short(sentences) and _any((c.scope("topic") for c in cues), fold(subject)):
        return [True] * len(sentences)
    return [any(own[max(0, i - 1):i + 2]) for i in range(len(own))]


def _confidence(item: Evidence, facts: Facts, anchored: bool, month_context: bool,
                short_reply: bool = False) -> float | None:
    strong = item.strength == "strong"
    if not anchored and short_reply and strong and item.intent in REFUSALS:
        # "We won't be renewing." as the whole of a reply: about what the thread is about, which its words do not
        # say: a person looks (ordinary mail postpones and cancels things too)
        return WEAK
    if item.intent == "service_confirmation":
        stated = facts.tier is not None or facts.price is not None
        if not anchored:
            return None
        if strong:
            return STRONG if stated else UNSURE
        return WEAK if stated else None
    if item.intent == "delivery_affirmation":
        if month_context:
            return STRONG if strong else WEAK
        return WEAK if strong and anchored else None
    if item.intent == "contract" or not anchored:
        return None  # a contract needs its document (see contract_evidence)
    if item.intent == "first_contact":
        return 0.8 if strong else WEAK
    return STRONG if strong else WEAK


def contract_evidence(attachments: Iterable[Attachment], subject: str, sentences: list[Sentence],
                      found: list[Evidence]) -> tuple[float, Evidence] | None:
    """A contract by its document: a contract-like file name with a document extension (whatever MIME type it
    was sent with), signed according to the file name, the subject or a sentence, and no draft anywhere."""
    documents = [a.filename for a in attachments if a.filename and _DOCUMENT.search(a.filename.lower())
                 and _CONTRACT_NAME.search(fold(a.filename))]
    if not documents:
        return None
    folded_subject = fold(subject)
    names = " ".join(fold(d) for d in documents)
    if _DRAFT.search(names) or _DRAFT.search(folded_subject) or any(
            e.intent == "contract" and "draft" in e.blocked for e in found):
        return None
    signed_text = next((e for e in found if e.intent == "contract" and e.counts), None)
    if signed_text is not None:
        return STRONG, Evidence("contract", "strong", f"{signed_text.cue} + attachment {documents[0]}",
                                signed_text.sentence, signed_text.file)
    if _SIGNED.search(names) or _SIGNED.search(folded_subject):
        blocked = [e for e in found if e.intent == "contract" and not e.counts]
        if not blocked:
            return STRONG, Evidence("contract", "strong", f"attachment {documents[0]}",
                                    sentences[0].text if sentences else subject, "attachment")
    return WEAK, Evidence("contract", "weak", f"attachment {documents[0]}", subject, "attachment")


MODEL_CONFIDENCE = 0.6  # below min_confidence: what only the model sees goes to a person, never acts
MODEL_CORROBORATES = 0.9  # the model's probability that lets a weak cue of the same intent act
MODEL_THRESHOLD = 0.75  # the model's probability for its intent (0.6 let a question in the demo mailbox through)


def model_finding(model: LinearModel, text: str, subject: str, sentences: list[Sentence], anchored: list[bool],
                  allowed: frozenset[str], language: str, cues: tuple[LanguageCues, ...]) -> Finding | None:
    """When no cue spoke: the model's intent, as a review proposal, if it is sure enough, the message is about
    our business and the sentence that pulls most towards that intent (which explains it) is not hedged,
    conditional, negated or a question where such a scope cancels the intent."""
    if not sentences or not any(anchored):
        return None
    probabilities = model.probabilities(features(text[:ANALYSED_CHARS], subject))
    intent, probability = max(probabilities.items(), key=lambda kv: kv[1])
    # a contract needs its document (contract_evidence); "other" needs no proposal
    if intent in ("other", "contract") or intent not in allowed or probability < MODEL_THRESHOLD:
        return None
    sentence = max(sentences, key=lambda s: model.probabilities(features(s.text))[intent])
    # "negated" is about a cue's own words; the model reads the whole sentence ("it does not fit, we say no")
    if scopes_at(sentence, len(sentence.folded), len(sentence.folded), cues, intent) & VETOES[intent] - {"negated"}:
        return None
    evidence = Evidence(intent, "model", f"model p={probability:.2f}", sentence.text, MODEL_FILE)
    return Finding(intent, MODEL_CONFIDENCE, evidence, language)


def corroborated(model: LinearModel, text: str, subject: str, intent: str, item: Evidence) -> tuple[float, Evidence]:
    """A weak cue acts when the model (which has read the team's labels too, see `partnerships learn`) is at least
    MODEL_CORROBORATES sure of the same intent; else it stays a review proposal."""
    probability = model.probabilities(features(text[:ANALYSED_CHARS], subject)).get(intent, 0.0)
    if probability < MODEL_CORROBORATES:
        return WEAK, item
    return STRONG, replace(item, cue=f"{item.cue} + model p={probability:.2f}")


def find_intent(text: str, subject: str, attachments: Iterable[Attachment], facts: Facts, lexicon: Lexicon,
                allowed: frozenset[str],
                model: LinearModel | None = None) -> tuple[Finding | None, list[Evidence], str]:
    """(the decision, every piece of evidence for the explanation, the language)."""
    language, also = languages_of(text)
    cues = lexicon.for_language(language, also)
    sentences = sentences_of(text)
    joined = Joined(s.folded for s in sentences)
    anchored = anchors(sentences, subject, cues, facts, joined)
    # Only sentences that hold a cue and are about our business are looked at closely (see _confidence), or all
    # those with a cue in a month's certification thread or next to a contract-like document. Most mail has none.
    certification = _any((c.scope("certification") for c in cues), fold(subject))
    everything = certification or any(_CONTRACT_NAME.search(fold(a.filename or "")) for a in attachments)
    short_reply = bool(_REPLY.match(subject)) and short(sentences)
    worth = list(range(len(sentences))) if everything or short_reply else [i for i, a in enumerate(anchored) if a]
    if worth:
        subset = [sentences[i] for i in worth]
        worth = [worth[i] for i in sorted(Joined(s.folded for s in subset).hits(c.any_cue for c in cues))]
    found = [e for i in worth for e in evidence_in(sentences[i], cues, i)]
    month_context = facts.month_stated or certification
    best: dict[str, tuple[float, Evidence]] = {}
    for item in found:
        if not item.counts or item.intent not in allowed:
            continue
        confidence = _confidence(item, facts, anchored[item.index], month_context, short_reply)
        if confidence is not None and confidence > best.get(item.intent, (0.0, item))[0]:
            best[item.intent] = (confidence, item)
    if "contract" in allowed:
        contract = contract_evidence(attachments, subject, sentences, found)
        if contract is not None and contract[0] >= best.get("contract", (0.0, None))[0]:
            best["contract"] = contract
    if not best:
        fallback = model_finding(model, text, subject, sentences, anchored, allowed, language, cues) if model else None
        return fallback, found, language
    intent = max(best, key=lambda i: (best[i][0], SPECIFICITY[i]))
    confidence, item = best[intent]
    if model is not None and confidence == WEAK and item.strength == "weak" and intent in ACTION_INTENTS:
        confidence, item = corroborated(model, text, subject, intent, item)
    rivals = tuple(i for i, (c, _) in best.items() if i != intent and i in ACTION_INTENTS and c >= STRONG)
    if rivals and intent in ACTION_INTENTS:
        confidence = round(confidence / 2, 3)
    return Finding(intent, confidence, item, language, rivals), found, language


def phrase_scopes(text: str, subject: str, phrase: str, facts: Facts, lexicon: Lexicon,
                  language: str, intent: str) -> tuple[set[str], bool, bool]:
    """(scopes, whether the sentence refuses, whether it is about our business) of the first sentence that holds
    `phrase` (a phrase rule's match); a phrase found in no sentence (it spans two) gets no scope."""
    cues = lexicon.for_language(language or detect(text))
    needle = fold(phrase)
    sentences = sentences_of(text)
    for index, sentence in enumerate(sentences):
        position = sentence.folded.find(needle)
        if position < 0:
            continue
        refusal = any(e.counts and e.intent in REFUSALS for e in evidence_in(sentence, cues))
        anchored = anchors(sentences, subject, cues, facts)[index]
        return scopes_at(sentence, position, position + len(needle), cues, intent), refusal, anchored
    return set(), False, True
