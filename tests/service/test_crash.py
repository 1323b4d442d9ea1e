"""Crash safety: SIGKILL a replaying daemon 20 times (also inside its SMTP send); every action happens exactly once.

As in production, what the SMTP server accepts is delivered back into the mailbox the daemon reads (every
forward is Cc'd to partnerships@): that copy is how a send interrupted after the server took it is recognised.
"""

from __future__ import annotations

import json
import mailbox
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import raw_email
from servers import RecordingSMTPServer
from sqlalchemy import select

from daemon.leads.sqlite import SqliteLeadStore
from daemon.state.models import StoredMessage, make_sessions

pytestmark = pytest.mark.slow  # real servers and subprocesses; `make test` runs them

COMMUNITIES = 100  # five messages each: 500 in all
KILLS = 20
PARTNERSHIPS = Path(sys.executable).with_name("partnerships")


def community_messages(number: int) -> list[bytes]:
    domain = f"c{number}.edu"
    contact = f"Robin Doe{number} <robin{number}@{domain}>"
    auth = {"Authentication-Results": f"mx.google.com; dkim=pass header.d={domain}; spf=pass; "
                                      f"dmarc=pass (p=NONE) header.from={domain}"}
    start = datetime(2026, 9, 1, 9, 0, tzinfo=UTC) + timedelta(hours=number)
    subject = f"Managed hub for community {number}"

    def message(key: str, offset_days: int, **kwargs: object) -> bytes:
        return raw_email(message_id=f"{key}{number}@{domain}", date=start + timedelta(days=offset_days),
                         headers=auth, **kwargs)  # type: ignore[arg-type]

    return [
        message("first", 0, sender=contact, to="partnerships@2i2c.org", cc="", subject=subject,
                body="Hello, we're interested in a managed JupyterHub for our courses. Could you tell us more?\n"),
        message("reply", 1, sender="Sam Rivera <sam@2i2c.org>", to=contact, subject=f"Re: {subject}",
                in_reply_to=f"first{number}@{domain}", body="Thanks for reaching out! Our tiers are ...\n"),
        message("confirm", 2, sender=contact, to="sam@2i2c.org", subject=f"Re: {subject}",
                in_reply_to=f"reply{number}@{domain}",
                body="We would like to go ahead with the Small tier at $1,500 per month.\n"),
        message("call", 3, sender=contact, to="sam@2i2c.org", subject=f"Re: {subject}",
                in_reply_to=f"confirm{number}@{domain}", body="Can we schedule a call next week?\n"),
        message("affirm", 62, sender=contact, to="sam@2i2c.org",  # not To operations: that is not forwarded
                subject="Re: Certification of services for October 2026",
                body="I confirm that the services for October were delivered as expected.\n"),
    ]


def expected_forward_keys() -> set[str]:
    return {key for n in range(COMMUNITIES) for key in (
        f"forward:confirm{n}@c{n}.edu:service_confirmation", f"forward:affirm{n}@c{n}.edu:delivery_affirmation")}


