"""Where raw messages come from: files (mbox, Maildir, .eml folders) and an IMAP mailbox."""

from daemon.core.item import RawItem
from daemon.io.files import detect_kind, iter_source

__all__ = ["RawItem", "detect_kind", "iter_source"]
