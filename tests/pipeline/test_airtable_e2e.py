"""The example mailbox against the Airtable backend (local Airtable server): same outcome as with SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from airtable_server import BASE_ID, AirtableServer
from airtable_support import write_config
from factories import EXPECTED_STATUSES, bayside_has_ended, cascade_has_started, raw_email, run_cli

from daemon.runtime import load_config, open_runtime
from daemon.state.models import ActionRow


def test_example_mailbox_moves_the_same_statuses_in_airtable(tmp_path: Path, seeded_airtable: AirtableServer) -> None:
    config = write_config(tmp_path, seeded_airtable)
    code, out, err = run_cli("run", "--once", "--config", str(config), "--log-level", "warning")
    assert code == 0, err
    records = {r["fields"]["Community"]: r["fields"] for r in seeded_airtable.records(BASE_ID, "Leads")}
    assert {name: fields["Status"] for name, fields in records.items()} == EXPECTED_STATUSES
    assert "forwards written: 2" in out and f"status changes: {4 + bayside_has_ended() + cascade_has_started()}" in out
    notes = records["Cascade Institute for Climate Research"]["Notes"]
    assert "Active Lead -> Needs Admin (rule confirm-tier-at-price on message <t09m2.a34a@cascadeclimate.org>)" in notes
    full_reads = [r for r in seeded_airtable.requests("GET", path_suffix="/Leads") if "filterByFormula" not in r.query]
    assert len(full_reads) == 1  # one paginated read per cycle; creates look their key up with a formula
    assert seeded_airtable.rate_limited == 0 and seeded_airtable.peak_rate() <= 5
    # Cascade stated its start (December 1), now on the lead: from that day on a pass activates it, once.
    cascade = records["Cascade Institute for Climate Research"]
    assert cascade["Service start"] == "2026-12-01" and "stated in <t09m2.a34a@cascadeclimate.org>" in cascade["Notes"]
    run_cli("run", "--once", "--config", str(config), "--log-level", "warning")
    again = run_cli("run", "--once", "--config", str(config), "--log-level", "warning")
    assert again[0] == 0 and "status changes: 0" in again[1]
    records = seeded_airtable.records(BASE_ID, "Leads")
    assert {r["fields"]["Community"]: r["fields"]["Status"] for r in records} == EXPECTED_STATUSES


def test_check_reports_a_renamed_field(tmp_path: Path, seeded_airtable: AirtableServer) -> None:
    config = write_config(tmp_path, seeded_airtable)
    assert run_cli("check", "--config", str(config))[0] == 0
    seeded_airtable.rename_field(BASE_ID, "Leads", "Status", "Stage")
    code, out, _ = run_cli("check", "--config", str(config))
    assert code == 2 and "'Status'" in out


def test_a_change_the_table_refuses_becomes_a_review_item(tmp_path: Path, seeded_airtable: AirtableServer) -> None:
    config = load_config(write_config(tmp_path, seeded_airtable))
    runtime = open_runtime(config)
    cascade = next(lead for lead in runtime.leads.all() if lead.name == "Cascade Institute for Climate Research")
    seeded_airtable.delete_record(BASE_ID, "Leads", cascade.id)
    with runtime.sessions.begin() as session:
        session.add(ActionRow(key="status:x@y:Waiting", kind="set_status", message_id="x@y", payload={
            "lead": cascade.id, "lead_name": cascade.name, "from": "Active Lead", "to": "Waiting",
            "rule": "funding-pending", "message_id": "x@y", "date": None}))
    [outcome] = runtime.executor.run_pending()
    assert outcome.status == "failed" and "does not exist" in outcome.detail
    code, listing, _ = run_cli("review", "list", "--json", "--config", str(config.source_file))
    assert code == 0
    [item] = [i for i in json.loads(listing) if i["intent"] == "set_status"]
    assert "refused by the leads table" in item["reason"] and "does not exist" in item["reason"]
    assert item["proposed"] == [{"kind": "set_status", "key": "status:x@y:Waiting"}]


def test_backlog_of_new_leads_and_moves_is_written_ten_records_per_request(tmp_path: Path,
                                                                           seeded_airtable: AirtableServer) -> None:
    runtime = open_runtime(load_config(write_config(tmp_path, seeded_airtable)))
    with runtime.sessions.begin() as session:
        for number in range(25):  # e.g. after an Airtable outage: 25 new communities, each confirmed
            create = f"create_lead:c{number}.edu"
            session.add(ActionRow(key=create, kind="create_lead", message_id=None, payload={
                "name": f"c{number}.edu", "contact_emails": [f"a@c{number}.edu"], "domain": f"c{number}.edu",
                "status": "Active Lead"}))
            session.add(ActionRow(key=f"status:m{number}:Needs Admin", kind="set_status", message_id=None, payload={
                "lead": f"new:{create}", "lead_name": f"c{number}.edu", "from": "Active Lead", "to": "Needs Admin",
                "rule": "confirm-tier", "message_id": f"m{number}@c{number}.edu", "date": None}))
    seeded_airtable.clear_log()
    outcomes = runtime.executor.run_pending()
    assert [o.status for o in outcomes].count("done") == 50
    assert len(seeded_airtable.requests("POST", path_suffix="/Leads")) == 3  # ceil(25 / 10)
    assert len(seeded_airtable.requests("PATCH", path_suffix="/Leads")) == 3
    statuses = {r["fields"]["Community"]: r["fields"]["Status"] for r in seeded_airtable.records(BASE_ID, "Leads")}
    assert all(statuses[f"c{n}.edu"] == "Needs Admin" for n in range(25))
    assert runtime.executor.run_pending() == []  # nothing twice


def test_invoice_batch_records_lines_and_a_later_affirmation_marks_its_line(tmp_path: Path,
                                                                            seeded_airtable: AirtableServer) -> None:
    seeded_airtable.seed(BASE_ID, "Cloud Spend", [
        {"Community": "Riverbend University Hydrology Lab", "Month": "2026-10", "Amount": 1284.37, "Currency": "USD"},
        {"Community": "Riverbend University Hydrology Lab", "Month": "2026-09", "Amount": 999, "Currency": "USD"},
        {"Community": "Summit State University Neuroscience", "Month": "2026-10", "Amount": 742.6, "Currency": "USD"}])
    config_path = write_config(tmp_path, seeded_airtable)
    assert run_cli("run", "--once", "--config", str(config_path), "--log-level", "warning")[0] == 0
    code, out, err = run_cli("invoice", "--month", "2026-10", "--config", str(config_path))
    assert code == 0 and "sent the batch for 2026-10" in out, err
    [sent] = (tmp_path / "state" / "outbox").glob("invoice-*.eml")
    assert b"4,284.37" in sent.read_bytes()  # October's spend from the Cloud Spend table, not September's
    lines = {r["fields"]["Name"]: r["fields"] for r in seeded_airtable.records(BASE_ID, "Invoices")}
    # Four Active Services and Bayside, whose service ended in November (after October: still billed).
    assert len(lines) == 5 and {line["Status"] for line in lines.values()} == {"Pending certification"}
    # Summit State affirms October after the batch went out
    mbox = tmp_path / "late.mbox"
    affirmation = raw_email(message_id="late1@summitstate.edu", sender="Omar Haddad <ohaddad@summitstate.edu>",
                            to="operations@codeforsociety.org",
                            subject="Re: Certification of services for October 2026",
                            body="I confirm that the services for October were delivered as expected.\n")
    mbox.write_bytes(b"From x Mon Nov  9 00:00:00 2026\n" + affirmation)
    assert run_cli("replay", str(mbox), "--config", str(config_path), "--log-level", "warning")[0] == 0
    statuses = {r["fields"]["Name"]: r["fields"]["Status"] for r in seeded_airtable.records(BASE_ID, "Invoices")}
    affirmed = [name for name, status in statuses.items() if status == "Affirmed"]
    assert len(affirmed) == 1 and "Summit State" in affirmed[0]
    assert run_cli("check", "--config", str(config_path))[0] == 0
