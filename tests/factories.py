"""Builders for test messages: Message values for the pure core and raw bytes for the parser and pipeline."""

from __future__ import annotations

import contextlib
import io
import os
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from daemon.cli import main
from daemon.core.message import Attachment, Body, Message


def bayside_has_ended() -> bool:
    """examples/inbox.mbox: Bayside writes on 2026-11-10 that its service ends "at the end of December"; its status
    move waits for that day, so what a replay shows depends on whether the machine's clock has passed it."""
    return datetime.now(UTC).date() >= date(2026, 12, 31)


def example_done_actions() -> int:
    """How many outbox actions a replay of examples/inbox.mbox leaves done (Bayside's end and Cascade's start are
    moves that wait for their day)."""
    return 37 + bayside_has_ended() + cascade_has_started()


def cascade_has_started() -> bool:
    """examples/inbox.mbox: Cascade confirms a service starting December 1, 2026; the lead moves from Needs Admin to
    Active Service once the machine's clock has reached that day."""
    return datetime.now(UTC).date() >= date(2026, 12, 1)


def run_cli(*args: str) -> tuple[int, str, str]:
    """`partnerships ARGS...` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def make_message(**overrides: object) -> Message:
    values: dict[str, object] = {
        "message_id": "m1@westbrook.edu",
        "subject": "Hub service",
        "from_addr": "maria.chen@westbrook.edu",
        "from_name": "Maria Chen",
        "to": ("sam@2i2c.org",),
        "cc": ("partnerships@2i2c.org",),
        "reply_to": (),
        "date": datetime(2026, 10, 6, 15, 0, tzinfo=UTC),
        "in_reply_to": (),
        "references": (),
        "headers": (),
        "content_type": "text/plain",
        "new_text": "Hello",
        "full_text": "Hello",
        "attachments": (),
    }
    values.update(overrides)
    full_text = values.pop("full_text")
    values["body"] = Body.of(str(values.pop("new_text")), str(full_text) if "full_text" in overrides else None)
    return Message(**values)  # type: ignore[arg-type]


def pdf(name: str = "signed-agreement.pdf") -> Attachment:
    return Attachment(filename=name, content_type="application/pdf", size=900)


def raw_email(*, sender: str = "Maria Chen <maria.chen@westbrook.edu>", to: str = "sam@2i2c.org",
              cc: str = "partnerships@2i2c.org", subject: str = "Hub service", body: str = "Hello",
              message_id: str = "m1@westbrook.edu", in_reply_to: str | None = None,
              date: datetime = datetime(2026, 10, 6, 15, 0, tzinfo=UTC),
              headers: dict[str, str] | None = None, authenticated: bool = True) -> bytes:
    """A message as our receiving server (mx.google.com) delivers it: with its DMARC verdict on top, unless
    `authenticated` is False."""
    message = EmailMessage()
    if authenticated:
        domain = sender.rpartition("@")[2].rstrip(">").lower()
        message["Authentication-Results"] = (f"mx.google.com; dkim=pass header.i=@{domain}; spf=pass; "
                                              f"dmarc=pass (p=NONE) header.from={domain}")
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def mbox_config(tmp_path: Path, mails: list[bytes], leads_csv: str, *,
                from_line: bytes = b"From x Mon Nov  2 00:00:00 2026") -> Path:
    """`mails` as inbox.mbox, `leads_csv` as the seed and a config trusting mx.google.com, in `tmp_path`: the
    config's path."""
    (tmp_path / "inbox.mbox").write_bytes(b"".join(from_line + b"\n" + mail + b"\n" for mail in mails))
    (tmp_path / "leads.csv").write_text(leads_csv)
    config = tmp_path / "partnerships.toml"
    config.write_text('[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      '[daemon]\nstate_dir = "state"\n[source]\nkind = "mbox"\npath = "inbox.mbox"\n'
                      '[leads]\nseed_csv = "leads.csv"\n')
    return config


# What the bundled example mailbox leaves in the leads table (tests/pipeline/test_example_mailbox.py, and the same on
# Airtable in tests/pipeline/test_airtable_e2e.py).
EXPECTED_STATUSES = {
    "Pinecrest Community College": "Active Lead",
    "Institute for Alpine Ecology": "Active Lead",
    "Sonoran Desert Research Consortium": "Waiting",
    "Brightwater Public Health Institute": "Inactive Lead",
    "Eastlake University Statistics": "Active Lead",
    "Northbay Marine Laboratory": "Active Lead",
    "Cascade Institute for Climate Research": "Active Service" if cascade_has_started() else "Needs Admin",
    "Riverbend University Hydrology Lab": "Active Service",
    "Open Ocean Data Alliance": "Active Service",
    "Prairie State University Physics Education": "Needs Admin",
    "Bayside Genomics Consortium": "Inactive Service" if bayside_has_ended() else "Active Service",
    "Summit State University Neuroscience": "Active Service",
    "Redwood Coast Community College": "Active Lead",
    "Lakeside University Limnology Lab": "Active Lead",
    "Harborview Institute of Oceanography": "Active Lead",
    "Ironwood Institute for Computational Linguistics": "Active Service",
    "Granite Peak Observatory": "Waiting",
    "Old Mill Digital History Project": "Inactive Lead",
    "Coastal Plains University Geography": "Inactive Service",
    # created from the mailbox: named by the organisation in the first contact's signature; Glenmoor's lead is
    # created by the team's own mail (its signature is ours), so it is named by its domain
    "Westbrook University": "Needs Admin",
    "glenmoor.ac.uk": "Active Lead",
    "Meadowlark College Library": "Active Lead",
}

# The shared corpus of real messages written by others (never copied into the project).
CORPUS = Path(os.environ.get("PARTNERSHIPS_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
