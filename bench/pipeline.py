"""Measure the hot path (parse + thread + classify + decide) against bare email.message_from_bytes.

Usage: .venv/bin/python bench/pipeline.py [--corpus DIR] [--repeat N]
Prints messages/s for both over the same bytes in the same run, and their ratio. Times are the CPU time of this
process (`time.process_time`): everything measured runs in one thread, and on a shared machine wall time would
count other processes' work too.
"""

from __future__ import annotations

import argparse
import email
import tempfile
import time
from email import policy
from pathlib import Path

from _mail import DEFAULT_CORPUS, corpus_messages

from daemon.core.extract import facts_of
from daemon.core.message import MalformedMessage, parse
from daemon.core.rules import Context, load_rules
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import Config


def bench_stdlib(messages: list[bytes], parse_policy: policy.Policy) -> float:
    start = time.process_time()
    for raw in messages:
        email.message_from_bytes(raw, policy=parse_policy)
    return time.process_time() - start


def bench_daemon(messages: list[bytes]) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as state:
        runtime = open_runtime(Config(state_dir=Path(state)))
        pipeline = make_pipeline(runtime, dry_run=True)
        quarantined = decided = skipped = 0
        start = time.process_time()
        for raw in messages:
            try:
                message = parse(raw)
            except MalformedMessage:
                quarantined += 1
                continue
            evaluation = pipeline.evaluator.evaluate(message)
            pipeline.evaluator.remember(evaluation)
            decided += 1
            skipped += bool(evaluation.automated)
        elapsed = time.process_time() - start
        print(f"  ({skipped} of the {decided} decided were sent by a machine: skipped without classification)")
        return elapsed, decided, quarantined


CONTACT = Context(direction="inbound", sender_role="lead_contact")  # every sentence cue listens


def bench_classify(messages: list[bytes]) -> tuple[float, float, int]:
    """(seconds to load rules and lexicons, seconds to classify, messages): the classifier alone (facts, phrase
    rules and sentence cues) over messages parsed beforehand, one core."""
    config = Config()
    start = time.process_time()
    rules = load_rules(config.rules_dir)
    loaded = time.process_time() - start
    parsed = []
    for raw in messages:
        try:
            parsed.append(parse(raw))
        except MalformedMessage:
            continue
    tiers = tuple(t.name for t in config.tiers)
    start = time.process_time()
    for message in parsed:
        rules.classify(message, CONTACT, facts_of(message, tiers))
    return loaded, time.process_time() - start, len(parsed)


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
    loaded, classified, count = bench_classify(messages)
    print(f"classification alone:            {count / classified:8.0f} msg/s  ({classified:.2f} s for {count}; "
          f"rules and lexicons loaded in {loaded:.2f} s)")


if __name__ == "__main__":
    main()
