"""Shared helpers for the tests on the Airtable backend: settings and daemon configs pointing at the local
Airtable server (tests/airtable_server.py), and that server seeded with the example leads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airtable_server import BASE_ID, AirtableServer, add_partnerships_base

from daemon.leads.airtable.settings import AirtableConfig
from daemon.leads.sqlite import read_leads_csv
from daemon.settings import PROJECT_ROOT, SecretRef


def config_for(server: AirtableServer, tmp_path: Path, *, token: str | None = None, **changes: Any) -> AirtableConfig:
    token_file = tmp_path / "airtable-token"
    token_file.write_text((server.token if token is None else token) + "\n")
    changes.setdefault("backoff_seconds", 0.05)
    return AirtableConfig(token=SecretRef(key="[leads.airtable] token", file=token_file), base_id=BASE_ID,
                          endpoint_url=server.url, **changes)


def write_config(tmp_path: Path, server: AirtableServer) -> Path:
    (tmp_path / "airtable-token").write_text(server.token)
    path = tmp_path / "partnerships.toml"
    path.write_text(f"""
[daemon]
state_dir = "state"
[trust]
authserv_ids = ["mx.google.com"]
[leads]
backend = "airtable"
[leads.airtable]
base_id = "{BASE_ID}"
endpoint_url = "{server.url}"
token_file = "airtable-token"
backoff_seconds = 0.05
""")
    return path


def seeded_server() -> Iterator[AirtableServer]:
    with AirtableServer() as server:
        add_partnerships_base(server)
        rows = []
        for lead in read_leads_csv(PROJECT_ROOT / "examples" / "leads.csv"):
            row = {"Community": lead.name, "Status": lead.status, "Contact emails": ", ".join(lead.contact_emails),
                   "Domain": lead.domain or "", "Cloud billing managed": lead.cloud_billing_managed, "Notes": ""}
            if lead.service_tier:
                row["Service tier"] = lead.service_tier.title()
            if lead.monthly_fee is not None:
                row["Monthly fee"] = float(lead.monthly_fee)
            if lead.service_start:
                row["Service start"] = lead.service_start.isoformat()
            rows.append(row)
        server.seed(BASE_ID, "Leads", rows)
        server.clear_log()
        yield server
