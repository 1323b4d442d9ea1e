"""The labelled examples the team gives the classifier (table `labelled_examples`): each review approval (the
proposed intent was right), rejection (the message calls for none of it: stored as `other`) and reclassification
(`review reclassify ID INTENT`, or the desk's intent menu: it means this intent) stores one, with the message's id
and text, who and when. `partnerships learn` reads them back, the newest label of each message winning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.message import MalformedMessage, parse
from daemon.state.models import LabelledExample, ReviewItem, StoredMessage

OTHER = "other"  # what a rejected proposal is taken to mean


@dataclass(frozen=True)
class Example:
    message_id: str
    subject: str
    text: str  # the message's new text
    intent: str
    by: str
    at: datetime


def new_text(stored: StoredMessage | None) -> str:
    """The stored message's own words (no quoted history), "" when it is gone or unreadable."""
    if stored is None or stored.raw is None:
        return ""
    try:
        return parse(stored.raw).new_text
    except MalformedMessage:
        return ""


def add_example(session: Session, item: ReviewItem, intent: str, by: str, at: datetime) -> LabelledExample:
    """Store that the item's message means `intent`; the text is "subject, blank line, new text"."""
    stored = session.scalar(select(StoredMessage).where(StoredMessage.message_id == item.message_id))
    text = f"{stored.subject or ''}\n\n{new_text(stored)}" if stored else ""
    example = LabelledExample(message_id=item.message_id, review_item_id=item.id, text=text, intent=intent,
                              previous_intent=item.intent, labelled_by=by, labelled_at=at)
    session.add(example)
    return example


def team_examples(sessions: sessionmaker[Session]) -> list[Example]:
    """Every message the team labelled, once, with its newest label (a reclassification after an approval wins);
    examples without text (the message was purged) are left out."""
    newest: dict[str, LabelledExample] = {}
    with sessions() as session:
        for row in session.scalars(select(LabelledExample).order_by(LabelledExample.labelled_at,
                                                                    LabelledExample.id)):
            newest[row.message_id] = row
        return [Example(row.message_id, *_split(row.text), row.intent, row.labelled_by, row.labelled_at)
                for row in newest.values() if row.text.strip()]


def _split(text: str) -> tuple[str, str]:
    """(subject, new text) of a stored example's text."""
    subject, blank, body = text.partition("\n\n")
    return (subject, body) if blank else ("", text)
