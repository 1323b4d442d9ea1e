"""Watch IMAP folders: incremental sync by UID with BODY.PEEK[], IDLE (or polling), reconnect with backoff."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import imapclient
from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import join_message_ids
from imapclient.response_parser import parse_fetch_response

from daemon.core.item import RawItem
from daemon.io.oauth import Login, PasswordLogin
from daemon.settings import ImapConfig

log = logging.getLogger("daemon.imap")

# What a dead or refused connection looks like through imapclient: all of these mean "reconnect".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError, socket.timeout, EOFError,
                                                      ConnectionError, ssl.SSLError)
FETCH_ITEMS = "(BODY.PEEK[] INTERNALDATE)"  # PEEK: fetching never sets \\Seen
SIZE_ITEMS = "(RFC822.SIZE)"
FETCH_BYTES = 2_000_000  # a FETCH brings at most this much (a larger message comes alone)
SIZE_CHUNK = 5000  # UIDs per FETCH of their sizes
IDLE_SLICE_SECONDS = 2.0  # how long one idle_check waits: bounds the reaction time to a stop request


class Cursors(Protocol):
    def cursor(self, source: str) -> tuple[int | None, int]: ...


class StopFlag(Protocol):
    @property
    def requested(self) -> bool: ...


class Disconnected(ConnectionError):
    """The server said BYE or the socket went quiet in a way that means the connection is gone."""


def source_name(folder: str) -> str:
    return f"imap:{folder}"


@dataclass
class Backoff:
    """Exponential backoff with full jitter, so many clients do not reconnect in lockstep."""

    base: float = 1.0
    cap: float = 300.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return random.uniform(0, min(self.cap, self.base * 2 ** (self.failures - 1)))

    def reset(self) -> None:
        self.failures = 0


class ImapSource:
    """A thin I/O shell: which UIDs are new is decided from the stored cursor; nothing is ever flagged."""

    def __init__(self, config: ImapConfig, login: Login | str) -> None:
        self.config = config
        self._login = PasswordLogin(login) if isinstance(login, str) else login
        self.client: IMAPClient | None = None

    def connect(self) -> IMAPClient:
        server = self.config.server
        timeout = imapclient.SocketTimeout(connect=15, read=server.timeout)
        context = ssl.create_default_context()
        client = IMAPClient(server.host, port=server.port, ssl=server.tls == "ssl", ssl_context=context,
                            timeout=timeout)
        try:
            if server.tls == "starttls":
                client.starttls(context)
            self._login.imap(client, server.username or "")
        except BaseException:
            _close(client)
            raise
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # imapclient turns imaplib's debugging on for its log: every answer, each message's bytes included,
            # would be formatted for a log line nobody reads (the cost of a FETCH, and megabytes of strings).
            client._imap.debug = 0
        self.client = client
        log.info("connected host=%s port=%s tls=%s idle=%s", server.host, server.port, server.tls,
                 self.supports_idle)
        return client

    @property
    def supports_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    def close(self) -> None:
        if self.client is not None:
            _close(self.client)
            self.client = None

    def new_messages(self, folder: str, cursors: Cursors) -> Iterator[RawItem]:
        """Messages above the stored cursor, in UID order, fetched in batches (memory stays flat)."""
        return self.fetch(folder, *self.new_uids(folder, cursors))

    def new_uids(self, folder: str, cursors: Cursors) -> tuple[int, list[int]]:
        """(UIDVALIDITY, the UIDs above the stored cursor) of `folder`, which is selected read-only."""
        client = self._require_client()
        # readonly: even a buggy fetch cannot set \\Seen or any other flag.
        info = client.select_folder(folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        stored_validity, last_uid = cursors.cursor(source_name(folder))
        if stored_validity is not None and stored_validity != uidvalidity:
            log.warning("uidvalidity changed folder=%s old=%s new=%s: resyncing, Message-ID dedup prevents repeats",
                        folder, stored_validity, uidvalidity)
            last_uid = 0
        uids = searched_uids(client, last_uid)
        if uids:
            log.info("new messages folder=%s count=%d from_uid=%d", folder, len(uids), uids[0])
        return uidvalidity, uids

    def fetch(self, folder: str, uidvalidity: int, uids: list[int]) -> Iterator[RawItem]:
        """The messages `uids` of the selected `folder`, with the date the server received each (INTERNALDATE),
        in FETCH commands of up to `batch_size` UIDs and FETCH_BYTES bytes (their sizes asked first), so a batch
        of large messages does not swell the memory.

        The FETCH of the next batch is sent before this batch is handed out (IMAP pipelining): the server
        prepares it while this one is processed, and its answer waits in the socket, not in this process. (A
        thread fetching ahead gained nothing: it waited for the interpreter lock at every read.) Closing the
        iterator early reads and drops the answer still outstanding, so the connection stays usable."""
        client = self._require_client()
        client.normalise_times = False  # INTERNALDATE with its zone, not converted to naive local time
        source = source_name(folder)
        for start in range(0, len(uids), SIZE_CHUNK):
            batches = self._batches(client, uids[start:start + SIZE_CHUNK])
            arrived: dict[int, tuple[bytes, datetime | None]] = {}
            tag: bytes | None = _request(client, batches[0], FETCH_ITEMS)
            try:
                for number, batch in enumerate(batches):
                    assert tag is not None
                    arrived.update(fetched_messages(_answer(client, tag)))
                    tag = _request(client, batches[number + 1], FETCH_ITEMS) if number + 1 < len(batches) else None
                    for uid in batch:
                        found = arrived.pop(uid, None)
                        if found is None:  # expunged between SEARCH and FETCH
                            continue
                        yield RawItem(source, uid, found[0], f"{folder}/{uid}", uidvalidity, received=found[1])
            finally:
                if tag is not None:  # stopped early: the answer still on its way is read and dropped
                    with contextlib.suppress(*CONNECTION_ERRORS):
                        _answer(client, tag)

    def _batches(self, client: IMAPClient, uids: list[int]) -> list[list[int]]:
        """UIDs grouped for FETCH by count and by their RFC822.SIZE."""
        sizes = fetched_sizes(_answer(client, _request(client, uids, SIZE_ITEMS)))
        batches: list[list[int]] = []
        batch: list[int] = []
        total = 0
        for uid in uids:
            size = sizes.get(uid, 0)
            if batch and (len(batch) >= self.config.batch_size or total + size > FETCH_BYTES):
                batches.append(batch)
                batch, total = [], 0
            batch.append(uid)
            total += size
        if batch:
            batches.append(batch)
        return batches

    def wait_for_change(self, folder: str, seconds: float, stop: StopFlag, tick: Callable[[], None]) -> bool:
        """IDLE on `folder` for up to `seconds` (polling sleep without IDLE); True when the server saw news.

        `tick` runs about every IDLE_SLICE_SECONDS so timers (scheduler, watchdog, retries) keep running.
        """
        client = self._require_client()
        deadline = time.monotonic() + seconds
        if not self.supports_idle:
            while time.monotonic() < deadline and not stop.requested:
                time.sleep(min(IDLE_SLICE_SECONDS, max(0.0, deadline - time.monotonic())))
                tick()
            client.noop()  # a real round trip: proves the connection is alive before the next sync
            return False
        client.select_folder(folder, readonly=True)
        client.idle()
        changed = False
        try:
            while not changed and not stop.requested and time.monotonic() < deadline:
                slice_seconds = min(IDLE_SLICE_SECONDS, max(0.1, deadline - time.monotonic()))
                started = time.monotonic()
                responses = client.idle_check(timeout=slice_seconds)
                if any(_is_bye(r) for r in responses):
                    raise Disconnected("server said BYE during IDLE")
                if not responses and time.monotonic() - started < slice_seconds * 0.5:
                    # idle_check returns [] at once once the socket is closed: that is not a timeout.
                    raise Disconnected("connection closed during IDLE")
                changed = any(_is_news(r) for r in responses)
                tick()
        finally:
            if self.client is not None:
                try:
                    client.idle_done()
                except CONNECTION_ERRORS as exc:
                    raise Disconnected(f"IDLE could not be ended: {exc}") from exc
        return changed

    def _require_client(self) -> IMAPClient:
        if self.client is None:
            raise Disconnected("not connected")
        return self.client


_NUMBER = re.compile(rb"\d+")


def searched_uids(client: IMAPClient, last_uid: int) -> list[int]:
    """The UIDs above `last_uid` in the selected folder, ascending. The answer is read straight off imaplib's
    line: imapclient's parse of a 100,000-message folder took 22 MB for a moment (a token per number), this
    takes the 4 MB of the list it returns, so the peak memory of a first sync does not grow with the folder."""
    imap = client._imap
    tag = imap._command("UID", "SEARCH", "UID", f"{last_uid + 1}:*")
    status, data = imap._command_complete("SEARCH", tag)
    if status != "OK":
        raise IMAPClientError(f"search failed: {status} {data!r}")
    uids: list[int] = []
    for line in imap._untagged_response(status, data, "SEARCH")[1]:
        if isinstance(line, bytes):
            numbers = line.split(b"(", 1)[0]  # a CONDSTORE server may add "(MODSEQ n)"
            # A search for N:* always returns the highest UID even when it is below N: filtered here.
            uids.extend(uid for uid in (int(m.group()) for m in _NUMBER.finditer(numbers)) if uid > last_uid)
    uids.sort()  # servers answer in order (then this is one pass, in place); should one not, it is ours to make
    return uids


def _request(client: IMAPClient, uids: list[int], items: str) -> bytes:
    """Send a UID FETCH of `items` for `uids`; its tag, for `_answer`. (imapclient's `fetch` sends and waits in
    one call; pipelining needs the two apart.)"""
    return client._imap._command("UID", "FETCH", join_message_ids(uids), items)


def _answer(client: IMAPClient, tag: bytes) -> list[Any]:
    """imaplib's lines of the answer to the FETCH `tag`."""
    imap = client._imap
    status, data = imap._command_complete("FETCH", tag)
    if status != "OK":
        raise IMAPClientError(f"fetch failed: {status} {data!r}")
    return imap._untagged_response(status, data, "FETCH")[1]


