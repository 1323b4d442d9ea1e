"""Measure how long each page of the web desk takes to render on a big state: 1,000 leads, 10,000 messages.

Usage: .venv/bin/python bench/web.py [--leads N] [--messages N] [--repeat N]
Builds a throw-away state (SQLite, as `partnerships run` leaves it), signs in once, then requests every page
`--repeat` times in-process (Starlette's TestClient: routing, queries, templates, no network) and prints the
median and the slowest time per page. Goal: under 200 ms per page.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import insert
from starlette.testclient import TestClient

from daemon.core.lead import STATUSES
from daemon.core.maniac import LETTERS
from daemon.runtime import load_config, open_runtime
from daemon.settings import Config
from daemon.state import accounts
from daemon.state.models import (
    ActionRow,
    Classification,
    LeadRow,
    LeadStatusChange,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
)
from daemon.web.app import create_app
from daemon.web.auth import WebSettings, hash_password

INTENTS = ("other", "first_contact", "service_confirmation", "delivery_affirmation", "waiting", "decline")
TIERS = ("small", "medium", "large")
PAGES = ["/review", "/leads", "/leads?q=community+07", "/leads/{lead}", "/activity", "/activity?range=week",
         "/invoices", "/health", "/metrics"]


def raw_message(number: int, domain: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"Contact {number} <contact{number}@{domain}>"
    message["To"] = "partnerships@2i2c.org"
    message["Subject"] = f"Re: Hub service for community {number}"
    message["Message-ID"] = f"<m{number}@{domain}>"
    message["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
    message.set_content("Sounds good, let's do it! We would like the medium tier.\n\n" + "More context. " * 80)
    return message.as_bytes()


def build_state(state: Path, leads: int, messages: int) -> str:
    """Fill a fresh state; returns the id of a lead with messages (for the lead page)."""
    runtime = open_runtime(_config(state))
    now = datetime(2026, 12, 1, 12, 0)
    per_lead = max(1, messages // leads)
    with runtime.sessions.begin() as session:
        session.execute(insert(LeadRow), [{
            "id": i + 1, "name": f"Community {i:04d}", "status": STATUSES[i % len(STATUSES)],
            "contact_emails": [f"contact{i}@c{i}.edu"], "domain": f"c{i}.edu", "service_tier": TIERS[i % 3],
            "monthly_fee": "3000.00", "notes": "seeded", "created_at": now, "updated_at": now,
        } for i in range(leads)])
        rows, classes = [], []
        for n in range(messages):
            lead = n // per_lead % leads
            review = n % 200 == 0
            rows.append({
                "id": n + 1, "message_id": f"m{n}@c{lead}.edu", "thread_id": f"t{n // 5}@c{lead}.edu",
                "source": "imap:INBOX", "source_uid": n + 1, "sha256": f"{n:064x}", "subject": f"Re: Hub {n}",
                "from_addr": f"contact{lead}@c{lead}.edu", "date": now - timedelta(minutes=n),
                "direction": "inbound", "sender_role": "lead_contact", "lead_id": str(lead + 1),
                "thread_ids": [f"m{n}@c{lead}.edu"], "participants": [f"contact{lead}@c{lead}.edu"],
                "raw": raw_message(n, f"c{lead}.edu") if review else None,
                "received_at": now - timedelta(minutes=n % 20000),
            })
            classes.append({"message_pk": n + 1, "intent": INTENTS[n % len(INTENTS)], "rule": "casual-yes",
                            "confidence": 0.5, "matched": ["let's do it"], "facts": {}, "explanation": ""})
        session.execute(insert(StoredMessage), rows)
        session.execute(insert(Classification), classes)
        session.execute(insert(ReviewItem), [{
            "key": f"review:{r['message_id']}", "message_id": r["message_id"], "thread_id": r["thread_id"],
            "lead_id": r["lead_id"], "intent": "service_confirmation", "reason": "confidence 0.50 is below 0.80",
            "proposed": _proposed(r["message_id"], r["lead_id"]), "created_at": now,
        } for r in rows if r["raw"] is not None])
        session.execute(insert(ActionRow), [{
            "key": f"forward:{r['message_id']}:x", "kind": "forward" if i % 2 else "set_status",
            "message_id": r["message_id"], "status": "done" if i % 50 else "failed",
            "payload": {"subject": f"[partnerships] {r['subject']}", "lead": r["lead_id"], "from": "Active Lead",
                        "to": "Needs Admin", "rule": "r"},
            "result": {"sent_to": f"/nonexistent/{i}.eml"}, "last_error": None if i % 50 else "refused",
            "attempts": 1, "created_at": now, "updated_at": now - timedelta(minutes=i),
            "next_attempt_at": now,
        } for i, r in enumerate(rows[: messages // 3])])
        session.execute(insert(LeadStatusChange), [{
            "lead_id": i % leads + 1, "old_status": "Active Lead", "new_status": "Needs Admin", "reason": "rule r",
            "action_key": f"status:{i}", "at": now} for i in range(leads * 2)])
        session.execute(insert(ManiacRow), [{
            "lead_id": str(i % leads + 1), "letter": LETTERS[i % len(LETTERS)], "rule": "r",
            "quote": f"We have a grant of ${i} for the course.", "detail": "", "message_id": f"m{i}@x",
            "date": now} for i in range(leads * 3)])
        session.execute(insert(Quarantined), [{
            "sha256": f"q{i}", "source": "imap:INBOX", "source_uid": i, "reason": "not an email", "size": 10,
            "created_at": now} for i in range(20)])
    accounts.set_password(runtime.sessions, "bench", hash_password("bench-password"))
    return "1"


def _config(state: Path) -> Config:
    """The embedded defaults without the example leads: the bench's own thousand are the table."""
    return replace(load_config(state_dir=state), leads_seed_csv=None)


