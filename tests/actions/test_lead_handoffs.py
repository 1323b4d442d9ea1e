"""Lead qualification and hand-offs wired in: MANIAC-T evidence per lead, `lead show`, the new-hub issue link
in the confirmation forward, and the Active Hubs record once a service starts."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from factories import raw_email, run_cli

from daemon.runtime import load_config, open_runtime
from daemon.settings import Config


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("handoffs") / "state"
    assert run_cli("run", "--once", "--state", str(directory))[0] == 0
    return directory


def test_confirmation_forward_links_the_prefilled_new_hub_issue(state: Path) -> None:
    for path in (state / "outbox").glob("forward-*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if "Cascade Institute" in message["Subject"] and "confirmation" in message["Subject"]:
            note = message.get_payload()[0].get_content()
            break
    else:
        raise AssertionError("no confirmation forward for Cascade")
    url = next(line.strip() for line in note.splitlines() if line.strip().startswith("https://github.com/"))
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/2i2c-org/infrastructure/issues/new"
    assert query["template"] == ["3_new_hub-request-info.yaml"]
    assert query["title"] == ["[Request Information] New Hub: Cascade Institute for Climate Research"]
    assert "Large" in query["body"][0] or "large" in query["body"][0]
    assert "mthompson@cascadeclimate.org" in query["body"][0]
    assert len(url) <= 8000


def test_maniac_checklist_in_notes_and_lead_show(state: Path) -> None:
    leads = {lead.name: lead for lead in open_runtime(Config(state_dir=state)).leads.all()}
    notes = leads["Sonoran Desert Research Consortium"].notes
    assert notes.count("MANIAC-T") == 1 and "$480,000" in notes
    code, out, _ = run_cli("lead", "show", "lnavarro@sonoran-research.org", "--state", str(state))
    assert code == 0
    assert out.startswith("Sonoran Desert Research Consortium  [Waiting]")
    assert "Active Lead -> Waiting  rule funding-pending" in out
    assert "Next steps for the Sonoran hub" in out
    assert "NSF CyberTraining" in out and "still unknown" in out
    assert run_cli("lead", "show", "nobody-matches-this", "--state", str(state))[0] == 2


def test_team_messages_are_not_evidence(state: Path) -> None:
    code, out, _ = run_cli("lead", "show", "Redwood Coast Community College", "--state", str(state))
    # Sam's offer names the Small tier at $1,500: that is our price, not the community's budget
    assert code == 0 and "$1,500" not in out


def test_active_hub_recorded_once_when_the_service_starts(tmp_path: Path) -> None:
    csv = tmp_path / "leads.csv"
    csv.write_text("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,service_start,"
                   "notes\nNorth Lab,Needs Admin,kim@north.edu,north.edu,small,1500.00,false,2026-01-05,\n")
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(b"From x Mon Jan  5 00:00:00 2026\n" + raw_email(sender="Kim <kim@north.edu>", body="Thanks!"))
    config = tmp_path / "c.toml"
    config.write_text(f'[daemon]\nstate_dir = "state"\n[source]\npath = "{mbox}"\n[leads]\nseed_csv = "{csv}"\n'
                      '[trust]\nauthserv_ids = ["mx.google.com"]\n')
    for _ in range(2):  # a restart does not add a second record
        assert run_cli("run", "--once", "--config", str(config))[0] == 0
    runtime = open_runtime(load_config(config))  # the state belongs to this config
    [lead] = runtime.leads.all()
    assert lead.status == "Active Service"
    assert [(hub.lead_id, hub.name) for hub in runtime.leads.active_hubs()] == [(int(lead.id), "North Lab")]
