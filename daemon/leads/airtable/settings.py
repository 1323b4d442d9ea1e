"""The [leads.airtable] section: base, token, table and column names, pacing limits."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from daemon.errors import ConfigError
from daemon.settings import LOOPBACK_HOSTS, SecretRef, Section, credential_path

log = logging.getLogger("daemon.leads.airtable")

SECTION = "leads.airtable"
DEFAULT_ENDPOINT = "https://api.airtable.com"
DEFAULT_TOKEN_ENV = "PARTNERSHIPS_AIRTABLE_TOKEN"
AIRTABLE_RATE_LIMIT = 5  # requests per second per base
_BASE_ID = re.compile(r"app[A-Za-z0-9]+")


# --- configuration ------------------------------------------------------------------------------------------------


def column_names(names: Any) -> list[str]:
    """The column names a dataclass of field names holds, in its order."""
    return [getattr(names, f.name) for f in fields(names)]


@dataclass(frozen=True)
class LeadFields:
    """The team's column name for each Lead attribute: theirs to choose, so configurable."""

    name: str = "Community"
    status: str = "Status"
    contact_emails: str = "Contact emails"
    domain: str = "Domain"
    service_tier: str = "Service tier"
    monthly_fee: str = "Monthly fee"
    cloud_billing_managed: str = "Cloud billing managed"
    service_start: str = "Service start"
    notes: str = "Notes"

    def names(self) -> list[str]:
        return column_names(self)


@dataclass(frozen=True)
class HubFields:
    """Columns of the Active Hubs table: the hub's name, the link to its lead, and notes (holding the key marker)."""

    name: str = "Name"
    lead: str = "Lead"
    notes: str = "Notes"

    def names(self) -> list[str]:
        return [getattr(self, f.name) for f in fields(self)]


@dataclass(frozen=True, kw_only=True)
class AirtableConfig:
    token: SecretRef
    base_id: str
    endpoint_url: str = DEFAULT_ENDPOINT
    leads_table: str = "Leads"
    active_hubs_table: str = "Active Hubs"
    fields: LeadFields = field(default_factory=LeadFields)
    hub_fields: HubFields = field(default_factory=HubFields)
    requests_per_second: int = AIRTABLE_RATE_LIMIT
    timeout: float = 30.0  # seconds to wait for an answer
    connect_timeout: float = 10.0
    max_retries: int = 5  # 429 answers waited out before the action is left for the outbox to retry
    backoff_seconds: float = 1.0  # first wait after a 429 without Retry-After; doubles, at most 30 s
    # A cached lead older than this is read again before its Notes are rewritten, so a person's edit made since is kept.
    cache_seconds: float = 60.0


def parse_airtable_config(table: Mapping[str, Any], base: Path) -> AirtableConfig:
    """Validate a [leads.airtable] table; `base` resolves a relative token_file. Errors name `[leads.airtable] key`."""
    section = Section(SECTION, table)
    if "token" in section.data:
        raise ConfigError(f"[{SECTION}] token: the token does not go into the config file; use token_file "
                          f"(a file or systemd credential) or token_env (default {DEFAULT_TOKEN_ENV})")
    base_id = section.take("base_id", str, "")
    if not _BASE_ID.fullmatch(base_id):
        raise ConfigError(f"[{SECTION}] base_id: {base_id!r} is not a base id; copy the app... part of the base's URL")
    token_file = section.take("token_file", str, None)
    if token_file and "token_env" in section.data:
        raise ConfigError(f"[{SECTION}] token_file and token_env: set one of them, not both")
    token_env = section.take("token_env", str, DEFAULT_TOKEN_ENV)
    token = SecretRef(key=f"[{SECTION}] token", file=credential_path(base, token_file),
                      env=None if token_file else token_env)
    defaults = AirtableConfig(token=token, base_id=base_id)
    config = AirtableConfig(
        token=token,
        base_id=base_id,
        endpoint_url=_endpoint(section.take("endpoint_url", str, defaults.endpoint_url)),
        leads_table=_name(section, "leads_table", defaults.leads_table),
        active_hubs_table=_name(section, "active_hubs_table", defaults.active_hubs_table),
        fields=_field_names(section.data.pop("fields", {}), f"{SECTION}.fields", LeadFields),
        hub_fields=_field_names(section.data.pop("hub_fields", {}), f"{SECTION}.hub_fields", HubFields),
        requests_per_second=_bounded(section, "requests_per_second", int, defaults.requests_per_second,
                                     1, AIRTABLE_RATE_LIMIT, "Airtable allows 5 requests per second per base"),
        timeout=_bounded(section, "timeout", float, defaults.timeout, 0.1, 600, "seconds"),
        connect_timeout=_bounded(section, "connect_timeout", float, defaults.connect_timeout, 0.1, 600, "seconds"),
        max_retries=_bounded(section, "max_retries", int, defaults.max_retries, 0, 20, "429 answers waited out"),
        backoff_seconds=_bounded(section, "backoff_seconds", float, defaults.backoff_seconds, 0, 60, "seconds"),
        cache_seconds=_bounded(section, "cache_seconds", float, defaults.cache_seconds, 0, 86400, "seconds"),
    )
    section.finish()
    return config


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"[{SECTION}] endpoint_url: {url!r} is not an http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(f"[{SECTION}] endpoint_url: plain http would send the token in clear; use https "
                          f"(http only for {', '.join(LOOPBACK_HOSTS)})")
    return url.rstrip("/")


def _name(section: Section, key: str, default: str) -> str:
    value = section.take(key, str, default).strip()
    if not value:
        raise ConfigError(f"[{section.name}] {key}: must not be empty")
    return value


def _bounded(section: Section, key: str, kind: type, default: Any, low: float, high: float, why: str) -> Any:
    value = section.take(key, kind, default)
    if not low <= value <= high:
        raise ConfigError(f"[{section.name}] {key}: {value} is not between {low:g} and {high:g} ({why})")
    return value


def _field_names(data: Any, section_name: str, kind: type[Any]) -> Any:
    """A dataclass of column names from a config table; two attributes naming one column is an error."""
    section = Section(section_name, data)
    names = {f.name: _name(section, f.name, f.default) for f in fields(kind)}
    section.finish()
    seen: dict[str, str] = {}
    for attribute, column in names.items():
        if column in seen:
            raise ConfigError(f"[{section.name}] {seen[column]} and {attribute}: both name the column {column!r}")
        seen[column] = attribute
    return kind(**names)
