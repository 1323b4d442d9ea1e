"""The local Airtable server behaves like Airtable's REST API for what the project uses, driven through pyairtable."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from airtable_server import BASE_ID, STATUS_CHOICES, AirtableServer, Formula, add_partnerships_base, lead_rows
from hypothesis import given
from hypothesis import strategies as st
from pyairtable import Api, Table
from pyairtable.formulas import AND, CONCATENATE, EQ, FIND, LOWER, NOT, OR, RECORD_ID, SEARCH, Field, match
from pyairtable.formulas import Formula as PyFormula

NO_LIMIT = 10_000


@pytest.fixture
def make_server() -> Iterator[Callable[..., AirtableServer]]:
    started: list[AirtableServer] = []

    def make(**kwargs: Any) -> AirtableServer:
        kwargs.setdefault("rate_limit", NO_LIMIT)
        server = AirtableServer(**kwargs).start()
        add_partnerships_base(server)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., AirtableServer]) -> AirtableServer:
    return make_server()


def api_for(server: AirtableServer, token: str | None = None) -> Api:
    return Api(server.token if token is None else token, endpoint_url=server.url, retry_strategy=None, timeout=(5, 5))


def leads(server: AirtableServer, token: str | None = None) -> Table:
    return api_for(server, token).table(BASE_ID, "Leads")


def error_of(call: Callable[[], object]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(requests.HTTPError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response.json()


def airtable_error(kind: str, message: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}} if message else {"error": {"type": kind}}


# --- listing ------------------------------------------------------------------------------------------------------


def test_pages_of_at_most_100_with_an_opaque_offset(server: AirtableServer) -> None:
    server.seed(BASE_ID, "Leads", lead_rows(250))
    table = leads(server)
    pages = list(table.iterate())
    assert [len(p) for p in pages] == [100, 100, 50]
    assert len(server.requests("GET")) == 3
    assert [len(p) for p in table.iterate(page_size=40)][:2] == [40, 40]
    names = [r["fields"]["Community"] for page in pages for r in page]
    assert names == [f"Community {n}" for n in range(250)]


def test_page_size_above_100_and_an_unknown_offset_are_refused(server: AirtableServer) -> None:
    table = leads(server)
    status, body = error_of(lambda: table.all(page_size=101))
    assert status == 422 and body["error"]["type"] == "INVALID_REQUEST_UNKNOWN"
    status, body = error_of(lambda: table.all(offset="itrNOPE/recNOPE"))
    assert (status, body["error"]["type"]) == (422, "LIST_RECORDS_ITERATOR_NOT_AVAILABLE")


def test_the_same_offset_twice_gives_the_same_page(server: AirtableServer) -> None:
    server.seed(BASE_ID, "Leads", lead_rows(150))
    api = api_for(server)
    url = api.table(BASE_ID, "Leads").urls.records
    first = api.get(url)
    again = [api.get(url, params={"offset": first["offset"]}) for _ in range(2)]
    assert again[0] == again[1] and len(again[0]["records"]) == 50 and "offset" not in again[0]


def test_fields_selection_and_empty_cells_left_out(server: AirtableServer) -> None:
    server.seed(BASE_ID, "Leads", [{"Community": "A", "Status": "Waiting", "Monthly fee": 0,
                                    "Cloud billing managed": False, "Notes": ""}])
    [record] = leads(server).all()
    assert record["fields"] == {"Community": "A", "Status": "Waiting", "Monthly fee": 0}
    [record] = leads(server).all(fields=["Status"])
    assert record["fields"] == {"Status": "Waiting"}
    status, body = error_of(lambda: leads(server).all(fields=["Contact Emails"]))
    assert (status, body) == (422, airtable_error("UNKNOWN_FIELD_NAME", 'Unknown field name: "Contact Emails"'))


TRICKY = ["o'brien@x.org", '"weird"@x.org', "back\\slash@x.org", "a\\'b@x.org", "new\nline", "{braces}", "x' & 'y"]


@pytest.mark.parametrize("formula, expected", [
    (match({"Status": "Waiting"}), ["B"]),
    (match({"Status": "Waiting", "Community": "B"}), ["B"]),
    (match({"Status": "Waiting", "Community": "A"}, match_any=True), ["A", "B"]),
    (NOT(EQ(Field("Status"), "Active Lead")), ["B"]),
    (AND(EQ(Field("Status"), "Active Lead"), FIND("ann@", Field("Contact emails"))), ["A", "C"]),
    (FIND("joann@x.org", Field("Contact emails")), ["C"]),
    (FIND("JOANN", Field("Contact emails")), []),  # FIND is case-sensitive ...
    (FIND("joann", LOWER(Field("Contact emails"))), ["C"]),
    (SEARCH("nobody", Field("Contact emails")), []),  # ... and SEARCH is blank when absent
    (FIND("[create_lead:b.org]", Field("Notes")), ["B"]),
    (EQ(Field("Notes"), ""), ["A", "C"]),
    (EQ(CONCATENATE(Field("Community"), "-", Field("Status")), "A-Active Lead"), ["A"]),
    (PyFormula("{Community} & '-' & {Status} = 'A-Active Lead'"), ["A"]),
    (EQ(EQ(Field("Status"), "Waiting"), 1), ["B"]),
])
def test_filter_by_formula_shapes(server: AirtableServer, formula: Any, expected: list[str]) -> None:
    server.seed(BASE_ID, "Leads", [
        {"Community": "A", "Status": "Active Lead", "Contact emails": "ann@x.org"},
        {"Community": "B", "Status": "Waiting", "Contact emails": "bob@x.org", "Notes": "x [create_lead:b.org]\n"},
        {"Community": "C", "Status": "Active Lead", "Contact emails": "joann@x.org"},
    ])
    found = leads(server).all(formula=formula)
    assert sorted(r["fields"]["Community"] for r in found) == expected


@pytest.mark.parametrize("value", TRICKY)
def test_escaped_values_match_exactly_through_http(server: AirtableServer, value: str) -> None:
    server.seed(BASE_ID, "Leads", [{"Community": value}, {"Community": value + "!"}])
    found = leads(server).all(formula=EQ(Field("Community"), value))
    assert [r["fields"]["Community"] for r in found] == [value]


@given(st.text(max_size=30))
def test_pyairtable_escaping_round_trips_through_the_parser(value: str) -> None:
    formula = Formula(str(EQ(Field("Notes"), value)), ["Notes"])
    assert formula.evaluate(lambda name: value) is True
    assert Formula(str(FIND(value + "]", Field("Notes"))), ["Notes"]).evaluate(lambda name: f"[{value}]") == 2


def test_record_id_lookup_and_a_long_formula_moves_to_post(server: AirtableServer) -> None:
    ids = server.seed(BASE_ID, "Leads", lead_rows(5))
    table = leads(server)
    two = OR(EQ(RECORD_ID(), ids[1]), EQ(RECORD_ID(), ids[3]))
    assert [r["id"] for r in table.all(formula=two)] == [ids[1], ids[3]]
    many = OR(*(EQ(RECORD_ID(), f"rec{n:014d}") for n in range(600)), EQ(RECORD_ID(), ids[4]))
    assert len(str(many)) > 16_000
    assert [r["id"] for r in table.all(formula=many)] == [ids[4]]
    assert server.requests("POST", path_suffix="/listRecords")


@pytest.mark.parametrize("formula, reason", [
    ("{Nope} = 'x'", "Unknown field names: nope"),
    ("DATEADD({Status}, 1, 'days')", "does not implement DATEADD()"),
    ("{Status} = ", "expected a value"),
    ("{Status} = 'unterminated", "cannot read the formula"),
])
def test_formulas_it_cannot_evaluate_are_refused(server: AirtableServer, formula: str, reason: str) -> None:
    status, body = error_of(lambda: leads(server).all(formula=formula))
    assert (status, body["error"]["type"]) == (422, "INVALID_FILTER_BY_FORMULA")
    assert reason in body["error"]["message"]


# --- writing ------------------------------------------------------------------------------------------------------


def test_create_and_update_take_at_most_10_records(server: AirtableServer) -> None:
    api, table = api_for(server), leads(server)
    status, body = error_of(lambda: api.post(table.urls.records, json={
        "records": [{"fields": {"Community": str(n)}} for n in range(11)]}))
    assert (status, body["error"]["type"]) == (422, "INVALID_RECORDS")
    created = table.batch_create([{"Community": str(n)} for n in range(11)])  # pyairtable sends 10 + 1
    assert len(created) == 11 and len(server.requests("POST")) == 3
    status, body = error_of(lambda: api.patch(table.urls.records, json={
        "records": [{"id": r["id"], "fields": {"Status": "Waiting"}} for r in created]}))
    assert (status, body["error"]["type"]) == (422, "INVALID_RECORDS")
    assert all("Status" not in r["fields"] for r in table.all())


def test_unknown_field_and_invalid_select_option_without_typecast(server: AirtableServer) -> None:
    table = leads(server)
    status, body = error_of(lambda: table.create({"Community": "A", "Contact Emails": "a@a.org"}))
    assert (status, body) == (422, airtable_error("UNKNOWN_FIELD_NAME", 'Unknown field name: "Contact Emails"'))
    status, body = error_of(lambda: table.create({"Community": "A", "Status": "Needs admin"}))
    message = 'Insufficient permissions to create new select option ""Needs admin""'
    assert (status, body) == (422, airtable_error("INVALID_MULTIPLE_CHOICE_OPTIONS", message))
    status, body = error_of(lambda: table.create({"Community": "A", "Monthly fee": "lots"}))
    assert (status, body["error"]["type"]) == (422, "INVALID_VALUE_FOR_COLUMN")
    assert table.all() == []


def test_typecast_adds_a_select_option_and_converts_values(server: AirtableServer) -> None:
    table = leads(server)
    record = table.create({"Community": "A", "Status": "Needs admin", "Monthly fee": "1500.50"}, typecast=True)
    assert record["fields"]["Monthly fee"] == 1500.5
    choices = [c.name for c in api_for(server).base(BASE_ID).schema().table("Leads").field("Status").options.choices]
    assert choices == [*STATUS_CHOICES, "Needs admin"]


def test_a_batch_is_applied_entirely_or_not_at_all(server: AirtableServer) -> None:
    ids = server.seed(BASE_ID, "Leads", lead_rows(3))
    server.delete_record(BASE_ID, "Leads", ids[1])
    table = leads(server)
    status, body = error_of(lambda: table.batch_update([{"id": i, "fields": {"Status": "Waiting"}} for i in ids]))
    assert (status, body) == (422, airtable_error("ROW_DOES_NOT_EXIST",
                                                  f"Record ID {ids[1]} does not exist in this table"))
    assert [r["fields"]["Status"] for r in table.all()] == ["Active Lead", "Active Lead"]
    status, body = error_of(lambda: table.update(ids[1], {"Status": "Waiting"}))
    assert (status, body["error"]["type"]) == (404, "NOT_FOUND")
    assert error_of(lambda: table.get(ids[1]))[0] == 404


def test_patch_merges_and_put_replaces(server: AirtableServer) -> None:
    [record_id] = server.seed(BASE_ID, "Leads", [{"Community": "A", "Domain": "a.org"}])
    table = leads(server)
    assert table.update(record_id, {"Status": "Waiting"})["fields"] == {"Community": "A", "Status": "Waiting",
                                                                        "Domain": "a.org"}
    assert table.update(record_id, {"Community": "B"}, replace=True)["fields"] == {"Community": "B"}


def test_links_must_name_existing_records(server: AirtableServer) -> None:
    [lead_id] = server.seed(BASE_ID, "Leads", lead_rows(1))
    hubs = api_for(server).table(BASE_ID, "Active Hubs")
    assert hubs.create({"Name": "hub", "Lead": [lead_id]})["fields"]["Lead"] == [lead_id]
    assert hubs.all(formula=EQ(Field("Lead"), "Community 0"))  # a link reads as the linked primary field
    status, body = error_of(lambda: hubs.create({"Name": "hub", "Lead": ["recMissing000000"]}))
    assert (status, body["error"]["type"]) == (422, "ROW_DOES_NOT_EXIST")


# --- tokens, limits, metadata, log ----------------------------------------------------------------------------------


def test_missing_or_wrong_token_401_and_a_token_without_access_403(make_server: Callable[..., AirtableServer]) -> None:
    server = make_server(forbidden_tokens=["pat-read-only"])
    assert error_of(lambda: leads(server, token="").all()) == (401, airtable_error("AUTHENTICATION_REQUIRED",
                                                                                   "Authentication required"))
    assert error_of(lambda: leads(server, token="pat-wrong").all())[0] == 401
    status, body = error_of(lambda: leads(server, token="pat-read-only").all())
    assert (status, body["error"]["type"]) == (403, "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND")
    assert error_of(lambda: api_for(server).table(BASE_ID, "Leadz").all())[0] == 403
    assert error_of(lambda: api_for(server).table("appNope", "Leads").all())[0] == 403


def test_more_than_5_requests_in_a_second_get_429_in_its_own_shape(make_server: Callable[..., AirtableServer]) -> None:
    server = make_server(rate_limit=5, retry_after=0.5)
    table = leads(server)
    for _ in range(5):
        table.all()
    with pytest.raises(requests.HTTPError) as caught:
        table.all()
    response = caught.value.response
    assert response.status_code == 429 and response.headers["Retry-After"] == "0.5"
    assert response.json() == {"errors": [{"error": "RATE_LIMIT_REACHED",
                                           "message": "Rate limit exceeded. Please try again later"}]}
    assert server.rate_limited == 1
    time.sleep(1.0)
    table.all()  # the window has rolled on
    assert len(server.requests(status=200)) == 6


def test_the_limit_is_per_base(make_server: Callable[..., AirtableServer]) -> None:
    server = make_server(rate_limit=2)
    add_partnerships_base(server, "appOtherBase00001")
    api = api_for(server)
    for base_id in (BASE_ID, BASE_ID, "appOtherBase00001", "appOtherBase00001"):
        api.table(base_id, "Leads").all()
    assert server.rate_limited == 0 and server.peak_rate() == 2


def test_metadata_gives_fields_select_options_and_links(server: AirtableServer) -> None:
    schema = api_for(server).base(BASE_ID).schema()
    leads_schema, hubs_schema = schema.table("Leads"), schema.table("Active Hubs")
    assert [f.name for f in leads_schema.fields][:3] == ["Community", "Status", "Contact emails"]
    assert [c.name for c in leads_schema.field("Status").options.choices] == list(STATUS_CHOICES)
    assert hubs_schema.field("Lead").options.linked_table_id == leads_schema.id
    assert leads(server).all() == []
    assert api_for(server).table(BASE_ID, leads_schema.id).all() == []  # tables answer to their id too


def test_renaming_a_field_keeps_the_data_under_the_new_name(server: AirtableServer) -> None:
    server.seed(BASE_ID, "Leads", lead_rows(1))
    server.rename_field(BASE_ID, "Leads", "Contact emails", "Contact e-mails")
    [record] = leads(server).all()
    assert record["fields"]["Contact e-mails"] == "contact-0@community-0.org"
    assert error_of(lambda: leads(server).all(fields=["Contact emails"]))[1]["error"]["type"] == "UNKNOWN_FIELD_NAME"


def test_injected_failures_and_the_request_log(server: AirtableServer) -> None:
    server.fail_next(503)
    assert error_of(lambda: leads(server).all()) == (503, airtable_error("SERVER_ERROR", "Injected failure"))
    leads(server).create({"Community": "A"})
    assert [(r.method, r.path, r.status) for r in server.requests()] == [
        ("GET", f"/v0/{BASE_ID}/Leads", 503), ("POST", f"/v0/{BASE_ID}/Leads", 200)]
    assert [r.method for r in server.writes()] == ["POST"]
