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
from collections import Counter
from email import policy
from pathlib import Path

from _mail import DEFAULT_CORPUS, corpus_messages

from daemon.core.decide import NO_LEAD
from daemon.core.evaluate import Evaluation
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


def bench_daemon(messages: list[bytes], classify_unrelated: bool = False) -> tuple[float, Counter[str]]:
    """(seconds, what became of the messages) for parse + thread + classify + decide, as `run` and `replay` do;
    `classify_unrelated`: classify mail of no lead too, as `classify` and `eval` do."""
    with tempfile.TemporaryDirectory() as state:
        runtime = open_runtime(Config(state_dir=Path(state)))
        pipeline = make_pipeline(runtime, dry_run=True)
        evaluator = pipeline.evaluator
        evaluator.classify_unrelated = classify_unrelated
        outcomes: Counter[str] = Counter()
        start = time.process_time()
        for raw in messages:
            try:
                message = parse(raw)
            except MalformedMessage:
                outcomes["quarantined"] += 1
                continue
            evaluation = evaluator.evaluate(message)
            evaluator.remember(evaluation)
            outcomes[_outcome(evaluation)] += 1
        return time.process_time() - start, outcomes


def _outcome(evaluation: Evaluation) -> str:
    if evaluation.automated:
        return "sent by a machine (skipped, not classified)"
    if evaluation.classification.rule is None and evaluation.classification.explanation.endswith(NO_LEAD):
        return "of no lead, partnerships@ not involved (decided without classification)"
    return "classified"


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
    ours, outcomes = bench_daemon(messages)
    everything, _ = bench_daemon(messages, classify_unrelated=True)
    rate = len(messages)
    print(f"email.message_from_bytes, compat32:  {rate / compat32:8.0f} msg/s  ({compat32:.2f} s)")
    print(f"email.message_from_bytes, default:   {rate / default:8.0f} msg/s  ({default:.2f} s)")
    print(f"parse+thread+classify+decide:        {rate / ours:8.0f} msg/s  ({ours:.2f} s)")
    for outcome, count in outcomes.most_common():
        print(f"    {count:5d} {outcome}")
    print(f"pipeline throughput / compat32 parsing: {compat32 / ours:.2f}x   (goal >= 0.3x)")
    print(f"pipeline throughput / default parsing:  {default / ours:.2f}x   (goal > 1x)")
    print(f"the same with every message of a person classified (as `classify` does): {rate / everything:.0f} msg/s "
          f"= {compat32 / everything:.2f}x compat32, {default / everything:.2f}x default")
    loaded, classified, count = bench_classify(messages)
    print(f"classification alone:            {count / classified:8.0f} msg/s  ({classified:.2f} s for {count}; "
          f"rules and lexicons loaded in {loaded:.2f} s)")


if __name__ == "__main__":
    main()
