"""What a forward note says: facts stated in the mail, a visible flag for a problem or question, and no second
copy for operations when the mail was already addressed to it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from factories import mbox_config, raw_email, run_cli

from daemon.runtime import load_config, open_runtime

LEADS = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
         "Westbrook University,Active Lead,maria@westbrook.edu,westbrook.edu,,,false,,\n"
         "Riverbend Lab,Active Service,kim@riverbend.edu,riverbend.edu,small,1500.00,false,2026-01-01,\n"
         "Ocean Alliance,Active Service,li@ocean.org,ocean.org,small,1500.00,false,2026-01-01,\n")


@pytest.fixture(scope="module")
def forwarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, email.message.EmailMessage]]:
    tmp_path = tmp_path_factory.mktemp("notes")
    mails = [
        raw_email(message_id="confirm@westbrook.edu", sender="Maria <maria@westbrook.edu>", subject="Re: Hub",
                  date=datetime(2026, 11, 3, 15, tzinfo=UTC),
                  body="We would like to go ahead with the Medium tier at $3,000 per month, starting December 1.\n"
                       "Please send invoices to ap@westbrook.edu.\n"),
        raw_email(message_id="affirm@riverbend.edu", sender="Kim <kim@riverbend.edu>",
                  subject="Re: Certification of services for October 2026", date=datetime(2026, 11, 4, tzinfo=UTC),
                  body="I confirm that the services for October were delivered as expected. The hub was very slow "
                       "on Friday though, could someone take a look?\n"),
        raw_email(message_id="affirm@ocean.org", sender="Li <li@ocean.org>", to="operations@codeforsociety.org",
                  subject="Re: Certification of services for October 2026", date=datetime(2026, 11, 4, tzinfo=UTC),
                  body="I confirm that the services for October were delivered as expected.\n"),
    ]
    config = mbox_config(tmp_path, mails, LEADS)
    code, out, _ = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "forwards written: 2" in out
    assert "not forwarded, operations received them directly (recorded as evidence): 1" in out
    notes = {}
    for path in (tmp_path / "state" / "outbox").glob("forward-*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        notes[str(message["References"]).strip("<>")] = message
    return config, notes


def note_of(message: email.message.EmailMessage) -> str:
    return message.get_payload()[0].get_content()


def test_stated_start_date_and_billing_contact_are_in_the_note(forwarded) -> None:
    _, notes = forwarded
    note = note_of(notes["confirm@westbrook.edu"])
    assert "Service start:  2026-12-01" in note
    assert "Billing contact: ap@westbrook.edu (stated in the email)" in note
    assert "**Service start date:** 2026-12-01" in unquote_plus(note)  # the pre-filled New Hub issue too
    assert "not known yet" not in unquote_plus(note)


def test_stated_facts_are_written_to_the_lead(forwarded) -> None:
    config, _ = forwarded
    runtime = open_runtime(load_config(config))
    westbrook = next(lead for lead in runtime.leads.all() if lead.name == "Westbrook University")
    assert westbrook.service_start is not None and westbrook.service_start.isoformat() == "2026-12-01"
    assert (westbrook.service_tier, str(westbrook.monthly_fee)) == ("medium", "3000")  # the confirmation's facts
    assert "partnerships-daemon: stated in <confirm@westbrook.edu>: " in westbrook.notes
    assert "service start 2026-12-01" in westbrook.notes and "billing contact ap@westbrook.edu" in westbrook.notes


def test_an_affirmation_with_a_question_is_flagged(forwarded) -> None:
    _, notes = forwarded
    note = note_of(notes["affirm@riverbend.edu"])
    assert ">>> FLAG: the sender also reports a problem or asks a question; please read it and reply:" in note
    assert '>>> "The hub was very slow on Friday though, could someone take a look?"' in note
    assert ">>> FLAG" not in note_of(notes["confirm@westbrook.edu"])


def test_a_mail_operations_already_has_is_recorded_not_forwarded(forwarded) -> None:
    config, notes = forwarded
    assert "affirm@ocean.org" not in notes
    runtime = open_runtime(load_config(config))
    ocean = next(lead for lead in runtime.leads.all() if lead.name == "Ocean Alliance")
    assert ("2026-11-04 partnerships-daemon: Delivery affirmation <affirm@ocean.org> recorded; not forwarded: "
            "operations received it directly") in ocean.notes
    code, out, _ = run_cli("invoice", "--month", "2026-10", "--dry-run", "--config", str(config))
    assert code == 0 and "Ocean Alliance" in out and "<affirm@ocean.org>" in out  # the affirmation counts for the batch