# What Dovecot (and most servers) answer for one message: `* 12 FETCH (UID 34 INTERNALDATE "..." BODY[] {567}`,
# the literal, then `)`.
_PLAIN = re.compile(rb'\d+ \(UID (\d+) INTERNALDATE "([^"]+)" BODY\[\] \{\d+\}')
_PLAIN_SIZE = re.compile(rb"\d+ \(UID (\d+) RFC822\.SIZE (\d+)\)")


def fetched_sizes(data: list[Any]) -> dict[int, int]:
    """UID -> RFC822.SIZE from imaplib's lines of a FETCH answer (the usual shape directly, any other through
    imapclient's parser)."""
    sizes: dict[int, int] = {}
    if data == [None]:
        return sizes
    for line in data:
        plain = _PLAIN_SIZE.fullmatch(line) if isinstance(line, bytes) else None
        if plain is None:
            parsed = parse_fetch_response(data, normalise_times=False, uid_is_key=True).items()
            return {uid: entry[b"RFC822.SIZE"] for uid, entry in parsed
                    if isinstance(entry.get(b"RFC822.SIZE"), int)}
        sizes[int(plain[1])] = int(plain[2])
    return sizes


def fetched_messages(data: list[Any]) -> dict[int, tuple[bytes, datetime | None]]:
    """The messages in imaplib's lines of a FETCH answer (UID -> bytes, INTERNALDATE). The usual shape is read
    directly; any other (items in another order, unsolicited FLAGS, ...) goes through imapclient's full parser."""
    found: dict[int, tuple[bytes, datetime | None]] = {}
    if data == [None]:
        return found
    lines = iter(data)
    for line in lines:
        plain = _PLAIN.fullmatch(line[0]) if isinstance(line, tuple) and len(line) == 2 else None
        if plain is None or next(lines, None) != b")":
            return _parsed(data)
        found[int(plain[1])] = (line[1], _received(plain[2]))
    return found


def _received(value: bytes) -> datetime | None:
    try:
        return _aware(parse_to_datetime(value, normalise=False))
    except ValueError:  # as imapclient: an unreadable INTERNALDATE is no date
        return None


def _parsed(data: list[Any]) -> dict[int, tuple[bytes, datetime | None]]:
    found: dict[int, tuple[bytes, datetime | None]] = {}
    for uid, entry in parse_fetch_response(data, normalise_times=False, uid_is_key=True).items():
        body = entry.get(b"BODY[]")
        if isinstance(body, bytes):
            found[uid] = (body, _aware(entry.get(b"INTERNALDATE")))
    return found


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _is_bye(response: tuple[object, ...]) -> bool:
    return bool(response) and response[0] == b"BYE"


def _is_news(response: tuple[object, ...]) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")


def _close(client: IMAPClient) -> None:
    try:
        client.logout()
    except CONNECTION_ERRORS:
        with contextlib.suppress(CONNECTION_ERRORS):
            client.shutdown()