@pytest.mark.parametrize("record_batch", [200, 7])
def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path: Path, record_batch: int) -> None:
    """Messages are recorded in transactions of `record_batch` messages: a kill lands inside a batch (200, most
    kills) or near its edge (7); the uncommitted messages are read again, never skipped nor acted on twice."""
    inbox = mailbox.Maildir(str(tmp_path / "inbox"))
    # Numbered names keep the arrival order (Maildir's own keys do not sort by time): since issue 15 a
    # community's first message may only create its lead, so a confirmation read before it waits in review.
    ordered = (data for number in range(COMMUNITIES) for data in community_messages(number))
    for position, data in enumerate(ordered):
        (tmp_path / "inbox" / "new" / f"{position:06d}.crash-test").write_bytes(data)
    smtp = RecordingSMTPServer().start()
    smtp.after_accept = lambda recorded: inbox.add(recorded.data)
    config = tmp_path / "partnerships.toml"
    config.write_text(f'[daemon]\nstate_dir = "state"\nretry_base_seconds = 0.1\nuncertain_grace_seconds = 0.5\n'
                      f'record_batch = {record_batch}\n'
                      f'[leads]\nseed_csv = ""\n[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      f'[send]\nkind = "smtp"\nhost = "127.0.0.1"\nport = {smtp.port}\ntls = "none"\n')
    command = [str(PARTNERSHIPS), "replay", str(tmp_path / "inbox"), "--config", str(config),
               "--log-level", "warning"]
    randomness = random.Random(20261123)
    kills = {"timer": 0, "inside send": 0}
    runs = 0
    try:
        while sum(kills.values()) < KILLS:
            runs += 1
            assert runs < 200, f"the daemon never got far enough to be killed 20 times ({kills})"
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if sum(kills.values()) % 3 == 1:
                smtp.before_accept = kill_once(process, kills)
            else:
                smtp.before_accept = None
                kill_after(process, randomness.uniform(0.5, 1.3), kills)
            _, err = process.communicate(timeout=120)
            assert process.returncode in (0, -signal.SIGKILL), err.decode()
            if process.returncode == 0 and not smtp.before_accept:
                break  # finished before the timer fired: nothing left to interrupt
        smtp.before_accept = None
        # Without kills: interrupted sends either find their copy or, after the grace period, go out again.
        for _ in range(15):
            final = subprocess.run(command, capture_output=True, timeout=300)
            assert final.returncode == 0, final.stderr.decode()
            if unfinished(config) == 0:
                break
            time.sleep(1)
    finally:
        smtp.stop()

    sent = Counter(message.message["X-Partnerships-Key"] for message in smtp.messages)
    duplicates = {key: count for key, count in sent.items() if count > 1}
    assert duplicates == {}, f"sent twice: {duplicates}"
    assert set(sent) == expected_forward_keys(), f"missing: {expected_forward_keys() - set(sent)}"
    leads = SqliteLeadStore(make_sessions(tmp_path / "state" / "partnerships.sqlite3")).all()
    assert len(leads) == COMMUNITIES == len({lead.name for lead in leads}), "a lead was created twice"
    # Confirmed, then October affirmed: the affirmation recorded the start (October 1), so each is running.
    assert {(lead.status, str(lead.service_start)) for lead in leads} == {("Active Service", "2026-10-01")}
    assert kills["inside send"] >= 5 and kills["timer"] >= 5, kills
    assert unfinished(config) == 0
    # Every message, once: one more pass reads the copies of the last sends, which arrived after the last pass.
    assert subprocess.run(command, capture_output=True, timeout=300).returncode == 0
    with make_sessions(tmp_path / "state" / "partnerships.sqlite3")() as session:
        recorded = session.scalars(select(StoredMessage.message_id)).all()
    assert len(recorded) == len(set(recorded)) == len(mailbox.Maildir(str(tmp_path / "inbox")))


def unfinished(config: Path) -> int:
    status = subprocess.run([str(PARTNERSHIPS), "status", "--json", "--config", str(config)], capture_output=True,
                            text=True, timeout=60)
    report = json.loads(status.stdout)
    return len(report["unfinished_actions"])  # pending, uncertain and failed actions


def kill_after(process: subprocess.Popen[bytes], seconds: float, kills: dict[str, int]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    if process.poll() is None:
        process.kill()
        kills["timer"] += 1


def kill_once(process: subprocess.Popen[bytes], kills: dict[str, int]):
    """Kill the daemon while the SMTP server holds its DATA: the message is not accepted."""
    fired = []

    def hook() -> str | None:
        if fired or process.poll() is not None:
            return None
        fired.append(True)
        os.kill(process.pid, signal.SIGKILL)
        kills["inside send"] += 1
        return "421 4.3.0 Connection lost"

    return hook
