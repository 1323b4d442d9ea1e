"""First sync of a large IMAP folder: messages/s and peak RSS, next to the same messages replayed from mbox.

Usage: .venv/bin/python bench/sync.py [--count 10000]
The messages are the shared corpus and the example mailbox, cycled with unique Message-IDs. Each measurement
runs in its own process so that peak RSS is its own.
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
from _rss import peak_rss_mb
from _servers import DovecotServer, write_config

from daemon.io import iter_source
from daemon.io.imap import ImapSource
from daemon.memory import fix_mmap_threshold
from daemon.runtime import load_config, make_pipeline, open_runtime
from daemon.service.watch import sync_once
from daemon.settings import Config


class _NeverStop:
    requested = False


def measure_imap(config_path: Path) -> None:
    config = load_config(config_path)
    pipeline = make_pipeline(open_runtime(config), dry_run=False)
    imap = config.source.imap
    source = ImapSource(imap, imap.server.password.resolve())
    source.connect()
    started = time.perf_counter()
    read = sync_once(source, imap, pipeline, _NeverStop(), quiet=True)
    elapsed = time.perf_counter() - started
    source.close()
    print(f"imap first sync:  {read} messages in {elapsed:.1f} s = {read / elapsed:7.0f} msg/s, "
          f"peak RSS {peak_rss_mb():.0f} MB")


def measure_mbox(mbox: Path, state: Path) -> None:
    runtime = open_runtime(Config(state_dir=state, leads_seed_csv=None))
    pipeline = make_pipeline(runtime, dry_run=False)
    started = time.perf_counter()
    summary = pipeline.process_all(iter_source(mbox))
    elapsed = time.perf_counter() - started
    print(f"mbox replay:      {summary.read} messages in {elapsed:.1f} s = {summary.read / elapsed:7.0f} msg/s, "
          f"peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fix_mmap_threshold()  # as every `partnerships` command does (daemon/cli.py)
        kind, path = args.child
        if kind == "imap":
            measure_imap(Path(path))
        else:
            measure_mbox(Path(path), Path(path).parent / "mbox-state")
        return
    with tempfile.TemporaryDirectory() as directory, DovecotServer() as dovecot:
        base = Path(directory)
        client = dovecot.client()
        box = mailbox.mbox(str(base / "export.mbox"))
        size, chunk = 0, []
        for data in numbered(corpus_messages(), args.count):
            box.add(data)
            size += len(data)
            chunk.append(data)
            if len(chunk) == 500:
                client.multiappend("INBOX", chunk)
                chunk = []
        if chunk:
            client.multiappend("INBOX", chunk)
        client.logout()
        box.flush()
        box.close()
        print(f"folder: {args.count} messages, {size / 1e6:.1f} MB")
        for kind, path in (("imap", write_config(base, dovecot, None)), ("mbox", base / "export.mbox")):
            subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True)


if __name__ == "__main__":
    main()
