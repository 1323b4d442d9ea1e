"""Which of the supported languages (en, es, pt, fr, de) a text is written in, by its most frequent small words.

A dictionary of function words is enough to tell these five apart on a few sentences, costs microseconds and
needs no model download; a text with none of them counts as English.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

LANGUAGES = ("en", "es", "pt", "fr", "de")
DEFAULT = "en"
_STOPWORDS = {
    "en": "the and is are we you our for with this that to of not it be have will would thanks hi please "
          "was were us can your from on at as",
    "es": "el los las del por para con una es está estamos hemos nuestro nuestra pero gracias hola que "
          "muy también queremos podemos servicio le les usted ustedes según lo la y al su sus ya hay desde vamos "
          "buenas buenos días saludos",
    "pt": "não um uma os do da dos das em para com é está estamos mas obrigado obrigada olá você vocês "
          "nosso nossa também muito pelo pela serviço foram ao isso e o na vamos bom boa dia tudo depois após "
          "ainda agora então porque já seu sua lhe",
    "fr": "le la les des du et est nous vous pour avec une pas merci bonjour notre nos mais très que "
          "au aux ce cette sont été ont je",
    "de": "der die das und ist nicht wir sie mit für ein eine auch danke hallo unser unsere aber sehr "
          "dass im den dem wurde wurden ich es zu",
}
_WORDS = {lang: set(words.split()) for lang, words in _STOPWORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
# The blocks of combining diacritical marks: what NFKD splits off the letters of the five languages (and more).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Lower case without accents: "März" -> "marz", "août" -> "aout"."""
    if text.isascii():
        return text.lower()  # most mail: no decomposition needed
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))


_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _lang, _words in _WORDS.items():
    for _word in _words:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _lang)


def _counts(text: str, limit: int) -> Counter[str]:
    """How many function words of each language `text` holds: one tokenisation, one dictionary look-up a word."""
    counts: Counter[str] = Counter()
    known = _LANGUAGES_OF
    # Each distinct word once (Counter counts the tokens in C), with how often it occurs.
    for token, times in Counter(_TOKEN.findall(text[:limit].lower())).items():
        languages = known.get(token)
        if languages is not None:
            for language in languages:
                counts[language] += times
    return counts


def present(text: str, limit: int = 2000) -> tuple[str, ...]:
    """Every language with at least one of its function words in `text`, most frequent first."""
    return tuple(lang for lang, _ in _counts(text, limit).most_common())


def detect(text: str, limit: int = 2000) -> str:
    return detect_from(_counts(text, limit))


def detect_from(counts: Counter[str]) -> str:
    if not counts:
        return DEFAULT
    best, score = counts.most_common(1)[0]
    # English wins ties: mail is mostly English, and an English cue list is always consulted anyway.
    return DEFAULT if counts[DEFAULT] >= score else best


def languages_of(text: str, limit: int = 2000) -> tuple[str, tuple[str, ...]]:
    """(detect(text), present(text)) with one scan."""
    counts = _counts(text, limit)
    return detect_from(counts), tuple(lang for lang, _ in counts.most_common())
