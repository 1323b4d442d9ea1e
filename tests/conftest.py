"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from servers import DovecotServer, RecordingSMTPServer, dovecot_binary

# --- Real-server fixtures: Dovecot IMAP and a recording SMTP server (tests/servers.py) -------


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    """A started private Dovecot (user partnerships@example.test / secret), stopped afterwards."""
    if dovecot_binary() is None:
        pytest.fail(
            "'dovecot' is not installed; the IMAP tests need a real Dovecot. "
            "Run `bash scripts/install-test-deps.sh` (as root) first.",
            pytrace=False,
        )
    server = DovecotServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., RecordingSMTPServer]]:
    """Factory: ``smtp_server(mode="accept", **kwargs)`` returns a started RecordingSMTPServer;
    every server made is stopped at teardown."""
    started: list[RecordingSMTPServer] = []

    def make(mode: str = "accept", **kwargs: Any) -> RecordingSMTPServer:
        server = RecordingSMTPServer(mode, **kwargs)
        server.start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


# --- end of real-server fixtures --------------------------------------------------------------
