"""Airtable requests per update: read 1,000 leads and write 200 status changes through the local Airtable server.

Usage: .venv/bin/python bench/airtable.py [--leads N] [--changes N]
Prints requests made (lists, writes), 429 answers, the peak requests/second the server saw, and seconds; the goal is
one paginated list per cycle and at most ceil(changes / 10) writes, without exceeding 5 requests/second.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

from daemon.core.lead import Lead
from daemon.leads.airtable.settings import AirtableConfig
from daemon.leads.airtable.store import AirtableLeadStore, StatusChange
from daemon.settings import PROJECT_ROOT, SecretRef

sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from airtable_server import BASE_ID, AirtableServer, add_partnerships_base, lead_rows


def run(lead_count: int, change_count: int) -> None:
    with AirtableServer() as server, tempfile.TemporaryDirectory() as directory:
        add_partnerships_base(server)
        server.seed(BASE_ID, "Leads", lead_rows(lead_count))
        token = Path(directory) / "token"
        token.write_text(server.token)
        store = AirtableLeadStore(AirtableConfig(token=SecretRef(key="token", file=token), base_id=BASE_ID,
                                                 endpoint_url=server.url))

        started = time.monotonic()
        leads = store.all()
        read_seconds = time.monotonic() - started
        step = max(1, len(leads) // change_count)  # spread the changes over the table
        changes = [StatusChange(f"status:bench{n}:Needs Admin", lead.id, "Needs Admin", f"rule bench on message {n}")
                   for n, lead in enumerate(leads[::step][:change_count])]
        outcomes = store.apply_status_changes(changes)
        seconds = time.monotonic() - started
        failed = sum(not isinstance(outcome, Lead) for outcome in outcomes.values())

        lists, writes, client_requests = server.requests("GET"), server.writes(), store.stats.requests
        store.apply_status_changes(changes)  # the same keys again, as after a restart: nothing to write
        repeat_writes = len(server.writes()) - len(writes)

        goal_writes = math.ceil(len(changes) / 10)
        print(f"leads {len(leads)}, status changes {len(changes)} ({failed} failed)")
        print(f"requests made        {len(lists) + len(writes)} (client counted {client_requests})")
        print(f"  list requests      {len(lists)} = 1 paginated list of {len(leads)} leads in pages of 100 "
              f"({read_seconds:.2f} s)")
        print(f"  writes             {len(writes)} (goal <= ceil({len(changes)} / 10) = {goal_writes}: "
              f"{'met' if len(writes) <= goal_writes else 'MISSED'})")
        print(f"requests per update  {(len(lists) + len(writes)) / len(changes):.3f}")
        print(f"429 answers          {server.rate_limited}")
        print(f"peak requests/second {server.peak_rate()} (Airtable's limit: 5 per base)")
        print(f"seconds              {seconds:.2f}")
        print(f"same keys again      {repeat_writes} writes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    run(args.leads, args.changes)


if __name__ == "__main__":
    main()
