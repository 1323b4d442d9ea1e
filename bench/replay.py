"""Replay of a large mbox (the first import of years of mailbox history): messages/s and peak RSS.

Usage: .venv/bin/python bench/replay.py [--count 50000] [--small 5000]
Replays an mbox of --small messages and one of --count messages (the shared corpus and the example mailbox,
cycled with unique Message-IDs) with `partnerships replay --quiet`, each in a process of its own, and prints
both side by side: throughput, and whether peak RSS stays flat as the mailbox grows.
"""

from __future__ import annotations

import argparse
import mailbox
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _mail import corpus_messages, numbered
from _rss import PEAK_LINE


def build_mbox(path: Path, count: int, messages: list[bytes]) -> float:
    box = mailbox.mbox(str(path))
    size = 0
    for data in numbered(messages, count):
        box.add(data)
        size += len(data)
    box.flush()
    box.close()
    return size / 1e6


def replay(mbox: Path, state: Path) -> tuple[float, float]:
    """(seconds, the replaying process's own peak RSS in MB)."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(Path(__file__).with_name("_rss.py")), "-m", "daemon", "replay",
                             str(mbox), "--quiet", "--state", str(state), "--log-level", "error"],
                            capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"replay failed ({result.returncode}): {result.stderr[-2000:]}")
    peak = next(float(line.split()[1]) for line in result.stderr.splitlines() if line.startswith(PEAK_LINE))
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=5_000)
    args = parser.parse_args()
    messages = corpus_messages()
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        for count in (args.small, args.count):
            mbox = base / f"history-{count}.mbox"
            megabytes = build_mbox(mbox, count, messages)
            elapsed, peak = replay(mbox, base / f"state-{count}")
            print(f"replay of {count:6d} messages ({megabytes:6.1f} MB): {elapsed:7.1f} s = "
                  f"{count / elapsed:6.0f} msg/s, peak RSS {peak:.0f} MB")
            mbox.unlink()


if __name__ == "__main__":
    main()
