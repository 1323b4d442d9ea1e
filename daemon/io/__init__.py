"""Where raw messages come from: files (mbox, Maildir, .eml folders) and an IMAP mailbox."""

from daemon.io.files import detect_kind, iter_source
from daemon.io.item import RawItem

__all__ = ["RawItem", "detect_kind", "iter_source"]
