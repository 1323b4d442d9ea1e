"""Where raw messages come from: files (mbox, Maildir, .eml folders) and an IMAP mailbox."""

from daemon.core.item import RawItem
from daemon.io.files import FileSource, detect_kind, iter_source

__all__ = ["FileSource", "RawItem", "detect_kind", "iter_source"]
