"""Arrival-to-forward latency over IMAP IDLE: APPEND messages one by one while the daemon idles.

Usage: .venv/bin/python bench/latency.py [--count 50]
Prints p50 / p95 / max seconds from APPEND to the forward arriving at the SMTP server.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _servers import DovecotServer, RecordingSMTPServer, message, write_config

from daemon.runtime import load_config, make_pipeline, open_runtime
from daemon.service.watch import watch


class _Stop:
    def __init__(self) -> None:
        self.event = threading.Event()

    @property
    def requested(self) -> bool:
        return self.event.is_set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, DovecotServer() as dovecot:
        smtp = RecordingSMTPServer().start()
        config = load_config(write_config(Path(directory), dovecot, smtp))
        pipeline = make_pipeline(open_runtime(config), dry_run=False)
        stop = _Stop()
        imap = config.source.imap
        thread = threading.Thread(target=watch, args=(imap, imap.server.password.resolve(), pipeline, stop),
                                  kwargs={"tick": pipeline.execute}, daemon=True)
        thread.start()
        time.sleep(2)  # first sync done, idling
        latencies = []
        for number in range(args.count):
            started = time.monotonic()
            dovecot.append("INBOX", message(number, confirm=True))
            smtp.wait_for(number + 1, timeout=60)
            latencies.append(time.monotonic() - started)
        stop.event.set()
        thread.join(timeout=30)
        smtp.stop()
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(f"messages: {len(latencies)} appended one by one while the daemon idled (Dovecot on 127.0.0.1)")
    print(f"APPEND -> forward at SMTP server: p50 {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, "
          f"max {latencies[-1]:.2f} s")


if __name__ == "__main__":
    main()
