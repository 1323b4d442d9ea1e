"""End to end: `partnerships run --once` over examples/inbox.mbox gives exactly what examples/EXPECTED.md says."""

from __future__ import annotations

import contextlib
import email
import io
from email import policy
from pathlib import Path

import pytest
from factories import EXPECTED_STATUSES, bayside_has_ended, cascade_has_started
from sqlalchemy import select

from daemon.cli import main
from daemon.leads.sqlite import SqliteLeadStore
from daemon.runtime import load_config
from daemon.settings import PROJECT_ROOT, Config
from daemon.state.models import ActionRow, Evidence, ReviewItem, make_sessions

BAYSIDE_ENDED = bayside_has_ended()

# original Message-ID -> (subject, phrases the note must contain)
EXPECTED_FORWARDS = {
    "t01m5.2fb1@westbrook.edu": (
        "[partnerships] Service confirmation: Westbrook University - Re: Managed JupyterHub for our geoscience "
        "courses",
        ["NEW SERVICE for Westbrook University", "administrative", "Service tier:   Medium",
         "Price:          USD 3000 per month", "Active Lead -> Needs Admin"]),
    "t09m2.a34a@cascadeclimate.org": (
        "[partnerships] Service confirmation: Cascade Institute for Climate Research - "
        "RE: Hub service proposal for the Cascade Institute",
        ["NEW SERVICE for Cascade Institute for Climate Research", "Service tier:   Large",
         "Price:          USD 6000 per month"]),
}

# Replies addressed to operations itself: recorded as evidence, never forwarded to operations again.
OPERATIONS_HAD_THEM = ("t13m2.ac86@prairiestate.edu", "t11m2.cddb@riverbend.edu", "t12m2.3e37@oceandata-alliance.org",
                       "t23m2.e05d@ironwood-institute.org")

EXPECTED_REVIEWS = {
    "t17m2.8d79@summitstate.edu": "Active Service -> Inactive Lead is not an allowed move",
    "t18m2.ab62@redwoodcoast.edu": "confidence 0.50 is below 0.80",
    "t21m2.fe23@harborview-ocean.org": "sender grants@harborview-ocean.org is not a known contact",
}


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    state = tmp_path_factory.mktemp("state")
    return state, _run(state)


def _run(state: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "--once", "--state", str(state)]) == 0
    return out.getvalue()


def test_lead_statuses(replayed: tuple[Path, str]) -> None:
    state, _ = replayed
    leads = SqliteLeadStore(make_sessions(state / "partnerships.sqlite3")).all()
    assert {lead.name: lead.status for lead in leads} == EXPECTED_STATUSES
    westbrook = next(lead for lead in leads if lead.name == "Westbrook University")
    assert westbrook.contact_emails == ("emarsh@westbrook.edu",) and westbrook.domain == "westbrook.edu"
    assert "Active Lead -> Needs Admin (rule confirm-tier-at-price on message <t01m5.2fb1@westbrook.edu>)" in (
        westbrook.notes)


def test_forwards(replayed: tuple[Path, str]) -> None:
    state, _ = replayed
    files = sorted((state / "outbox").glob("*.eml"))
    forwards = {}
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        note, attached = message.get_payload()
        original = attached.get_payload()[0]
        forwards[original["Message-ID"].strip("<>")] = (message, note.get_content().replace("\r\n", "\n"), original)
    assert set(forwards) == set(EXPECTED_FORWARDS)
    for original_id, (subject, phrases) in EXPECTED_FORWARDS.items():
        message, note, original = forwards[original_id]
        assert message["To"] == "operations@codeforsociety.org"
        assert message["Cc"] == "partnerships@2i2c.org"
        assert message["Subject"] == subject
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["Message-ID"].endswith("@partnerships-daemon.invalid>")
        assert attached_content_type(message) == "message/rfc822"
        for phrase in phrases:
            assert phrase in note, (original_id, phrase, note)
    # Operations received these directly (To/Cc): evidence recorded, a note on the lead, no second copy.
    assert not set(OPERATIONS_HAD_THEM) & set(forwards)


def attached_content_type(message: email.message.EmailMessage) -> str:
    return message.get_payload()[1].get_content_type()


def test_review_items_and_evidence(replayed: tuple[Path, str]) -> None:
    state, _ = replayed
    sessions = make_sessions(state / "partnerships.sqlite3")
    with sessions() as session:
        reviews = {item.message_id: item for item in session.scalars(select(ReviewItem))}
        evidence = {(e.kind, e.message_id, e.month, e.month_stated) for e in session.scalars(select(Evidence))}
        waiting = [row.key for row in session.scalars(select(ActionRow).where(ActionRow.status != "done"))]
    assert set(reviews) == set(EXPECTED_REVIEWS)
    for message_id, reason in EXPECTED_REVIEWS.items():
        assert reason in reviews[message_id].reason
    # Issue 15: an authenticated stranger at the lead's domain becomes a contact only if a person approves.
    assert [a["kind"] for a in reviews["t21m2.fe23@harborview-ocean.org"].proposed] == [
        "add_contact", "set_status", "set_facts", "record_evidence", "forward"]
    assert evidence == {
        ("confirmation", "t01m5.2fb1@westbrook.edu", None, False),
        ("confirmation", "t09m2.a34a@cascadeclimate.org", None, False),
        ("contract", "t13m2.ac86@prairiestate.edu", None, False),
        ("affirmation", "t11m2.cddb@riverbend.edu", "2026-10", True),
        ("affirmation", "t12m2.3e37@oceandata-alliance.org", "2026-10", False),
        ("affirmation", "t23m2.e05d@ironwood-institute.org", "2026-10", True),
    } | ({("ended", "t16m1.318e@bayside-genomics.org", "2026-12", True)} if BAYSIDE_ENDED else set())
    # The end of Bayside's service is recorded for the invoice batch when it takes effect; until then it waits.
    assert waiting == ([] if BAYSIDE_ENDED else ["status:t16m1.318e@bayside-genomics.org:Inactive Service"])


def test_summary_printed(replayed: tuple[Path, str]) -> None:
    _, output = replayed
    assert "messages read: 63 (already seen: 0)" in output
    assert "forwards written: 2" in output
    assert "not forwarded, operations received them directly (recorded as evidence): 4" in output
    moves = 4 + BAYSIDE_ENDED + cascade_has_started()
    assert f"status changes: {moves}" in output and "leads created: 3" in output
    assert "review items: 3" in output and "quarantined: 0" in output


def test_rerun_writes_nothing_new(replayed: tuple[Path, str]) -> None:
    state, _ = replayed
    before = {p.name: p.read_bytes() for p in (state / "outbox").iterdir()}
    output = _run(state)
    assert "messages read: 63 (already seen: 63)" in output
    assert "forwards written: 0" in output
    # Cascade stated its start date (December 1), now on the lead: from that day on, a pass activates it once.
    moves = output.split("status changes: ", 1)[1].split("forwards written", 1)[0].splitlines()[1:]
    assert all(move.strip().startswith("status:activate:") for move in moves), moves
    assert "status changes: 0" in _run(state)
    assert {p.name: p.read_bytes() for p in (state / "outbox").iterdir()} == before


def test_example_config_matches_embedded_defaults() -> None:
    example, embedded = load_config(PROJECT_ROOT / "examples" / "partnerships.toml"), Config()
    for setting in ("tiers", "addresses", "trust", "digest", "handoff", "invoice_schedule", "min_confidence",
                    "max_attempts", "currency", "rules_dir", "templates_dir", "retry_base_seconds",
                    "uncertain_grace_seconds"):
        assert getattr(example, setting) == getattr(embedded, setting), setting
