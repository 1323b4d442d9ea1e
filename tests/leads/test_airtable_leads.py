"""Both LeadStore backends behave alike; the Airtable one also pages, batches, paces, escapes and reports clearly."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airtable_server import BASE_ID, AirtableServer, add_partnerships_base, lead_rows
from airtable_support import config_for

from daemon.core.lead import Lead, NewLead
from daemon.errors import ActionError, ConfigError
from daemon.leads.airtable.cells import format_emails, parse_emails
from daemon.leads.airtable.client import AirtableError
from daemon.leads.airtable.schema import check_schema
from daemon.leads.airtable.settings import LeadFields, parse_airtable_config
from daemon.leads.airtable.store import AirtableLeadStore
from daemon.leads.base import LeadStore, StatusChange
from daemon.leads.sqlite import SqliteLeadStore
from daemon.state.models import make_sessions

ALL_TABLES = "Leads, Active Hubs, Cloud Spend, Invoices"


@pytest.fixture
def server() -> Iterator[AirtableServer]:
    with AirtableServer() as server:
        add_partnerships_base(server)
        yield server


def airtable_store(server: AirtableServer, tmp_path: Path, **changes: Any) -> AirtableLeadStore:
    return AirtableLeadStore(config_for(server, tmp_path, **changes))


@pytest.fixture(params=["sqlite", "airtable"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LeadStore:
    if request.param == "sqlite":
        return SqliteLeadStore(make_sessions(tmp_path / "db.sqlite3"))
    return airtable_store(request.getfixturevalue("server"), tmp_path)


def new_lead(name: str = "x", *contacts: str, domain: str | None = None) -> NewLead:
    return NewLead(name=name, contact_emails=contacts, domain=domain)


# --- the same behaviour on both backends ----------------------------------------------------------------------------


def test_create_is_idempotent_per_key(store: LeadStore) -> None:
    new = new_lead("westbrook.edu", "maria@westbrook.edu", domain="westbrook.edu")
    first = store.create(new, key="create_lead:westbrook.edu")
    again = store.create(new, key="create_lead:westbrook.edu")
    assert first.id == again.id
    assert len(store.all()) == 1
    lead = store.get(first.id)
    assert lead is not None and lead.status == "Active Lead"
    assert (lead.contact_emails, lead.domain) == (("maria@westbrook.edu",), "westbrook.edu")


def test_status_moves_once_per_key_with_history(store: LeadStore) -> None:
    lead = store.create(new_lead(), key="k0")
    store.set_status(lead.id, "Needs Admin", reason="rule r", key="k1")
    store.set_status(lead.id, "Needs Admin", reason="rule r", key="k1")
    assert store.get(lead.id).status == "Needs Admin"  # type: ignore[union-attr]
    history = [(h.old_status, h.new_status) for h in store.status_history(lead.id)]  # type: ignore[attr-defined]
    assert history == [(None, "Active Lead"), ("Active Lead", "Needs Admin")]


def test_bad_status_and_missing_lead_are_permanent_errors(store: LeadStore) -> None:
    lead = store.create(new_lead(), key="k0")
    with pytest.raises(ActionError) as caught:
        store.set_status(lead.id, "Maybe", reason="", key="k2")
    assert not caught.value.retryable
    with pytest.raises(ActionError, match="does not exist") as caught:
        store.set_status("999", "Waiting", reason="", key="k3")
    assert not caught.value.retryable
    assert store.get("999") is None


def test_a_contact_approved_by_a_person_is_added_once(store: LeadStore) -> None:
    lead = store.create(new_lead("x", "a@x.org"), key="k0")
    for _ in range(2):
        changed = store.add_contact(lead.id, "B@x.org", key="contact:1:b@x.org")
    assert changed.contact_emails == ("a@x.org", "b@x.org")
    stored = store.get(lead.id)
    assert stored is not None and stored.contact_emails == ("a@x.org", "b@x.org")
    assert stored.notes.count("contact b@x.org added (approved by a person)") == 1


def test_notes_are_appended_once_per_key(store: LeadStore) -> None:
    lead = store.create(new_lead(), key="k0")
    store.append_note(lead.id, "2026-10-06 moved", key="k1")
    store.append_note(lead.id, "2026-10-06 moved", key="k1")
    assert store.get(lead.id).notes.count("moved") == 1  # type: ignore[union-attr]


def test_a_status_move_and_its_note_with_one_key_leave_one_line(store: LeadStore) -> None:
    """What the executor does: set_status, then append_note with the same key."""
    lead = store.create(new_lead(), key="k0")
    store.set_status(lead.id, "Waiting", reason="rule waiting", key="status:m1:Waiting")
    store.append_note(lead.id, "2026-10-06 partnerships-daemon: Active Lead -> Waiting (rule waiting)",
                      key="status:m1:Waiting")
    notes = store.get(lead.id).notes  # type: ignore[union-attr]
    assert notes.count("[status:m1:Waiting]") == 1 and "Active Lead -> Waiting (rule waiting)" in notes


def test_addresses_with_quotes_survive_the_round_trip(store: LeadStore) -> None:
    lead = store.create(new_lead("q", "o'brien@x.org", '"weird"@x.org'), key="create_lead:x.org")
    [listed] = store.all()
    assert listed.contact_emails == lead.contact_emails == ("o'brien@x.org", '"weird"@x.org')


# --- Airtable: reading, batching, pacing ----------------------------------------------------------------------------


def test_250_leads_are_read_in_three_pages_of_mapped_fields(server: AirtableServer, tmp_path: Path) -> None:
    server.seed(BASE_ID, "Leads", lead_rows(250))
    store = airtable_store(server, tmp_path)
    leads = store.all()
    assert len(leads) == 250 and leads[7].contact_emails == ("contact-7@community-7.org",)
    lists = server.requests("GET")
    assert len(lists) <= 3 and all("fields%5B%5D=Community" in r.query for r in lists)
    store.get(leads[100].id)
    assert len(server.requests()) == len(lists)  # served from the cache


def test_cells_are_read_into_lead_values(server: AirtableServer, tmp_path: Path) -> None:
    server.seed(BASE_ID, "Leads", [{"Community": "Riverside", "Status": "Active Service",
                                    "Contact emails": "Ana Diaz <Ana@River.edu>; bo@river.edu\nana@river.edu",
                                    "Domain": "River.edu", "Service tier": "Medium", "Monthly fee": 3000.1,
                                    "Cloud billing managed": True, "Service start": "2026-11-01"}])
    [lead] = airtable_store(server, tmp_path).all()
    assert lead == Lead(id=lead.id, name="Riverside", status="Active Service", contact_emails=("ana@river.edu",
                        "bo@river.edu"), domain="river.edu", service_tier="medium", monthly_fee=Decimal("3000.1"),
                        cloud_billing_managed=True, service_start=lead.service_start, notes="")
    assert str(lead.service_start) == "2026-11-01"


def test_contact_emails_parse_and_format_consistently() -> None:
    addresses = ("o'brien@x.org", '"weird"@x.org', "a@b.org")
    assert parse_emails(format_emails(addresses)) == addresses
    assert parse_emails(" A@B.org ;\n\nc@d.org, a@b.org") == ("a@b.org", "c@d.org")


def test_a_burst_of_60_status_changes_is_batched_and_paced(server: AirtableServer, tmp_path: Path) -> None:
    ids = server.seed(BASE_ID, "Leads", lead_rows(60))
    store = airtable_store(server, tmp_path)
    store.all()
    changes = [StatusChange(f"status:m{n}:Needs Admin", lead_id, "Needs Admin", f"rule confirm on message <m{n}>")
               for n, lead_id in enumerate(ids)]
    outcomes = store.apply_status_changes(changes)
    assert all(isinstance(o, Lead) and o.status == "Needs Admin" for o in outcomes.values())
    assert len(server.requests("PATCH")) == 6
    assert server.rate_limited == 0 and server.peak_rate() <= 5
    for change in changes:
        record = server.record(BASE_ID, "Leads", change.lead_id)
        assert record is not None and f"({change.reason}) [{change.key}]" in record["fields"]["Notes"]
    assert store.apply_status_changes(changes) == outcomes and len(server.requests("PATCH")) == 6


def test_threads_share_the_limit_of_the_base(server: AirtableServer, tmp_path: Path) -> None:
    ids = server.seed(BASE_ID, "Leads", lead_rows(6))
    stores = [airtable_store(server, tmp_path) for _ in range(3)]
    failures: list[BaseException] = []

    def move(store: AirtableLeadStore, lead_ids: list[str]) -> None:
        try:
            for lead_id in lead_ids:
                store.set_status(lead_id, "Waiting", reason="rule waiting", key=f"k:{lead_id}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=move, args=(s, ids[n::3])) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert len(server.requests()) == 12  # a read and a write per lead: no cache was loaded
    assert server.rate_limited == 0 and server.peak_rate() <= 5


def test_429_is_waited_out_honouring_retry_after(tmp_path: Path) -> None:
    with AirtableServer(rate_limit=2, retry_after=0.3) as server:
        add_partnerships_base(server)
        ids = server.seed(BASE_ID, "Leads", lead_rows(4))
        store = airtable_store(server, tmp_path)
        for lead_id in ids:
            store.get(lead_id)
        assert server.rate_limited == store.stats.rate_limited > 0
        refused = next(r for r in server.requests() if r.status == 429)
        after = next(r for r in server.requests() if r.time > refused.time)
        assert after.time - refused.time >= 0.3
        assert store.stats.requests == len(server.requests())


def test_429_beyond_the_retries_5xx_and_timeouts_are_retryable(server: AirtableServer, tmp_path: Path) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    store = airtable_store(server, tmp_path, max_retries=2, timeout=0.3)
    store.all()
    for status, count, kind in ((429, 3, "RATE_LIMIT_REACHED"), (503, 1, "SERVER_ERROR")):
        server.fail_next(status, count=count, method="PATCH")  # max_retries=2: three 429s exhaust them
        with pytest.raises(AirtableError, match=kind) as caught:
            store.set_status(lead_id, "Waiting", reason="rule w", key="k1")
        assert caught.value.retryable and caught.value.status == status
    server.stall_next(0.6, method="PATCH")  # carried out by Airtable, but the answer comes too late
    with pytest.raises(AirtableError, match="did not answer in time") as caught:
        store.set_status(lead_id, "Waiting", reason="rule w", key="k1")
    assert caught.value.retryable
    patches = len(server.requests("PATCH"))
    assert store.set_status(lead_id, "Waiting", reason="rule w", key="k1").status == "Waiting"
    assert len(server.requests("PATCH")) == patches  # read again, found its marker: not written twice
    assert server.record(BASE_ID, "Leads", lead_id)["fields"]["Notes"].count("[k1]") == 1  # type: ignore[index]


def test_a_create_whose_answer_was_lost_is_found_by_its_key(server: AirtableServer, tmp_path: Path) -> None:
    store = airtable_store(server, tmp_path, timeout=0.3)
    server.stall_next(0.6, method="POST")
    with pytest.raises(AirtableError, match="did not answer in time") as caught:
        store.create(new_lead("w", "maria@westbrook.edu"), key="create_lead:westbrook.edu")
    assert caught.value.retryable
    lead = airtable_store(server, tmp_path).create(new_lead("w"), key="create_lead:westbrook.edu")
    assert len(server.records(BASE_ID, "Leads")) == 1 and lead.contact_emails == ("maria@westbrook.edu",)


def test_create_many_writes_10_per_request(server: AirtableServer, tmp_path: Path) -> None:
    store = airtable_store(server, tmp_path)
    wanted = {f"create_lead:c{n}.org": new_lead(f"c{n}", f"a@c{n}.org", domain=f"c{n}.org") for n in range(25)}
    created = store.create_many(wanted)
    assert len({lead.id for lead in created.values() if isinstance(lead, Lead)}) == 25
    assert len(server.requests("POST")) == 3
    assert store.create_many(wanted) == created and len(server.requests("POST")) == 3


def test_two_changes_to_one_lead_in_a_batch_apply_in_order(server: AirtableServer, tmp_path: Path) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    store = airtable_store(server, tmp_path)
    outcomes = store.apply_status_changes([StatusChange("k1", lead_id, "Needs Admin", "rule a"),
                                           StatusChange("k2", lead_id, "Active Service", "rule b")])
    assert [o.status for o in outcomes.values()] == ["Needs Admin", "Active Service"]  # type: ignore[union-attr]
    assert [(m.old_status, m.new_status) for m in store.status_history(lead_id)] == [
        ("Active Lead", "Needs Admin"), ("Needs Admin", "Active Service")]


def test_a_persons_edit_to_the_notes_is_kept(server: AirtableServer, tmp_path: Path) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    store = airtable_store(server, tmp_path, cache_seconds=0)
    store.all()
    server.set_cell(BASE_ID, "Leads", lead_id, "Notes", "Called them on Monday")
    store.set_status(lead_id, "Waiting", reason="rule waiting", key="k1")
    notes = server.record(BASE_ID, "Leads", lead_id)["fields"]["Notes"]  # type: ignore[index]
    assert notes.startswith("Called them on Monday\n") and notes.endswith("(rule waiting) [k1]\n")


# --- Airtable: escaping, deleted records, schema, tokens ------------------------------------------------------------


def test_a_deleted_record_is_a_permanent_error_with_airtables_message(server: AirtableServer, tmp_path: Path) -> None:
    ids = server.seed(BASE_ID, "Leads", lead_rows(10))
    store = airtable_store(server, tmp_path)
    store.all()
    server.delete_record(BASE_ID, "Leads", ids[3])
    outcomes = store.apply_status_changes([StatusChange(f"k{n}", i, "Waiting", "rule w") for n, i in enumerate(ids)])
    error = outcomes["k3"]
    assert isinstance(error, AirtableError) and not error.retryable
    assert f"ROW_DOES_NOT_EXIST: Record ID {ids[3]} does not exist in this table" in str(error)
    assert all(isinstance(o, Lead) for key, o in outcomes.items() if key != "k3")
    # The refused batch is halved until the deleted record stands alone: at most 1 + 2 per halving (a PATCH the
    # server's rate limit turned away, which a busy machine can cause, is sent again and does not count).
    answered = [r for r in server.requests("PATCH") if r.status != 429]
    assert len(answered) <= 9
    with pytest.raises(ActionError, match="does not exist") as caught:
        store.set_status(ids[3], "Waiting", reason="rule w", key="k3")
    assert not caught.value.retryable


def test_an_unknown_status_option_is_a_permanent_error(server: AirtableServer, tmp_path: Path) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    server.remove_choice(BASE_ID, "Leads", "Status", "Waiting")
    store = airtable_store(server, tmp_path)
    with pytest.raises(AirtableError, match="INVALID_MULTIPLE_CHOICE_OPTIONS") as caught:
        store.set_status(lead_id, "Waiting", reason="rule w", key="k1")
    assert not caught.value.retryable
    assert store.check_schema() == ["Leads table: field 'Status' has no option 'Waiting' (options are: Active Lead, "
                                    "Inactive Lead, Needs Admin, Active Service, Inactive Service)"]


def test_check_names_a_renamed_field_and_reading_fails_clearly(server: AirtableServer, tmp_path: Path) -> None:
    config = config_for(server, tmp_path)
    assert check_schema(config) == []
    server.rename_field(BASE_ID, "Leads", "Contact emails", "Contact e-mails")
    [problem] = check_schema(config)
    assert problem.startswith("Leads table: field 'Contact emails' is missing; did you mean 'Contact e-mails'?")
    with pytest.raises(AirtableError, match='UNKNOWN_FIELD_NAME: Unknown field name: "Contact emails"') as caught:
        AirtableLeadStore(config).all()
    assert not caught.value.retryable


def test_check_names_missing_tables_and_a_remapped_field(server: AirtableServer, tmp_path: Path) -> None:
    config = config_for(server, tmp_path, leads_table="Leadz", active_hubs_table="Hubs",
                        fields=LeadFields(domain="Website"))
    assert check_schema(config) == [
        f"base {BASE_ID}: table 'Leadz' is missing; did you mean 'Leads'? (tables are: {ALL_TABLES})",
        f"base {BASE_ID}: table 'Hubs' is missing (tables are: {ALL_TABLES})",
    ]
    [problem] = check_schema(config_for(server, tmp_path, fields=LeadFields(domain="Website")))
    assert problem.startswith("Leads table: field 'Website' is missing (fields are: Community, Status,")


def test_active_hub_is_created_once_per_key_and_linked(server: AirtableServer, tmp_path: Path) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    store = airtable_store(server, tmp_path)
    hub_id = store.add_active_hub(lead_id, "westbrook.2i2c.cloud", key="hub:westbrook")
    assert store.add_active_hub(lead_id, "westbrook.2i2c.cloud", key="hub:westbrook") == hub_id
    [hub] = server.records(BASE_ID, "Active Hubs")
    assert (hub["id"], hub["fields"]["Lead"], hub["fields"]["Name"]) == (hub_id, [lead_id], "westbrook.2i2c.cloud")


@pytest.mark.parametrize("token, status, says", [("pat-SECRET123", 401, "Airtable rejected the token"),
                                                  ("pat-SECRET123-read-only", 403, "Airtable refused access")])
def test_a_refused_token_is_permanent_and_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture, token: str,
                                                       status: int, says: str) -> None:
    caplog.set_level(logging.DEBUG)
    with AirtableServer(forbidden_tokens=["pat-SECRET123-read-only"]) as server:
        add_partnerships_base(server)
        config = config_for(server, tmp_path, token=token)
        store = AirtableLeadStore(config)
        with pytest.raises(AirtableError) as caught:
            store.all()
        problems = check_schema(config)
    error = caught.value
    assert (error.status, error.retryable) == (status, False) and says in str(error)
    assert says in problems[0]
    shown = ["".join(traceback.format_exception(error)), repr(store), repr(store.api), *problems]
    shown += [record.getMessage() for record in caplog.records]
    assert caplog.records and not any("SECRET123" in text for text in shown)


# --- configuration ----------------------------------------------------------------------------------------------


def test_config_defaults_and_overrides(tmp_path: Path) -> None:
    config = parse_airtable_config({"base_id": "appAbc123"}, tmp_path)
    assert (config.endpoint_url, config.leads_table, config.requests_per_second) == (
        "https://api.airtable.com", "Leads", 5)
    assert config.fields == LeadFields() and config.token.env == "PARTNERSHIPS_AIRTABLE_TOKEN"
    config = parse_airtable_config({"base_id": "appAbc123", "endpoint_url": "http://127.0.0.1:8080/",
                                    "token_file": "secrets/at", "fields": {"status": "Stage", "notes": "Log"}},
                                   tmp_path)
    assert config.endpoint_url == "http://127.0.0.1:8080" and config.token.file == tmp_path / "secrets" / "at"
    assert (config.fields.status, config.fields.notes, config.fields.domain) == ("Stage", "Log", "Domain")


@pytest.mark.parametrize("table, message", [
    ({"base_id": "appA1", "colour": "red"}, r"\[leads.airtable\] unknown key\(s\): colour"),
    ({"base_id": "appA1", "token": "pat-x"}, r"\[leads.airtable\] token: the token does not go into the config"),
    ({"base_id": "Leads"}, r"\[leads.airtable\] base_id: 'Leads' is not a base id"),
    ({"base_id": "appA1", "endpoint_url": "http://airtable.example.org"}, r"endpoint_url: plain http"),
    ({"base_id": "appA1", "requests_per_second": 10}, r"requests_per_second: 10 is not between 1 and 5"),
    ({"base_id": "appA1", "fields": {"stage": "Stage"}}, r"\[leads.airtable.fields\] unknown key\(s\): stage"),
    ({"base_id": "appA1", "fields": {"domain": "Notes"}}, r"notes: both name the column 'Notes'"),
    ({"base_id": "appA1", "token_file": "t", "token_env": "T"}, r"set one of them, not both"),
])
def test_config_errors_name_the_key(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_airtable_config(table, tmp_path)
