"""Tell a domain made to look like a lead's domain (confusable letters, one typo, added words) (pure)."""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Letters of other scripts (and digits) that render like Latin ones: the part of Unicode's confusables
# table (UTS #39) an attacker reaches for in a domain name. NFKD first folds accents and full-width forms.
_CONFUSABLE = str.maketrans({
    "а": "a", "в": "b", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "ӏ": "l",
    "м": "m", "н": "h", "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "т": "t", "у": "y", "х": "x", "ԝ": "w",
    "ɡ": "g", "ı": "i", "ɩ": "i", "ℓ": "l", "ⅼ": "l", "ｌ": "l",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ω": "w",
    "0": "o", "1": "l", "3": "e", "5": "s", "|": "l",
})
# Multi-letter look-alikes, applied after the single letters.
_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("i", "l"))
# Second-level labels under which the registrable name is the third label (cs.glenmoor.ac.uk -> glenmoor).
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "net", "org", "sch", "nhs", "gob", "govt"})
_MIN_NAME_FOR_TYPO = 5


@lru_cache(maxsize=4096)  # a domain recurs in every message from it: fold each once
def _unicode(domain: str) -> str:
    labels = []
    for label in domain.lower().strip().rstrip(".").split("."):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                label = label.encode("ascii").decode("idna")
        labels.append(label)
    return ".".join(labels)


@lru_cache(maxsize=8192)
def skeleton(text: str) -> str:
    """What `text` looks like: confusable letters mapped to Latin, accents dropped, separators removed."""
    folded = unicodedata.normalize("NFKD", text.lower()).translate(_CONFUSABLE)
    letters = "".join(ch for ch in folded if ch.isalnum() and not unicodedata.combining(ch))
    for pair, single in _PAIRS:
        letters = letters.replace(pair, single)
    return letters


@lru_cache(maxsize=4096)
def registrable_name(domain: str) -> str:
    """The label that names the organisation: "pinecrest" for pinecrest.edu and mail.pinecrest.edu,
    "glenmoor" for glenmoor.ac.uk (without the public-suffix list: a short list of common second levels)."""
    labels = [label for label in _unicode(domain).split(".") if label]
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else (labels[0] if labels else "")


def _distance(a: str, b: str, cap: int) -> int:
    """Levenshtein distance with adjacent transpositions, stopped early once above `cap`."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > cap:
            return cap + 1
        previous2, previous = previous, current
    return previous[-1]


def _same_or_below(domain: str, parent: str) -> bool:
    return domain == parent or domain.endswith("." + parent)


@lru_cache(maxsize=16384)  # sender domain x lead domain: the same pairs come back with every message
def imitates(domain: str, lead_domain: str) -> bool:
    """Whether `domain` is not `lead_domain` (nor one of its subdomains) but looks like it: the same skeleton,
    a registrable name one or two edits away, or the lead's whole name inside it (pinecrest-edu.com)."""
    candidate, genuine = _unicode(domain), _unicode(lead_domain)
    if not candidate or not genuine or _same_or_below(candidate, genuine):
        return False
    if skeleton(candidate) == skeleton(genuine):
        return True
    name, genuine_name = skeleton(registrable_name(candidate)), skeleton(registrable_name(genuine))
    if not genuine_name:
        return False
    if name == genuine_name:
        return True  # pinecrest.com or pinecrest.edu.evil.example for pinecrest.edu
    if len(genuine_name) >= _MIN_NAME_FOR_TYPO and _distance(name, genuine_name, 2) <= 2:
        return True
    squashed = skeleton(candidate)
    return len(genuine_name) >= _MIN_NAME_FOR_TYPO and genuine_name in squashed


def imitated_domain(domain: str, lead_domains: Iterable[str]) -> str | None:
    """The first of `lead_domains` that `domain` imitates, or None."""
    return next((lead for lead in lead_domains if lead and imitates(domain, lead)), None)
