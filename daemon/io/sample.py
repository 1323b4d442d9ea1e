"""Read the newest messages of the configured source, for `partnerships trust detect` (read-only, BODY.PEEK)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from imapclient import IMAPClient

from daemon.errors import ConfigError
from daemon.io.files import iter_source
from daemon.io.imap import ImapSource
from daemon.settings import Config


def newest_messages(config: Config, count: int) -> tuple[str, list[bytes]]:
    """(where they came from, the raw bytes of up to `count` newest messages)."""
    source = config.source
    if source.kind != "imap":
        return str(source.path), list(deque((item.data for item in iter_source(source.path, source.kind)),
                                            maxlen=count))
    if source.imap is None or source.imap.server.password is None:
        raise ConfigError("[source] kind = \"imap\" needs host, username and password_file or password_env")
    imap = ImapSource(source.imap, source.imap.server.password.resolve())
    folder = source.imap.folders[0]
    client = imap.connect()
    try:
        # readonly and BODY.PEEK: reading for a proposal changes no flag.
        client.select_folder(folder, readonly=True)
        uids = sorted(client.search(["ALL"]))[-count:]
        return f"imap:{folder}", list(_fetch(client, uids))
    finally:
        imap.close()


def _fetch(client: IMAPClient, uids: list[int]) -> Iterator[bytes]:
    fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    for uid in uids:
        data = fetched.get(uid, {}).get(b"BODY[]")
        if data is not None:
            yield bytes(data)
