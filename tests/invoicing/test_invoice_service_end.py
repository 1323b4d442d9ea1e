"""A service that ends on a stated date: the status moves on that date (a scheduled action) and the fee of every
month it ran in stays in the batch."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from factories import mbox_config, raw_email, run_cli

from daemon.runtime import load_config, open_runtime

LEADS = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
         "Bayside Genomics,Active Service,gliu@bayside.org,bayside.org,large,6000.00,false,2026-01-01,\n")


def setup(tmp_path: Path) -> Path:
    # Not DMARC-verified, so it waits in review; approving it schedules the move for the stated date.
    mail = raw_email(message_id="end1@bayside.org", sender="Grace Liu <gliu@bayside.org>",
                     subject="Hub service", authenticated=False, date=datetime(2026, 11, 10, 19, 30),
                     body="Our grant has run out, so our hub service ends on December 31. Thanks for everything!\n")
    return mbox_config(tmp_path, [mail], LEADS, from_line=b"From x Tue Nov 10 19:30:00 2026")


def lead_status(config: Path) -> str:
    return json.loads(run_cli("leads", "--json", "--config", str(config))[1])[0]["status"]


def test_service_end_moves_on_the_stated_date_and_its_months_stay_billed(tmp_path: Path) -> None:
    config = setup(tmp_path)
    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    listing = json.loads(run_cli("review", "list", "--json", "--config", str(config))[1])
    [item] = listing
    assert item["intent"] == "service_ended"
    code, out, _ = run_cli("review", "approve", str(item["id"]), "--config", str(config))
    assert code == 0
    assert ("scheduled: set_status status:end1@bayside.org:Inactive Service scheduled: takes effect on the stated "
            "end date 2026-12-31") in out
    assert lead_status(config) == "Active Service"  # today (machine clock) is before December 31
    [pending] = json.loads(run_cli("actions", "list", "--json", "--config", str(config))[1])
    assert pending["status"] == "pending"
    assert pending["last_error"] == "scheduled: takes effect on the stated end date 2026-12-31"

    code, out, _ = run_cli("invoice", "--month", "2026-11", "--dry-run", "--config", str(config))
    assert "Bayside Genomics" in out and "6,000.00" in out

    # The date comes: the same executor, its clock at January 1st.
    runtime = open_runtime(load_config(config))
    runtime.executor.clock = lambda: datetime(2027, 1, 1, 0, 5)
    [outcome] = [o for o in runtime.executor.run_pending() if o.kind == "set_status"]
    assert outcome.status == "done"
    assert lead_status(config) == "Inactive Service"
    code, out, _ = run_cli("invoice", "--month", "2026-12", "--dry-run", "--config", str(config))
    assert "Bayside Genomics" in out and "service ended 2026-12-31; billed for 2026-12" in out
    code, out, _ = run_cli("invoice", "--month", "2027-01", "--dry-run", "--config", str(config))
    assert "Bayside Genomics" not in out


def test_automatic_service_end_waits_for_the_stated_date(tmp_path: Path) -> None:
    """A known contact's DMARC-verified mail is carried out without review and its bytes are not kept: the end
    date comes from the decision itself. The mail is dated far ahead so the machine clock stays before it."""
    mail = raw_email(message_id="end2@bayside.org", sender="Grace Liu <gliu@bayside.org>", subject="Hub service",
                     date=datetime(2099, 11, 10, 19, 30),
                     body="Our grant has run out, so our hub service ends on December 31. Thanks for everything!\n")
    config = mbox_config(tmp_path, [mail], LEADS, from_line=b"From x Tue Nov 10 19:30:00 2099")

    assert run_cli("run", "--once", "--config", str(config))[0] == 0
    assert json.loads(run_cli("review", "list", "--json", "--config", str(config))[1]) == []
    assert lead_status(config) == "Active Service"
    [pending] = json.loads(run_cli("actions", "list", "--json", "--config", str(config))[1])
    assert pending["status"] == "pending"
    assert pending["last_error"] == "scheduled: takes effect on the stated end date 2099-12-31"
    code, out, _ = run_cli("invoice", "--month", "2099-11", "--dry-run", "--config", str(config))
    assert code == 0 and "Bayside Genomics" in out and "6,000.00" in out

    runtime = open_runtime(load_config(config))
    runtime.executor.clock = lambda: datetime(2099, 12, 30, 23, 55)
    assert [o.status for o in runtime.executor.run_pending()] == []  # not due before the day
    assert lead_status(config) == "Active Service"
    runtime.executor.clock = lambda: datetime(2099, 12, 31, 0, 5)
    [outcome] = [o for o in runtime.executor.run_pending() if o.kind == "set_status"]
    assert outcome.status == "done"
    assert lead_status(config) == "Inactive Service"
    code, out, _ = run_cli("invoice", "--month", "2099-12", "--dry-run", "--config", str(config))
    assert code == 0 and "Bayside Genomics" in out and "service ended 2099-12-31; billed for 2099-12" in out
    code, out, _ = run_cli("invoice", "--month", "2100-01", "--dry-run", "--config", str(config))
    assert code == 0 and "Bayside Genomics" not in out
