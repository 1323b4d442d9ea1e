"""The move to Active Service follows the service start recorded on the lead, whichever signal recorded it: the
start a confirmation states, operations' word that the hub is set up, or a first delivery affirmation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from factories import mbox_config, raw_email, run_cli

LEADS = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
         "Westbrook University,Active Lead,maria@westbrook.edu,westbrook.edu,,,false,,\n")


def replay(tmp_path: Path, *mails: bytes) -> dict[str, object]:
    config = mbox_config(tmp_path, list(mails), LEADS)
    code, _, err = run_cli("run", "--once", "--config", str(config))
    assert code == 0, err
    code, _, _ = run_cli("run", "--once", "--config", str(config))  # the next pass activates what is due
    assert code == 0
    [lead] = json.loads(run_cli("leads", "--json", "--config", str(config))[1])
    lead["shown"] = run_cli("lead", "show", "Westbrook University", "--config", str(config))[1]
    return lead


CONFIRMATION = dict(message_id="confirm@westbrook.edu", sender="Maria <maria@westbrook.edu>", subject="Re: Hub",
                    date=datetime(2026, 11, 3, 15, tzinfo=UTC))


def test_a_confirmation_writes_tier_fee_and_stated_start_and_the_lead_becomes_active_on_that_day(
        tmp_path: Path) -> None:
    lead = replay(tmp_path, raw_email(**CONFIRMATION, body="We would like to go ahead with the Medium tier at "
                                                            "$3,000 per month, starting November 16.\n"))
    assert (lead["status"], lead["tier"], lead["fee"], lead["service_start"]) == (
        "Active Service", "medium", "3000", "2026-11-16")
    assert "tier: medium   fee: 3000" in str(lead["shown"]) and "service start: 2026-11-16" in str(lead["shown"])
    assert "Needs Admin -> Active Service" in str(lead["shown"])


def test_operations_saying_the_hub_is_live_records_the_start(tmp_path: Path) -> None:
    confirmation = raw_email(**CONFIRMATION, body="We would like to go ahead with the Medium tier.\n")
    live = raw_email(message_id="live@codeforsociety.org", sender="Ops <ops@codeforsociety.org>",
                     to="maria@westbrook.edu", subject="Re: Hub", in_reply_to="confirm@westbrook.edu",
                     date=datetime(2026, 11, 20, 9, tzinfo=UTC), body="Hi Maria, your hub is now live.\n")
    lead = replay(tmp_path, confirmation, live)
    assert (lead["status"], lead["service_start"]) == ("Active Service", "2026-11-20")


def test_operations_saying_the_hub_will_be_ready_records_nothing(tmp_path: Path) -> None:
    confirmation = raw_email(**CONFIRMATION, body="We would like to go ahead with the Medium tier.\n")
    later = raw_email(message_id="soon@codeforsociety.org", sender="Ops <ops@codeforsociety.org>",
                      to="maria@westbrook.edu", subject="Re: Hub", in_reply_to="confirm@westbrook.edu",
                      date=datetime(2026, 11, 20, 9, tzinfo=UTC), body="Hi Maria, the hub will be ready next week.\n")
    lead = replay(tmp_path, confirmation, later)
    assert (lead["status"], lead["service_start"]) == ("Needs Admin", None)


def test_a_first_affirmation_of_a_service_being_set_up_records_its_month(tmp_path: Path) -> None:
    confirmation = raw_email(**CONFIRMATION, body="We would like to go ahead with the Medium tier.\n")
    affirmation = raw_email(message_id="affirm@westbrook.edu", sender="Maria <maria@westbrook.edu>",
                            subject="Certification of services for November 2026", in_reply_to="confirm@westbrook.edu",
                            date=datetime(2026, 11, 28, tzinfo=UTC),
                            body="I confirm that the services for November were delivered as expected.\n")
    lead = replay(tmp_path, confirmation, affirmation)
    assert (lead["status"], lead["service_start"]) == ("Active Service", "2026-11-01")
