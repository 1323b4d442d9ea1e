"""The airtable LeadStore backend: the team's Leads table read once per cycle, written in paced, audited batches."""

from __future__ import annotations

import difflib
import itertools
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from pyairtable import Api, retry_strategy
from pyairtable.api.types import RecordDict
from pyairtable.formulas import EQ, FIND, LOWER, OR, RECORD_ID, Field, Formula
from pyairtable.models.schema import BaseSchema, TableSchema
from requests.adapters import HTTPAdapter

from daemon.config import LOOPBACK_HOSTS, SecretRef, _credential_path, _Section
from daemon.errors import ActionError, ConfigError
from daemon.leads import STATUSES, Lead, NewLead

log = logging.getLogger("daemon.airtable")

SECTION = "leads.airtable"
DEFAULT_ENDPOINT = "https://api.airtable.com"
DEFAULT_TOKEN_ENV = "PARTNERSHIPS_AIRTABLE_TOKEN"
AIRTABLE_RATE_LIMIT = 5  # requests per second per base
MAX_RECORDS_PER_WRITE = 10
PAGE_SIZE = 100
AUDIT_PREFIX = "partnerships-daemon:"
_BASE_ID = re.compile(r"app[A-Za-z0-9]+")
_AUDIT_LINE = re.compile(r"^(?P<day>\d{4}-\d{2}-\d{2}) " + re.escape(AUDIT_PREFIX)
                         + r" (?:created as (?P<created>.+?)|(?P<old>.+?) -> (?P<new>.+?))"
                         + r" \((?P<reason>.*)\) \[(?P<key>.+)\]$")
_GONE = ("ROW_DOES_NOT_EXIST", "NOT_FOUND", "MODEL_ID_NOT_FOUND")
T = TypeVar("T")


