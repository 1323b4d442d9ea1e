"""Shared set-up for the IMAP benchmarks: real Dovecot and SMTP servers from tests/servers.py, and a daemon config."""

from __future__ import annotations

import sys
from pathlib import Path

from daemon.settings import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "tests"))

from factories import raw_email
from servers import DovecotServer, RecordingSMTPServer, write_daemon_config

LEAD_CSV = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
            "Bench Lab,Active Lead,ada@bench.edu,bench.edu,,,false,,\n")
FILLER = ("We are still comparing options for next semester and will get back to you with numbers. " * 20 + "\n")


def message(number: int, *, confirm: bool) -> bytes:
    body = ("We would like to go ahead with the Small tier at $1,500 per month.\n" if confirm else FILLER)
    return raw_email(message_id=f"bench{number}@bench.edu", sender="Ada Park <ada@bench.edu>",
                     subject=f"Re: Hub service {number}", body=body)


def write_config(directory: Path, dovecot: DovecotServer, smtp: RecordingSMTPServer | None) -> Path:
    return write_daemon_config(directory, dovecot, smtp, leads_csv=LEAD_CSV)


__all__ = ["DovecotServer", "RecordingSMTPServer", "message", "write_config"]
