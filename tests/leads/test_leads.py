"""The embedded SQLite lead store: idempotent create, status moves with history, notes, CSV seeding."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.core.lead import NewLead
from daemon.errors import ActionError, ConfigError
from daemon.leads.sqlite import SqliteLeadStore, read_leads_csv
from daemon.settings import PROJECT_ROOT
from daemon.state.models import make_sessions


@pytest.fixture
def store(tmp_path: Path) -> SqliteLeadStore:
    return SqliteLeadStore(make_sessions(tmp_path / "db.sqlite3"))


def test_create_is_idempotent_per_key(store: SqliteLeadStore) -> None:
    new = NewLead(name="westbrook.edu", contact_emails=("maria@westbrook.edu",), domain="westbrook.edu")
    first = store.create(new, key="create_lead:westbrook.edu")
    again = store.create(new, key="create_lead:westbrook.edu")
    assert first.id == again.id
    assert len(store.all()) == 1
    assert store.get(first.id).status == "Active Lead"


def test_status_moves_once_per_key_with_history(store: SqliteLeadStore) -> None:
    lead = store.create(NewLead(name="x", contact_emails=(), domain=None), key="k0")
    store.set_status(lead.id, "Needs Admin", reason="rule r", key="k1")
    store.set_status(lead.id, "Needs Admin", reason="rule r", key="k1")
    assert store.get(lead.id).status == "Needs Admin"
    history = [(h.old_status, h.new_status) for h in store.status_history(lead.id)]
    assert history == [(None, "Active Lead"), ("Active Lead", "Needs Admin")]


def test_bad_status_and_missing_lead_are_permanent_errors(store: SqliteLeadStore) -> None:
    lead = store.create(NewLead(name="x", contact_emails=(), domain=None), key="k0")
    with pytest.raises(ActionError) as caught:
        store.set_status(lead.id, "Maybe", reason="", key="k2")
    assert not caught.value.retryable
    with pytest.raises(ActionError, match="does not exist"):
        store.set_status("999", "Waiting", reason="", key="k3")


def test_notes_are_appended_once_per_key(store: SqliteLeadStore) -> None:
    lead = store.create(NewLead(name="x", contact_emails=(), domain=None), key="k0")
    store.append_note(lead.id, "2026-10-06 moved", key="k1")
    store.append_note(lead.id, "2026-10-06 moved", key="k1")
    assert store.get(lead.id).notes.count("moved") == 1


def test_seed_from_example_csv_only_into_empty_table(store: SqliteLeadStore) -> None:
    seeded = store.seed_from_csv(PROJECT_ROOT / "examples" / "leads.csv")
    assert seeded > 0 and len(store.all()) == seeded
    assert store.seed_from_csv(PROJECT_ROOT / "examples" / "leads.csv") == 0


def test_csv_errors_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text("name,status,contact_emails,domain,service_tier,monthly_fee,cloud_billing_managed,"
                    "service_start,notes\nA,Active Lead,a@a.org,a.org,small,12x,false,,\n")
    with pytest.raises(ConfigError, match=r"line 2: monthly_fee '12x'"):
        read_leads_csv(path)
    path.write_text("name,status\nA,Active Lead\n")
    with pytest.raises(ConfigError, match="missing column"):
        read_leads_csv(path)
