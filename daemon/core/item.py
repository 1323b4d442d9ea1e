"""The unit every mail source yields: raw bytes with a stable identity within their source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RawItem:
    source: str  # e.g. "mbox:inbox.mbox" or "imap:INBOX"
    uid: int  # position (1-based) or IMAP UID
    data: bytes
    origin: str = ""  # a human-readable locator (file path, key) for logs
    uidvalidity: int | None = None  # IMAP only: UIDs are meaningful only together with it
    # When the mailbox received it (IMAP INTERNALDATE, the mbox From_ line, a Maildir file's time), timezone-aware;
    # None when the source does not say. Unlike the Date header the sender cannot choose it.
    received: datetime | None = None
