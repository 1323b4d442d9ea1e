"""Measure the hot path (parse + thread + classify + decide) against bare email.message_from_bytes.

Usage: .venv/bin/python bench/pipeline.py [--corpus DIR] [--repeat N]
Prints messages/s for both over the same bytes in the same run, and their ratio.
"""

from __future__ import annotations

import argparse
import email
import tempfile
import time
from email import policy
from pathlib import Path

from _mail import DEFAULT_CORPUS, corpus_messages

from daemon.core.message import MalformedMessage, parse
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import Config


def bench_stdlib(messages: list[bytes], parse_policy: policy.Policy) -> float:
    start = time.perf_counter()
    for raw in messages:
        email.message_from_bytes(raw, policy=parse_policy)
    return time.perf_counter() - start


def bench_daemon(messages: list[bytes]) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as state:
        runtime = open_runtime(Config(state_dir=Path(state)))
        pipeline = make_pipeline(runtime, dry_run=True)
        quarantined = decided = 0
        start = time.perf_counter()
        for raw in messages:
            try:
                message = parse(raw)
            except MalformedMessage:
                quarantined += 1
                continue
            pipeline.evaluator.remember(pipeline.evaluate(message))
            decided += 1
        return time.perf_counter() - start, decided, quarantined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    messages = corpus_messages(args.corpus) * args.repeat
    megabytes = sum(map(len, messages)) / 1e6
    print(f"messages: {len(messages)} ({megabytes:.1f} MB) from {args.corpus} + examples/inbox.mbox")
    compat32 = bench_stdlib(messages, policy.compat32)
    default = bench_stdlib(messages, policy.default)
    ours, decided, quarantined = bench_daemon(messages)
    rate = len(messages)
    print(f"email.message_from_bytes, compat32:  {rate / compat32:8.0f} msg/s  ({compat32:.2f} s)")
    print(f"email.message_from_bytes, default:   {rate / default:8.0f} msg/s  ({default:.2f} s)")
    print(f"parse+thread+classify+decide:        {rate / ours:8.0f} msg/s  ({ours:.2f} s; "
          f"{decided} decided, {quarantined} quarantined)")
    print(f"pipeline throughput / compat32 parsing: {compat32 / ours:.2f}x   (goal >= 0.3x)")
    print(f"pipeline throughput / default parsing:  {default / ours:.2f}x   (goal > 1x)")


if __name__ == "__main__":
    main()