# --- configuration ------------------------------------------------------------------------------------------------


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
        return [getattr(self, f.name) for f in fields(self)]


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
    section = _Section(SECTION, table)
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
    token = SecretRef(key=f"[{SECTION}] token", file=_credential_path(base, token_file),
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


def _name(section: _Section, key: str, default: str) -> str:
    value = section.take(key, str, default).strip()
    if not value:
        raise ConfigError(f"[{section.name}] {key}: must not be empty")
    return value


def _bounded(section: _Section, key: str, kind: type, default: Any, low: float, high: float, why: str) -> Any:
    value = section.take(key, kind, default)
    if not low <= value <= high:
        raise ConfigError(f"[{section.name}] {key}: {value} is not between {low:g} and {high:g} ({why})")
    return value


def _field_names(data: Any, section_name: str, kind: type[Any]) -> Any:
    """A dataclass of column names from a config table; two attributes naming one column is an error."""
    section = _Section(section_name, data)
    names = {f.name: _name(section, f.name, f.default) for f in fields(kind)}
    section.finish()
    seen: dict[str, str] = {}
    for attribute, column in names.items():
        if column in seen:
            raise ConfigError(f"[{section.name}] {seen[column]} and {attribute}: both name the column {column!r}")
        seen[column] = attribute
    return kind(**names)


# --- pacing: at most N requests per second per base, 429 waited out -------------------------------------------------


class RateLimiter:
    """At most `rate` requests in any sliding window of a second, shared by every thread that talks to one base."""

    # Airtable counts a request when it arrives, slightly after we count it as sent; the margin keeps a request sent
    # at the very edge of our window out of the server's previous window.
    MARGIN = 0.05

    def __init__(self, rate: int, *, window: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.window = window + self.MARGIN
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:  # held while sleeping: the others would have to wait for the same slot anyway
            while True:
                now = self._clock()
                wait = self._resume_at - now
                if len(self._sent) >= self.rate:
                    wait = max(wait, self._sent[0] + self.window - now)
                if wait <= 0:
                    break
                self._sleep(wait)
            self._sent.append(now)
            while len(self._sent) > self.rate:
                self._sent.popleft()

    def pause(self, seconds: float) -> None:
        """After a 429 nobody sends to this base for a while, not just the thread that was refused."""
        with self._lock:
            self._resume_at = max(self._resume_at, self._clock() + seconds)


_limiters: dict[tuple[str, str, int], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(endpoint_url: str, base_id: str, rate: int) -> RateLimiter:
    """Airtable's limit is per base, so every store and check in this process shares one limiter per base."""
    with _limiters_lock:
        return _limiters.setdefault((endpoint_url, base_id, rate), RateLimiter(rate))


@dataclass
class AirtableStats:
    """What the client sent, for benches and tests."""

    requests: int = 0
    reads: int = 0
    writes: int = 0
    rate_limited: int = 0  # 429 answers received
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, write: bool = False, limited: bool = False) -> None:
        with self._lock:
            if limited:
                self.rate_limited += 1
                return
            self.requests += 1
            if write:
                self.writes += 1
            else:
                self.reads += 1


class _PacedAdapter(HTTPAdapter):
    """Every request passes the rate limiter, and a 429 is waited out here (Retry-After, else a doubling backoff):
    retries made by urllib3 beneath the adapter would bypass the limiter."""

    def __init__(self, limiter: RateLimiter, stats: AirtableStats, config: AirtableConfig) -> None:
        # Only failed connects are retried at once (nothing reached Airtable); everything else goes to the outbox.
        # urllib3 would still retry a 429 carrying Retry-After, whatever status_forcelist says: switched off here.
        super().__init__(max_retries=retry_strategy(status_forcelist=(), total=2, connect=2, read=False, redirect=0,
                                                    status=0, other=0, backoff_factor=0.2,
                                                    respect_retry_after_header=False, raise_on_status=False))
        self.limiter = limiter
        self.stats = stats
        self.retries = config.max_retries
        self.backoff = config.backoff_seconds

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        write = request.method != "GET" and not path.endswith("/listRecords")
        for attempt in itertools.count():
            self.limiter.acquire()
            self.stats.count(write=write)
            response = super().send(request, *args, **kwargs)
            if response.status_code != 429:
                return response
            self.stats.count(limited=True)
            if attempt >= self.retries:
                return response
            wait = _retry_after(response) or min(self.backoff * 2 ** attempt, 30.0)
            log.warning("Airtable rate limit (429) on %s %s; waiting %.1f s (retry %d of %d)", request.method, path,
                        wait, attempt + 1, self.retries)
            response.close()
            self.limiter.pause(wait)
        raise AssertionError("unreachable")


def _retry_after(response: requests.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def make_api(config: AirtableConfig, *, token: str | None = None, stats: AirtableStats | None = None) -> Api:
    """A pyairtable Api whose every request is paced for the base and survives 429 answers."""
    api = Api(token if token is not None else config.token.resolve(), endpoint_url=config.endpoint_url,
              timeout=(config.connect_timeout, config.timeout),  # type: ignore[arg-type]  # requests takes floats
              retry_strategy=None)
    limiter = limiter_for(config.endpoint_url, config.base_id, config.requests_per_second)
    adapter = _PacedAdapter(limiter, stats or AirtableStats(), config)
    api.session.mount("https://", adapter)
    api.session.mount("http://", adapter)
    return api


# --- errors -------------------------------------------------------------------------------------------------------


class AirtableError(ActionError):
    """A failed Airtable request; `status` and Airtable's error `kind` (e.g. UNKNOWN_FIELD_NAME) when it answered."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.status = status
        self.kind = kind

    @property
    def record_specific(self) -> bool:
        """Whether one record of a batch may be the cause (deleted, a bad value), so splitting the batch helps."""
        return not self.retryable and self.status not in (401, 403) and self.kind != "UNKNOWN_FIELD_NAME"


def _error_detail(response: requests.Response) -> tuple[str, str]:
    """Airtable's error type and message, from either of its two error shapes."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}", response.reason or ""
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", ""
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("type", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, ""
    errors = body.get("errors")  # the 429 shape
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("error", "")), str(errors[0].get("message", ""))
    return f"HTTP {response.status_code}", ""


class _Caller:
    """Runs pyairtable calls, turning failures into AirtableErrors that never contain the token."""

    def __init__(self, config: AirtableConfig, token: str) -> None:
        self.config = config
        self._token = token

    def __call__(self, doing: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except requests.RequestException as exc:
            raise self.failure(exc, doing) from None

    def failure(self, exc: requests.RequestException, doing: str) -> AirtableError:
        response = exc.response
        if response is None:
            if isinstance(exc, requests.Timeout):
                return self._error(f"{doing}: Airtable did not answer in time ({type(exc).__name__})", True)
            return self._error(f"{doing}: cannot reach Airtable at {self.config.endpoint_url} "
                               f"({type(exc).__name__})", True)
        status = response.status_code
        kind, message = _error_detail(response)
        said = f"{status} {kind}: {message}" if message else f"{status} {kind}"
        if status == 401:
            text = f"Airtable rejected the token ({said}); check [{SECTION}] token_file / token_env"
        elif status == 403:
            text = (f"Airtable refused access ({said}); check the token's scopes and its access to base "
                    f"{self.config.base_id}, and the table names")
        elif status == 429:
            text = f"Airtable still rate-limits after {self.config.max_retries} waits ({said})"
        elif status >= 500:
            text = f"Airtable failed ({said})"
        else:
            text = f"Airtable refused it ({said})"
        return self._error(f"{doing}: {text}", status == 429 or status >= 500, status, kind)

    def _error(self, message: str, retryable: bool, status: int | None = None,
               kind: str | None = None) -> AirtableError:
        if self._token:
            message = message.replace(self._token, "[token]")
        return AirtableError(message, retryable=retryable, status=status, kind=kind)


# --- values: Airtable cells <-> Lead --------------------------------------------------------------------------------


def parse_emails(text: str) -> tuple[str, ...]:
    """The addresses in the one-text-field list the team keeps: separated by commas, semicolons or new lines;
    'Name <address>' is reduced to the address; lower-cased, duplicates dropped."""
    found: list[str] = []
    for part in re.split(r"[,;\n]", text):
        bracketed = re.search(r"<([^<>]+)>", part)
        address = (bracketed.group(1) if bracketed else part).strip().lower()
        if address and address not in found:
            found.append(address)
    return tuple(found)


def format_emails(addresses: Iterable[str]) -> str:
    return ", ".join(addresses)


def marker(key: str) -> str:
    """The key as written into the notes: a retry finds it there and knows the write was done."""
    return f"[{key}]"


def with_note(notes: str, line: str, key: str) -> str:
    separator = "" if not notes or notes.endswith("\n") else "\n"
    return f"{notes}{separator}{line} {marker(key)}\n"


@dataclass(frozen=True)
class StatusMove:
    """A status change as read back from the audit lines in a lead's notes."""

    day: str
    old_status: str | None
    new_status: str
    reason: str
    action_key: str


def status_moves(notes: str) -> list[StatusMove]:
    moves = []
    for line in notes.splitlines():
        match = _AUDIT_LINE.match(line.strip())
        if match:
            moves.append(StatusMove(match["day"], match["old"], match["created"] or match["new"], match["reason"],
                                    match["key"]))
    return moves


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # lookups and multiple selects
        return ", ".join(str(v) for v in value)
    return str(value)


class _Cells:
    """Reads a Leads record into a Lead; a bad cell is logged and left empty instead of failing the whole read."""

    def __init__(self, names: LeadFields) -> None:
        self.names = names

    def lead(self, record: RecordDict) -> Lead:
        cells, names = record.get("fields", {}), self.names
        return Lead(
            id=record["id"],
            name=_text(cells.get(names.name)).strip(),
            status=_text(cells.get(names.status)).strip(),
            contact_emails=parse_emails(_text(cells.get(names.contact_emails))),
            domain=_text(cells.get(names.domain)).strip().lower() or None,
            service_tier=_text(cells.get(names.service_tier)).strip().lower() or None,
            monthly_fee=self._money(record["id"], cells.get(names.monthly_fee)),
            cloud_billing_managed=bool(cells.get(names.cloud_billing_managed)),
            service_start=self._date(record["id"], cells.get(names.service_start)),
            notes=_text(cells.get(names.notes)),
        )

    def _money(self, record_id: str, value: Any) -> Decimal | None:
        if value in (None, ""):
            return None
        try:
            # Airtable sends currency as a JSON number: go through its shortest repr, never through binary arithmetic.
            return Decimal(str(value).replace(",", "").lstrip("$").strip())
        except InvalidOperation:
            log.warning("Leads record %s: %s %r is not an amount; ignored", record_id, self.names.monthly_fee, value)
            return None

    def _date(self, record_id: str, value: Any) -> date | None:
        if not value:
            return None
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            log.warning("Leads record %s: %s %r is not a date; ignored", record_id, self.names.service_start, value)
            return None


# --- the store ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusChange:
    """Move `lead_id` to `status` once per `key`; `reason` (e.g. "rule decline on message <id>") goes into the
    audit line the store writes to the lead's notes in the same request."""

    key: str
    lead_id: str
    status: str
    reason: str


@dataclass(frozen=True)
class _Patch:
    key: str
    lead_id: str
    status: str | None  # None: a note only
    text: str  # a status change's reason, or the whole note line

    def line(self, lead: Lead, day: date) -> str:
        if self.status is None:
            return self.text
        return f"{day.isoformat()} {AUDIT_PREFIX} {lead.status or '(no status)'} -> {self.status} ({self.text})"


Outcome = Lead | ActionError


class AirtableLeadStore:
    """LeadStore over the team's Airtable base, with the SQLite backend's behaviour; lead ids are record ids.
    `stats` counts the requests of the Api it makes itself (not of one passed in)."""

    def __init__(self, config: AirtableConfig, *, api: Api | None = None, today: Callable[[], date] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.stats = AirtableStats()
        token = api.api_key if api is not None else config.token.resolve()
        self.api = api or make_api(config, token=token, stats=self.stats)
        self._call = _Caller(config, token)
        self._cells = _Cells(config.fields)
        self._leads = self.api.table(config.base_id, config.leads_table)
        self._hubs = self.api.table(config.base_id, config.active_hubs_table)
        self._today = today or (lambda: datetime.now(UTC).date())
        self._clock = clock
        self._cache: dict[str, Lead] = {}
        self._read_at: dict[str, float] = {}
        self._stale: set[str] = set()  # their last write may have landed unanswered: read before the next
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<AirtableLeadStore base={self.config.base_id} table={self.config.leads_table!r}>"

    # -- reading -------------------------------------------------------------------------------------------------

    def all(self) -> Sequence[Lead]:
        """Read the whole Leads table (only the mapped fields, 100 per page) and cache it for this cycle."""
        records = self._list(f"read the {self.config.leads_table} table")
        with self._lock:
            self._cache.clear()
            self._read_at.clear()
            self._stale.clear()
            return [self._remember(record) for record in records]

    def get(self, lead_id: str) -> Lead | None:
        with self._lock:
            if lead_id not in self._cache or lead_id in self._stale:
                self._fetch([lead_id])
            return self._cache.get(lead_id)

    def find_by_contact(self, address: str) -> list[Lead]:
        """Leads listing `address` among their contacts, asked of Airtable (the value is escaped by pyairtable)."""
        wanted = address.strip().lower()
        formula = FIND(wanted, LOWER(Field(self.config.fields.contact_emails)))
        records = self._list(f"look up the lead of {wanted}", formula)
        with self._lock:
            leads = [self._remember(record) for record in records]
        # FIND matches substrings (ann@x.org in joann@x.org): keep exact matches only.
        return [lead for lead in leads if wanted in lead.contact_emails]

    def status_history(self, lead_id: str) -> list[StatusMove]:
        lead = self.get(lead_id)
        return status_moves(lead.notes) if lead else []

    def _list(self, doing: str, formula: Formula | None = None) -> list[RecordDict]:
        options: dict[str, Any] = {"fields": self.config.fields.names(), "page_size": PAGE_SIZE}
        if formula is not None:
            options["formula"] = formula
        return self._call(doing, lambda: self._leads.all(**options))

    def _fetch(self, lead_ids: Iterable[str]) -> None:
        """Read these records again (100 per request); those Airtable no longer has leave the cache."""
        wanted = list(dict.fromkeys(lead_ids))
        for start in range(0, len(wanted), PAGE_SIZE):
            chunk = wanted[start:start + PAGE_SIZE]
            formula = OR(*(EQ(RECORD_ID(), lead_id) for lead_id in chunk))
            found = {record["id"]: record for record in self._list(f"read lead(s) {_labels(chunk)}", formula)}
            for lead_id in chunk:
                if lead_id in found:
                    self._remember(found[lead_id])
                else:
                    self._forget(lead_id)

    def _remember(self, record: RecordDict) -> Lead:
        lead = self._cells.lead(record)
        self._cache[lead.id] = lead
        self._read_at[lead.id] = self._clock()
        self._stale.discard(lead.id)
        return lead

    def _forget(self, lead_id: str) -> None:
        self._cache.pop(lead_id, None)
        self._read_at.pop(lead_id, None)
        self._stale.discard(lead_id)

    # -- creating ------------------------------------------------------------------------------------------------

    def create(self, lead: NewLead, *, key: str) -> Lead:
        return _raise_or_return(self.create_many({key: lead})[key])

    def create_many(self, leads: Mapping[str, NewLead]) -> dict[str, Outcome]:
        """Create leads by idempotency key, 10 per request; a key whose lead exists already returns that lead."""
        results: dict[str, Outcome] = {key: _bad_status(new.status) for key, new in leads.items()
                                       if new.status not in STATUSES}
        todo = {key: new for key, new in leads.items() if key not in results}
        with self._lock:
            try:
                results.update(self._created_by(list(todo)))
            except AirtableError as error:
                return results | dict.fromkeys(todo, error)
            rest = [(key, new) for key, new in todo.items() if key not in results]
            for chunk in _chunks(rest, MAX_RECORDS_PER_WRITE):
                payloads = [self._new_record(new, key) for key, new in chunk]
                results.update(self._write([key for key, _ in chunk], [new.name for _, new in chunk], payloads,
                                           lambda batch: self._leads.batch_create(batch, typecast=False), "create"))
        return results

    def _created_by(self, keys: list[str]) -> dict[str, Lead]:
        """Leads made earlier for these keys: from the cache, else found by their marker in the notes. Asking Airtable
        covers a create whose answer was lost (timeout) and one made by another process since the cache was read."""
        found = {key: lead for key in keys if (lead := self._cached_with_marker(key))}
        missing = [key for key in keys if key not in found]
        notes = Field(self.config.fields.notes)
        for chunk in _chunks(missing, 20):  # 20 FIND()s keep the URL well below Airtable's 16k limit
            formula = OR(*(FIND(marker(key), notes) for key in chunk))
            for record in self._list(f"look up leads created by {_labels(chunk)}", formula):
                lead = self._remember(record)
                found.update({key: lead for key in chunk if marker(key) in lead.notes})
        return found

    def _cached_with_marker(self, key: str) -> Lead | None:
        return next((lead for lead in self._cache.values() if marker(key) in lead.notes), None)

    def _new_record(self, new: NewLead, key: str) -> dict[str, Any]:
        names = self.config.fields
        line = f"{self._today().isoformat()} {AUDIT_PREFIX} created as {new.status} (lead created)"
        record: dict[str, Any] = {names.name: new.name, names.status: new.status,
                                  names.notes: with_note(new.notes, line, key)}
        if new.contact_emails:
            record[names.contact_emails] = format_emails(e.strip().lower() for e in new.contact_emails)
        if new.domain:
            record[names.domain] = new.domain.strip().lower()
        return record

    # -- changing ------------------------------------------------------------------------------------------------

    def set_status(self, lead_id: str, status: str, *, reason: str, key: str) -> Lead:
        return _raise_or_return(self.apply_status_changes([StatusChange(key, lead_id, status, reason)])[key])

    def append_note(self, lead_id: str, line: str, *, key: str) -> None:
        _raise_or_return(self._apply([_Patch(key, lead_id, None, line)])[key])

    def apply_status_changes(self, changes: Sequence[StatusChange]) -> dict[str, Outcome]:
        """Status and audit line of each change in one PATCH of up to 10 records; one outcome per key: the lead as
        it is now, or an ActionError (retryable or not) for that key alone."""
        return self._apply([_Patch(c.key, c.lead_id, c.status, c.reason) for c in changes])

    def _apply(self, patches: Sequence[_Patch]) -> dict[str, Outcome]:
        unique: dict[str, _Patch] = {}
        for patch in patches:
            unique.setdefault(patch.key, patch)  # the first of a repeated key counts
        results: dict[str, Outcome] = {p.key: _bad_status(p.status) for p in unique.values()
                                       if p.status is not None and p.status not in STATUSES}
        pending = [p for p in unique.values() if p.key not in results]
        with self._lock:
            try:
                self._refresh_before_write({p.lead_id for p in pending})
            except AirtableError as error:
                return results | dict.fromkeys((p.key for p in pending), error)
            while pending:
                # Airtable takes one version of a record per request: a second change to a lead waits a round.
                current, pending = _one_per_lead(pending)
                writes = []
                for patch in current:
                    planned = self._plan(patch)
                    if isinstance(planned, dict):
                        writes.append((patch, planned))
                    else:
                        results[patch.key] = planned
                for chunk in _chunks(writes, MAX_RECORDS_PER_WRITE):
                    results.update(self._send_updates(chunk))
        return results

    def _refresh_before_write(self, lead_ids: set[str]) -> None:
        now = self._clock()
        old = [i for i in lead_ids if i not in self._cache or i in self._stale
               or now - self._read_at.get(i, now) > self.config.cache_seconds]
        if old:
            self._fetch(old)

    def _plan(self, patch: _Patch) -> Outcome | dict[str, Any]:
        """The fields to write for `patch`, or its outcome when there is nothing to write."""
        lead = self._cache.get(patch.lead_id)
        if lead is None:
            return AirtableError(f"lead {patch.lead_id} does not exist (no such record in the "
                                 f"{self.config.leads_table} table)", retryable=False, status=404, kind="NOT_FOUND")
        if marker(patch.key) in lead.notes or (patch.status is not None and lead.status == patch.status):
            return lead
        names = self.config.fields
        fields_ = {names.notes: with_note(lead.notes, patch.line(lead, self._today()), patch.key)}
        if patch.status is not None:
            fields_[names.status] = patch.status
        return fields_

    def _send_updates(self, chunk: Sequence[tuple[_Patch, dict[str, Any]]]) -> dict[str, Outcome]:
        lead_ids = [patch.lead_id for patch, _ in chunk]
        payloads = [{"id": patch.lead_id, "fields": fields_} for patch, fields_ in chunk]
        outcomes = self._write([patch.key for patch, _ in chunk], lead_ids, payloads,
                               lambda batch: self._leads.batch_update(batch, typecast=False), "update")
        for patch, _ in chunk:
            outcome = outcomes[patch.key]
            if isinstance(outcome, AirtableError) and outcome.retryable:
                self._stale.add(patch.lead_id)
            elif isinstance(outcome, AirtableError) and outcome.kind in _GONE:
                self._forget(patch.lead_id)
        return outcomes

    def _write(self, keys: list[str], labels: list[str], payloads: list[dict[str, Any]],
               send: Callable[[list[dict[str, Any]]], list[RecordDict]], verb: str) -> dict[str, Outcome]:
        """One request for the batch; when a record of it is refused, halves are retried until each record has
        its own outcome (Airtable applies a batch entirely or not at all)."""
        try:
            records = self._call(f"{verb} {_labels(labels)}", lambda: send(payloads))
        except AirtableError as error:
            if len(payloads) > 1 and error.record_specific:
                half = len(payloads) // 2
                return (self._write(keys[:half], labels[:half], payloads[:half], send, verb)
                        | self._write(keys[half:], labels[half:], payloads[half:], send, verb))
            return dict.fromkeys(keys, error)
        return {key: self._remember(record) for key, record in zip(keys, records, strict=True)}

    # -- active hubs ---------------------------------------------------------------------------------------------

    def add_active_hub(self, lead_id: str, hub_name: str, *, key: str) -> str:
        """Create the Active Hubs record of `hub_name` linked to the lead, once per `key`; its record id."""
        names = self.config.hub_fields
        with self._lock:
            existing = self._call(f"look up active hub {hub_name!r}", lambda: self._hubs.first(
                formula=FIND(marker(key), Field(names.notes)), fields=[names.name]))
            if existing is not None:
                return existing["id"]
            line = f"{self._today().isoformat()} {AUDIT_PREFIX} active hub of lead {lead_id}"
            record = {names.name: hub_name, names.lead: [lead_id], names.notes: with_note("", line, key)}
            created = self._call(f"create active hub {hub_name!r}",
                                 lambda: self._hubs.create(record, typecast=False))
            return created["id"]

    # -- schema --------------------------------------------------------------------------------------------------

    def check_schema(self) -> list[str]:
        return _check(self.config, self.api, self._call)


def check_schema(config: AirtableConfig) -> list[str]:
    """Problems with the base for this config, each naming the table, field or status option; [] when all is fine."""
    token = config.token.resolve()
    return _check(config, make_api(config, token=token), _Caller(config, token))


def _check(config: AirtableConfig, api: Api, call: _Caller) -> list[str]:
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


# --- small helpers ----------------------------------------------------------------------------------------------


def _bad_status(status: str | None) -> ActionError:
    return ActionError(f"{status!r} is not a lead status ({', '.join(STATUSES)})", retryable=False)


def _raise_or_return(outcome: Outcome) -> Lead:
    if isinstance(outcome, ActionError):
        raise outcome
    return outcome


def _one_per_lead(patches: list[_Patch]) -> tuple[list[_Patch], list[_Patch]]:
    now, later, seen = [], [], set()
    for patch in patches:
        (later if patch.lead_id in seen else now).append(patch)
        seen.add(patch.lead_id)
    return now, later


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _labels(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:3])
    return shown if len(labels) <= 3 else f"{shown} and {len(labels) - 3} more"
