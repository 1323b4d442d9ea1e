"""Check the team's base against the config: tables, fields, field types and status options present."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pyairtable import Api
from pyairtable.models.schema import BaseSchema, TableSchema

from daemon.core.lead import STATUSES
from daemon.leads.airtable.client import AirtableError, Caller, make_api
from daemon.leads.airtable.settings import AirtableConfig

log = logging.getLogger("daemon.leads.airtable")



def check_schema(config: AirtableConfig) -> list[str]:
    """Problems with the base for this config, each naming the table, field or status option; [] when all is fine."""
    token = config.token.resolve()
    return check_with(config, make_api(config, token=token), Caller(config, token))


def check_with(config: AirtableConfig, api: Api, call: Caller) -> list[str]:
    try:
        schema = call(f"read the schema of base {config.base_id}", lambda: api.base(config.base_id).schema())
    except AirtableError as error:
        return [str(error)]
    return schema_problems(schema, config)


def schema_problems(schema: BaseSchema, config: AirtableConfig) -> list[str]:
    problems: list[str] = []
    tables = {table.name: table for table in schema.tables}
    leads, hubs = (_table(tables, name, config.base_id, problems)
                   for name in (config.leads_table, config.active_hubs_table))
    if leads is not None:
        problems += _missing_fields(leads, config.fields.names())
        problems += _status_problems(leads, config.fields.status)
    if hubs is not None:
        problems += _missing_fields(hubs, config.hub_fields.names())
        problems += _link_problems(hubs, config.hub_fields.lead, leads)
    return problems


def _table(tables: Mapping[str, TableSchema], name: str, base_id: str, problems: list[str]) -> TableSchema | None:
    if name not in tables:
        problems.append(f"base {base_id}: table {name!r} is missing{_did_you_mean(name, tables)} "
                        f"(tables are: {', '.join(tables) or 'none'})")
    return tables.get(name)


def _did_you_mean(name: str, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _missing_fields(table: TableSchema, wanted: Iterable[str]) -> list[str]:
    present = [f.name for f in table.fields]
    return [f"{table.name} table: field {name!r} is missing{_did_you_mean(name, present)} "
            f"(fields are: {', '.join(present)})" for name in wanted if name not in present]


def _field_type(spec: Any) -> str:
    return str(getattr(spec.type, "value", spec.type))


def _status_problems(table: TableSchema, status_field: str) -> list[str]:
    spec = next((f for f in table.fields if f.name == status_field), None)
    if spec is None:
        return []
    if _field_type(spec) != "singleSelect":
        return [f"{table.name} table: field {status_field!r} is a {_field_type(spec)} field, expected a single select "
                f"with the options {', '.join(STATUSES)}"]
    options = [choice.name for choice in spec.options.choices]  # type: ignore[union-attr]
    missing = [status for status in STATUSES if status not in options]
    if not missing:
        return []
    return [f"{table.name} table: field {status_field!r} has no option {', '.join(repr(s) for s in missing)} "
            f"(options are: {', '.join(options) or 'none'})"]


def _link_problems(table: TableSchema, link_field: str, leads: TableSchema | None) -> list[str]:
    spec = next((f for f in table.fields if f.name == link_field), None)
    if spec is None or leads is None:
        return []
    if _field_type(spec) != "multipleRecordLinks":
        return [f"{table.name} table: field {link_field!r} is a {_field_type(spec)} field, expected a link to "
                f"the {leads.name} table"]
    if spec.options.linked_table_id != leads.id:  # type: ignore[union-attr]
        return [f"{table.name} table: field {link_field!r} links to another table, not to {leads.name}"]
    return []
