"""What a message states besides tier, price and month, for the note that goes to operations: a billing contact,
and a problem reported or a question asked alongside an affirmation or confirmation. Pure."""

from __future__ import annotations

import re

_ADDRESS = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
_BILLING = re.compile(
    rf"\b(?:billing|invoices?|invoicing|accounts payable|finance)\b[^.\n]{{0,80}}?(?P<address>{_ADDRESS})",
    re.IGNORECASE)
_PROBLEM = re.compile(
    r"\b(?:problem|issue|outage|broken|not working|doesn't work|does not work|can't log ?in|cannot log ?in|"
    r"unable to|error|crash\w*|slow|down for|went down|was down|failing|failed|take a look|look into)\b",
    re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def billing_contact(text: str) -> str | None:
    """The address named as the billing contact ("please send invoices to ap@westbrook.edu")."""
    match = _BILLING.search(text)
    return match.group("address").lower() if match else None


def flag_sentence(text: str) -> str | None:
    """The first sentence that reports a problem or asks a question, so that a forward does not read as a plain
    "delivered as expected" when the community also needs something."""
    for match in _SENTENCE.finditer(text):
        sentence = " ".join(match.group(0).split())
        if sentence and (sentence.endswith("?") or _PROBLEM.search(sentence)):
            return sentence[:300]
    return None