def _proposed(message_id: str, lead: str) -> list[dict[str, object]]:
    return [
        {"kind": "set_status", "key": f"status:{message_id}", "payload": {"lead": lead, "from": "Active Lead",
                                                                          "to": "Needs Admin", "rule": "casual-yes"}},
        {"kind": "forward", "key": f"fw:{message_id}", "payload": {
            "lead": lead, "template": "forward_service_confirmation.txt.j2", "subject": "s", "message_id": message_id,
            "vars": {"intent": "service_confirmation", "intent_label": "Service confirmation", "community": "C",
                     "status_before": "Active Lead", "status_after": "Needs Admin", "tier": "medium", "price": "3000",
                     "month": None, "month_stated": False, "rule": "casual-yes", "matched": ["let's do it"],
                     "confidence": 0.5, "original_from": "a@b.c", "original_from_name": "A",
                     "original_date": None, "original_subject": "s", "original_message_id": message_id,
                     "attachments": [], "new_text": "Sounds good"}}},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        started = time.perf_counter()
        lead = build_state(state, args.leads, args.messages)
        print(f"state: {args.leads} leads, {args.messages} messages, built in {time.perf_counter() - started:.1f} s")
        runtime = open_runtime(_config(state))
        browser = TestClient(create_app(runtime, WebSettings()), base_url="https://desk.test")
        form = browser.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        browser.post("/login", data={"csrf": token, "username": "bench", "password": "bench-password"})
        print(f"{'page':28} {'median ms':>10} {'max ms':>8}  bytes")
        slowest = 0.0
        for path in (p.format(lead=lead) for p in PAGES):
            times = []
            for _ in range(args.repeat):
                begin = time.perf_counter()
                response = browser.get(path)
                times.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            slowest = max(slowest, statistics.median(times))
            print(f"{path:28} {statistics.median(times):10.1f} {max(times):8.1f}  {len(response.content)}")
        print(f"slowest median: {slowest:.1f} ms (goal < 200 ms)")


if __name__ == "__main__":
    main()
