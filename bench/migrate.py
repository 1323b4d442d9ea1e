"""Measure the automatic schema upgrade at start on a state with many messages (backup copy included).

Usage: .venv/bin/python bench/migrate.py [--messages N]
Builds a state at the first schema revision with N messages (4 KB of raw mail each) and their classifications,
then times `make_sessions` on it (backup + upgrade), and the same for a state made before migrations.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from daemon.state.models import make_sessions
from daemon.state.schema import open_engine, upgrade

RAW = b"Subject: Hub service\r\n\r\n" + b"We would like to go ahead with the Medium tier.\r\n" * 80


def build(db: Path, count: int, *, legacy: bool) -> None:
    engine = open_engine(db, migrate=False)
    upgrade(engine, db, "0001")
    engine.dispose()
    connection = sqlite3.connect(db)
    connection.executemany(
        "INSERT INTO messages (id, message_id, thread_id, source, subject, direction, sender_role, thread_ids,"
        " participants, raw, received_at) VALUES (?, ?, ?, 'imap:INBOX', 'Hub service', 'inbound', 'lead_contact',"
        " '[]', '[]', ?, '2026-11-30 10:00:00')",
        [(n, f"m{n}@westbrook.edu", f"t{n % 500}@westbrook.edu", RAW) for n in range(1, count + 1)])
    connection.executemany(
        "INSERT INTO classifications (message_pk, intent, confidence, matched, facts, explanation)"
        " VALUES (?, 'waiting', 0.9, '[]', '{}', '')", [(n,) for n in range(1, count + 1)])
    if legacy:
        connection.execute("DROP TABLE alembic_version")
    connection.commit()
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    for legacy in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            db = Path(folder) / "partnerships.sqlite3"
            build(db, args.messages, legacy=legacy)
            size = db.stat().st_size / 1e6
            started = time.perf_counter()
            make_sessions(db).kw["bind"].dispose()
            elapsed = time.perf_counter() - started
            kind = "made before migrations" if legacy else "at revision 0001"
            print(f"state {kind}: {args.messages} messages, {size:.1f} MB: backup + upgrade {elapsed:.2f} s")


if __name__ == "__main__":
    main()
