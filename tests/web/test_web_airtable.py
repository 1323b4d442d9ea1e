"""The web desk on the Airtable leads backend (local Airtable server): board, lead history from the outbox,
approving writes the move to Airtable, and a leads table that cannot be read gives a 503 page, not a traceback."""

from __future__ import annotations

from pathlib import Path

from airtable_server import BASE_ID, AirtableServer
from airtable_support import write_config
from factories import run_cli
from sqlalchemy import select
from webdesk import PASSWORDS, client, csrf_in, open_desk, sign_in

from daemon.settings import PROJECT_ROOT
from daemon.state.models import ReviewItem

HARBORVIEW = "t21m2.fe23@harborview-ocean.org"


def test_desk_on_airtable(tmp_path: Path, seeded_airtable: AirtableServer) -> None:
    config = write_config(tmp_path, seeded_airtable)
    code, _, err = run_cli("replay", str(PROJECT_ROOT / "examples" / "inbox.mbox"), "--config", str(config))
    assert code == 0, err
    runtime, app = open_desk(tmp_path / "state", config=config)
    browser = client(app)
    token = sign_in(browser, "alice")
    board = browser.get("/leads").text
    assert "Cascade Institute for Climate Research" in board
    cascade = next(lead for lead in runtime.leads.all() if lead.name == "Cascade Institute for Climate Research")
    assert cascade.id.startswith("rec")
    lead_page = browser.get(f"/leads/{cascade.id}").text
    assert "Active Lead → Needs Admin" in lead_page and "rule confirm-tier-at-price" in lead_page
    with runtime.sessions() as session:
        target = session.scalar(select(ReviewItem.id).where(ReviewItem.message_id == HARBORVIEW))
    assert browser.post(f"/review/{target}/approve", data={"csrf": token}).status_code == 303
    statuses = {r["fields"]["Community"]: r["fields"]["Status"] for r in seeded_airtable.records(BASE_ID, "Leads")}
    assert statuses["Harborview Institute of Oceanography"] == "Needs Admin"

    _, fresh = open_desk(tmp_path / "state", config=config)  # no leads read (nor cached) yet
    other = client(fresh)
    form = other.get("/login").text
    assert other.post("/login", data={"csrf": csrf_in(form), "username": "bob",
                                      "password": PASSWORDS["bob"]}).status_code == 303
    seeded_airtable.fail_next(403, count=50)
    failed = other.get("/leads")
    assert failed.status_code == 503 and "cannot show this page right now" in failed.text
    assert seeded_airtable.token not in failed.text and "Traceback" not in failed.text
