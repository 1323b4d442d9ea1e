"""`lead edit` and `lead undo` for the sqlite backend and for Airtable (local Airtable server)."""

from __future__ import annotations

import json
from pathlib import Path

from airtable_server import BASE_ID, AirtableServer, add_partnerships_base
from airtable_support import write_config
from factories import run_cli

from daemon.runtime import load_config, open_runtime

LEADS = ("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n"
         "Westbrook University,Needs Admin,maria@westbrook.edu,westbrook.edu,,,false,,\n")


def sqlite_config(tmp_path: Path) -> Path:
    (tmp_path / "leads.csv").write_text(LEADS)
    (tmp_path / "inbox.mbox").write_bytes(b"")
    config = tmp_path / "c.toml"
    config.write_text('[trust]\nauthserv_ids = ["mx.google.com"]\n'
                      '[daemon]\nstate_dir = "state"\n[source]\npath = "inbox.mbox"\n[leads]\nseed_csv = "leads.csv"\n')
    return config


def edit_and_undo(config: Path) -> None:
    code, out, err = run_cli("lead", "edit", "Westbrook", "--tier", "Medium", "--fee", "3,000", "--start",
                             "2026-12-01", "--status", "Active Service", "--config", str(config))
    assert code == 0, err
    assert "Westbrook University  [Active Service]  tier: medium   fee: 3000" in out
    assert "service start: 2026-12-01" in out
    [lead] = [lead for lead in open_runtime(load_config(config)).leads.all() if lead.name == "Westbrook University"]
    assert "edited by" in lead.notes and "service tier medium, monthly fee 3000.00, service start 2026-12-01" in \
        lead.notes
    code, out, _ = run_cli("lead", "undo", "maria@westbrook.edu", "--config", str(config))
    assert code == 0 and "[Needs Admin]" in out
    code, out, _ = run_cli("lead", "show", "Westbrook University", "--config", str(config))
    assert "Active Service -> Needs Admin  undone by" in out
    code, _, err = run_cli("lead", "edit", "Westbrook", "--status", "Done", "--config", str(config))
    assert code == 2 and "--status 'Done' is not one of Active Lead" in err
    code, _, err = run_cli("lead", "edit", "Westbrook", "--fee", "lots", "--config", str(config))
    assert code == 2 and "--fee 'lots' is not an amount" in err


def test_lead_edit_and_undo_with_sqlite(tmp_path: Path) -> None:
    edit_and_undo(sqlite_config(tmp_path))
    rows = json.loads(run_cli("leads", "--json", "--config", str(tmp_path / "c.toml"))[1])
    assert (rows[0]["tier"], rows[0]["fee"]) == ("medium", "3000.00")


def test_lead_edit_and_undo_with_airtable(tmp_path: Path) -> None:
    with AirtableServer() as server:
        add_partnerships_base(server)
        server.seed(BASE_ID, "Leads", [{"Community": "Westbrook University", "Status": "Needs Admin",
                                        "Contact emails": "maria@westbrook.edu", "Domain": "westbrook.edu",
                                        "Notes": ""}])
        edit_and_undo(write_config(tmp_path, server))
        [record] = server.records(BASE_ID, "Leads")
        fields = record["fields"]
        assert (fields["Service tier"], fields["Monthly fee"], fields["Service start"]) == ("Medium", 3000.0,
                                                                                            "2026-12-01")
        assert fields["Status"] == "Needs Admin"
