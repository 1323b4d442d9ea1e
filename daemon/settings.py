"""Load and validate the daemon's TOML settings, falling back to the embedded defaults."""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from daemon.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# rules/, templates/ and examples/: the checkout's folders, or the copies an installed wheel carries (setup.py).
RESOURCES = PROJECT_ROOT if (PROJECT_ROOT / "rules").is_dir() else Path(__file__).resolve().parent / "resources"
# An installed package must not keep its state inside site-packages: ./state of the working directory then.
DEFAULT_STATE_DIR = PROJECT_ROOT / "state" if RESOURCES == PROJECT_ROOT else Path("state").resolve()
SOURCE_KINDS = ("mbox", "maildir", "emldir", "imap")
SEND_KINDS = ("outbox", "smtp")
TLS_MODES = ("ssl", "starttls", "none")
AUTH_KINDS = ("password", "oauth2-google", "oauth2-microsoft")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
SEND_ON = ("after-affirmations", "last-day", "first-business-day")
_TIME_OF_DAY = re.compile(r"\d{2}:\d{2}(?::\d{2})?")
LEAD_BACKENDS = ("sqlite", "airtable")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"[invoice] timezone: {name!r} is not a known IANA time zone "
                          "(e.g. America/Los_Angeles)") from None


@dataclass(frozen=True)
class InvoiceSchedule:
    # Default: the day after the affirmation window, when the month's delivery affirmations can be on file.
    send_on: str = "after-affirmations"
    at: time = time(9, 0)
    timezone: str = "UTC"
    # Communities affirm a month's delivery during the first days of the next one.
    affirmation_days: int = 7

    def __post_init__(self) -> None:
        if self.send_on not in SEND_ON:
            raise ConfigError(f"[invoice] send_on: {self.send_on!r} is not one of {', '.join(SEND_ON)}")
        if isinstance(self.affirmation_days, bool) or not isinstance(self.affirmation_days, int) \
                or not 1 <= self.affirmation_days <= 27:
            raise ConfigError(f"[invoice] affirmation_days: {self.affirmation_days!r} must be a whole number of days "
                              "from 1 to 27")
        if not isinstance(self.at, time) or self.at.tzinfo is not None:
            raise ConfigError(f"[invoice] at: {self.at!r} must be a local time of day; the zone goes in timezone")
        _zone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


def parse_invoice_schedule(table: Mapping[str, Any]) -> InvoiceSchedule:
    """Read send_on, at ("HH:MM" or a TOML time), timezone and affirmation_days from the [invoice] table; other keys
    are ignored."""
    defaults = InvoiceSchedule()
    for key in ("send_on", "timezone"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"[invoice] {key}: expected a string, got {table[key]!r}")
    return InvoiceSchedule(
        send_on=table.get("send_on", defaults.send_on),
        at=_time_of_day(table.get("at", defaults.at)),
        timezone=table.get("timezone", defaults.timezone),
        affirmation_days=table.get("affirmation_days", defaults.affirmation_days),
    )


def _time_of_day(value: Any, where: str = "[invoice] at") -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and _TIME_OF_DAY.fullmatch(value.strip()):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: {value!r} is not a time of day such as \"09:00\"")


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class DigestSettings:
    """The weekly digest to partnerships@ (off unless enabled)."""

    enabled: bool = False
    weekday: str = "monday"
    at: time = time(9, 0)
    timezone: str = "UTC"
    inactive_days: int = 30

    def __post_init__(self) -> None:
        if self.weekday not in WEEKDAYS:
            raise ConfigError(f"[digest] weekday: {self.weekday!r} is not one of {', '.join(WEEKDAYS)}")
        _zone(self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


def parse_digest_settings(table: Mapping[str, Any]) -> DigestSettings:
    section = Section("digest", table)
    defaults = DigestSettings()
    enabled = section.take("enabled", bool, defaults.enabled)
    weekday = section.take("weekday", str, defaults.weekday).lower()
    at = _time_of_day(section.data.pop("at", defaults.at), "[digest] at")
    timezone = section.take("timezone", str, defaults.timezone)
    inactive_days = section.take("inactive_days", int, defaults.inactive_days)
    section.finish()
    return DigestSettings(enabled=enabled, weekday=weekday, at=at, timezone=timezone, inactive_days=inactive_days)


@dataclass(frozen=True)
class Tier:
    name: str
    fee: Decimal


@dataclass(frozen=True)
class Addresses:
    team_domains: tuple[str, ...] = ("2i2c.org",)
    partnerships: str = "partnerships@2i2c.org"
    operations: str = "operations@codeforsociety.org"
    # Our forwards carry Message-IDs in this domain so that we can recognise them when they come back.
    daemon_id_domain: str = "partnerships-daemon.invalid"

    def is_team(self, address: str) -> bool:
        return domain_of(address) in self.team_domains or address == self.partnerships

    def is_operations(self, address: str) -> bool:
        return address == self.operations or domain_of(address) == domain_of(self.operations)

    def is_internal(self, address: str) -> bool:
        return self.is_team(address) or self.is_operations(address)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives (a file, e.g. a systemd credential, or an environment variable), never its value."""

    key: str  # the config key, for error messages
    file: Path | None = None
    env: str | None = None

    def resolve(self) -> str:
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"{self.key}_file: cannot read {self.file}: {exc.strerror}") from None
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"{self.key}: environment variable {self.env} is not set")
            return value
        raise ConfigError(f"{self.key}: no {self.key}_file or {self.key}_env configured")

    def resolve_login(self) -> str:
        """A password for IMAP LOGIN / SMTP AUTH, which carry ASCII only: anything else is refused here, in one
        line, instead of failing inside the protocol library on every connection attempt."""
        value = self.resolve()
        if not value.isascii():
            where = f"{self.key}_file {self.file}" if self.file is not None else f"{self.key} (${self.env})"
            raise ConfigError(f"{where}: the password holds non-ASCII characters, which IMAP LOGIN and SMTP AUTH "
                              "cannot send; use an ASCII password or an app password")
        return value


@dataclass(frozen=True)
class OAuthConfig:
    """OAuth2 login (`auth = "oauth2-google"` or `"oauth2-microsoft"`); daemon.io.oauth turns it into tokens."""

    provider: str  # "google" | "microsoft"
    mechanism: str = "xoauth2"  # IMAP SASL mechanism: xoauth2 | oauthbearer (SMTP always uses XOAUTH2)
    # Refresh token written by `partnerships auth google|microsoft` (default: STATE/credentials/PROVIDER-token.json).
    token_file: Path | None = None
    service_account_file: Path | None = None  # Google: service account key with domain-wide delegation
    token_uri: str | None = None  # Google token endpoint (default https://oauth2.googleapis.com/token)
    client_id: str | None = None  # Microsoft: the app registration
    client_secret: SecretRef | None = None  # Microsoft: client-credentials flow instead of a refresh token
    tenant: str = "organizations"
    authority: str | None = None  # Microsoft: default https://login.microsoftonline.com/TENANT
    refresh_margin_seconds: float = 300.0  # refresh this long before the access token expires


@dataclass(frozen=True)
class ServerConfig:
    """An IMAP or SMTP server and how to log in to it."""

    host: str
    port: int
    tls: str
    username: str | None = None
    password: SecretRef | None = None
    timeout: float = 60.0
    oauth: OAuthConfig | None = None  # None: password login


@dataclass(frozen=True)
class ImapConfig:
    server: ServerConfig
    folders: tuple[str, ...] = ("INBOX",)
    batch_size: int = 500  # UIDs per FETCH: one round trip brings 500 messages
    # RFC 2177: clients must re-issue IDLE at least every 29 minutes.
    idle_renew_seconds: float = 600.0
    poll_seconds: float = 60.0
    # After a refused login: the first wait; it doubles per refusal, up to an hour.
    auth_retry_seconds: float = 60.0


@dataclass(frozen=True)
class SmtpConfig:
    server: ServerConfig
    envelope_from: str


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "mbox"
    path: Path = RESOURCES / "examples" / "inbox.mbox"
    imap: ImapConfig | None = None
    # Mail dated before this day is recorded but never acted on (no forward, no status move, no review).
    # None: for IMAP the day of installation (a first sync must not replay years of history into
    # operations' inbox); for files (an explicit backfill) no limit.
    since: date | None = None


# --- [trust]: whose Authentication-Results the daemon believes (daemon.core.trust applies them) ---------------

_ID_SYNTAX = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_TRUST_KEYS = ("authserv_ids", "require_authentication", "own_relays")


@dataclass(frozen=True)
class TrustSettings:
    """Which Authentication-Results headers are ours, and whether the check applies at all.

    `authserv_ids`: the authserv-ids our receiving server writes into Authentication-Results; an entry
    also covers its subdomains (`messagingengine.com` covers mx1..mx8.messagingengine.com), and it names the
    host in the `by` clause of the Received header our server adds, which ends the headers we believe.
    `own_relays`: the authserv-ids of servers that are ours for *outbound* mail, i.e. that only our
    team can send through (a submission server, or the hosted provider that signs our domain).
    Authserv-ids rather than Received host names: Received lines carry no machine-readable
    authentication result, and every one below the topmost is written by whoever handed the
    message over. Empty: outbound mail is trusted only when it was found in the Sent folder.
    The defaults trust nobody: a guess would let any mailbox believe headers the sender wrote. Only the
    embedded demo (no config file, `DEMO_TRUST`) names a server, the one examples/inbox.mbox was received by.
    """

    authserv_ids: tuple[str, ...] = ()
    require_authentication: bool = True
    own_relays: tuple[str, ...] = ()

    @property
    def configured(self) -> bool:
        """False when no trusted server is named: every message is then unauthenticated."""
        return bool(self.authserv_ids) or not self.require_authentication


# The embedded demo's trust (no config file): examples/inbox.mbox was received by Google.
DEMO_TRUST = TrustSettings(authserv_ids=("mx.google.com",), own_relays=("mx.google.com",))

def parse_trust_settings(table: Mapping[str, Any]) -> TrustSettings:
    """Validate a `[trust]` TOML table; `own_relays` defaults to `authserv_ids` when absent.

    That default fits a hosted provider (Google Workspace, Microsoft 365): the server that receives
    our mail also carries the team's own mail, and its dmarc=pass for a team domain means the
    message left through infrastructure our domain authorises. Set `own_relays = []` to trust
    outbound mail only from the Sent folder.
    """
    if not isinstance(table, Mapping):
        raise ConfigError("[trust] must be a table")
    unknown = sorted(set(table) - set(_TRUST_KEYS))
    if unknown:
        raise ConfigError(f"[trust] unknown key(s): {', '.join(unknown)}")
    defaults = TrustSettings()
    require = table.get("require_authentication", defaults.require_authentication)
    if not isinstance(require, bool):
        raise ConfigError(f"[trust] require_authentication: expected true or false, got {require!r}")
    # Empty or absent is allowed: the daemon then runs fail-closed (everything to review) and says so.
    authserv_ids = _id_list(table, "authserv_ids", defaults.authserv_ids)
    own_relays = _id_list(table, "own_relays", authserv_ids)
    return TrustSettings(authserv_ids=authserv_ids, require_authentication=require, own_relays=own_relays)


def _id_list(table: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"[trust] {key}: expected a list of authserv-ids such as [\"mx.google.com\"], "
                          f"got {value!r}")
    for item in value:
        if not _ID_SYNTAX.fullmatch(item.strip()):
            raise ConfigError(f"[trust] {key}: {item!r} is not an authserv-id (a host name such as mx.google.com)")
    return tuple(dict.fromkeys(item.strip().lower() for item in value))



# --- [handoff]: the pre-filled GitHub issue that hands a new service to engineering (daemon.core.handoff) ------

_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_FIELD_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# Query parameters GitHub's new-issue page reads itself; a form field must not shadow one.
_RESERVED_PARAMS = frozenset({"template", "labels", "title", "body", "assignees", "milestone", "projects", "type"})


@dataclass(frozen=True)
class HandoffConfig:
    repository: str = "2i2c-org/infrastructure"
    template: str = "3_new_hub-request-info.yaml"
    labels: str = "type: hub"  # comma-separated, as GitHub's `labels` parameter takes them
    title: str = "[Request Information] New Hub: {community}"
    # GitHub ignores `body` when the template is an issue form (a .yml/.yaml template such as this one) and
    # fills form fields from parameters named by their `id` instead: "background" is the form's "Hub
    # Description". The URL carries the text in both, so it works with either kind of template; "" = body only.
    form_field: str = "background"


def parse_handoff_config(table: Mapping[str, Any]) -> HandoffConfig:
    """The `[handoff]` table of the config file, validated; every problem names `[handoff] key`."""
    if not isinstance(table, Mapping):
        raise ConfigError("[handoff] must be a table")
    defaults = HandoffConfig()
    unknown = set(table) - set(defaults.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"[handoff] unknown key(s): {', '.join(sorted(unknown))}")
    values: dict[str, str] = {}
    for key in defaults.__dataclass_fields__:
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, str):
            raise ConfigError(f"[handoff] {key}: expected a string, got {value!r}")
        if any(unicodedata.category(c) == "Cc" for c in value):
            raise ConfigError(f"[handoff] {key}: {value!r} contains control characters")
        values[key] = value
    config = HandoffConfig(**values)
    if not _REPOSITORY.fullmatch(config.repository) or config.repository.split("/")[1] in (".", ".."):
        raise ConfigError(f"[handoff] repository: {config.repository!r} is not OWNER/NAME on GitHub")
    if (not config.template or len(config.template) > 255 or any(c in config.template for c in "/\\")
            or not config.template.endswith((".md", ".yml", ".yaml"))):
        raise ConfigError(f"[handoff] template: {config.template!r} is not the file name of an issue template "
                          "in .github/ISSUE_TEMPLATE (.md, .yml or .yaml)")
    if len(config.labels) > 500:
        raise ConfigError("[handoff] labels: longer than 500 characters")
    _check_title(config.title)
    if config.form_field and (not _FIELD_ID.fullmatch(config.form_field) or config.form_field in _RESERVED_PARAMS):
        raise ConfigError(f"[handoff] form_field: {config.form_field!r} is not the id of an issue-form field "
                          f"(letters, digits, - and _; not one of {', '.join(sorted(_RESERVED_PARAMS))})")
    return config


def _check_title(title: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(title) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"[handoff] title: {title!r} is not a valid template: {exc}") from None
    if fields != ["community"]:
        raise ConfigError(f"[handoff] title: {title!r} must contain {{community}} once and no other {{field}} "
                          "(write {{ and }} for literal braces)")
    if len(title) > 200:
        raise ConfigError("[handoff] title: longer than 200 characters")




@dataclass(frozen=True)
class Config:
    state_dir: Path = DEFAULT_STATE_DIR
    rules_dir: Path = RESOURCES / "rules"
    templates_dir: Path = RESOURCES / "templates"
    addresses: Addresses = field(default_factory=Addresses)
    source: SourceConfig = field(default_factory=SourceConfig)
    lead_backend: str = "sqlite"
    # The [leads.airtable] and [invoice.airtable] tables as written: the Airtable package parses them
    # (daemon.runtime.load_config), so this module imports no backend.
    airtable_table: Mapping[str, Any] | None = None
    invoice_airtable_table: Mapping[str, Any] | None = None
    airtable: Any = None  # daemon.leads.airtable.settings.AirtableConfig with backend = "airtable"
    invoice_tables: Any = None  # daemon.invoicing.airtable.InvoiceTables with backend = "airtable"
    base_dir: Path = field(default_factory=Path.cwd)  # relative paths and credential files resolve here
    leads_seed_csv: Path | None = RESOURCES / "examples" / "leads.csv"
    send_kind: str = "outbox"
    smtp: SmtpConfig | None = None
    # Intents that send email act automatically only at or above this confidence.
    min_confidence: float = 0.8
    # Forwards a lead, or a sender, may cause in 24 hours; the rest wait in review (a loop or a flood).
    max_forwards_per_lead: int = 3
    max_forwards_per_sender: int = 3
    max_message_bytes: int = 25 * 1024 * 1024
    max_attempts: int = 8
    record_batch: int = 200  # messages recorded per transaction during a sync or replay
    retry_base_seconds: float = 30.0  # first retry delay; doubles per attempt, capped at an hour
    # How long a send interrupted by a crash waits for its Cc copy to come back before it is sent again.
    uncertain_grace_seconds: float = 900.0
    currency: str = "USD"
    tiers: tuple[Tier, ...] = (
        Tier("small", Decimal("1500.00")),
        Tier("medium", Decimal("3000.00")),
        Tier("large", Decimal("6000.00")),
    )
    invoice_schedule: InvoiceSchedule = field(default_factory=lambda: InvoiceSchedule())
    spend_dir: Path | None = RESOURCES / "examples" / "spend"  # None: no cloud spend is added
    # Invoice catch-up never reaches back before this month (default: the month of the first `run`).
    first_invoice_month: str | None = None
    trust: TrustSettings = DEMO_TRUST  # the embedded demo's; a config file without [trust] trusts nobody
    handoff: HandoffConfig = field(default_factory=HandoffConfig)
    digest: DigestSettings = field(default_factory=DigestSettings)
    # IMAP folders only our own account writes to (e.g. Sent): outbound mail there is trusted as ours.
    sent_folders: tuple[str, ...] = ()
    log_format: str = "kv"
    source_file: Path | None = None
    # [daemon] database_url / database_url_file (env PARTNERSHIPS_DATABASE_URL): e.g. a shared PostgreSQL.
    database_url: str | None = None
    database_url_secret: SecretRef | None = None

    @property
    def db_path(self) -> Path:
        return self.state_dir / "partnerships.sqlite3"

    @property
    def database(self) -> Path | str:
        """Where the state lives: the configured database URL, else the SQLite file in the state directory."""
        if self.database_url_secret is not None:
            return self.database_url_secret.resolve()
        return self.database_url or self.db_path

    @property
    def outbox_dir(self) -> Path:
        return self.state_dir / "outbox"

    def tier(self, name: str) -> Tier | None:
        return next((tier for tier in self.tiers if tier.name == name.lower()), None)


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def load_settings(path: Path | None = None, *, state_dir: Path | None = None) -> Config:
    """Read `path` (or $PARTNERSHIPS_CONFIG); with neither, the embedded defaults apply. The backend sections stay
    as written: `daemon.runtime.load_config` has them parsed by their packages."""
    if path is None and os.environ.get("PARTNERSHIPS_CONFIG"):
        path = Path(os.environ["PARTNERSHIPS_CONFIG"])
    if state_dir is None and os.environ.get("PARTNERSHIPS_STATE"):
        state_dir = Path(os.environ["PARTNERSHIPS_STATE"])
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    config = _build(data, base=path.parent if path else Path.cwd(), source_file=path)
    if state_dir is not None:
        config = replace(config, state_dir=state_dir.resolve())
    if os.environ.get("PARTNERSHIPS_DATABASE_URL"):
        config = replace(config, database_url=os.environ["PARTNERSHIPS_DATABASE_URL"], database_url_secret=None)
    return config


def config_fingerprint(config: Config) -> str:
    """What a state directory is bound to: where mail comes from, how it leaves and where leads live (resolved
    values, so the same file read from another place with other relative paths counts as different)."""
    imap = config.source.imap
    smtp = config.smtp
    airtable = dict(config.airtable_table or {})
    meaning = {
        "source": [config.source.kind, str(config.source.path) if imap is None else None,
                   [imap.server.host, imap.server.port, imap.server.username, list(imap.folders)] if imap else None],
        "send": [config.send_kind,
                 [smtp.server.host, smtp.server.port, smtp.server.username, smtp.envelope_from] if smtp else None],
        "leads": [config.lead_backend, airtable.get("base_id"), airtable.get("endpoint_url")],
    }
    return hashlib.sha256(json.dumps(meaning, sort_keys=True).encode()).hexdigest()[:16]


class Section:
    """A TOML table being consumed; leftover keys are reported as unknown, naming the section."""

    def __init__(self, name: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"[{name}] must be a table")
        self.name = name
        self.data = dict(data)

    def take(self, key: str, kind: type, default: Any) -> Any:
        if key not in self.data:
            return default
        value = self.data.pop(key)
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"[{self.name}] {key}: expected {kind.__name__}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.take(key, str, default)
        if value not in choices:
            raise ConfigError(f"[{self.name}] {key}: {value!r} is not one of {', '.join(choices)}")
        return value

    def finish(self) -> None:
        if self.data:
            raise ConfigError(f"[{self.name}] unknown key(s): {', '.join(sorted(self.data))}")


def _path(base: Path, value: str | None) -> Path | None:
    if value is None or value == "":
        return None
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate).resolve()


def _build(data: dict[str, Any], *, base: Path, source_file: Path | None) -> Config:
    defaults = Config()
    top = Section("top level", data)
    daemon = Section("daemon", top.data.pop("daemon", {}))
    addresses = Section("addresses", top.data.pop("addresses", {}))
    source = Section("source", top.data.pop("source", {}))
    leads = Section("leads", top.data.pop("leads", {}))
    rules = Section("rules", top.data.pop("rules", {}))
    send = Section("send", top.data.pop("send", {}))
    tiers_data = top.data.pop("tiers", None)
    invoice = Section("invoice", top.data.pop("invoice", {}))
    # Fail closed: a config file without [trust] believes no Authentication-Results. Only the embedded demo
    # (no config file at all) trusts the server its example mailbox was received by.
    trust = parse_trust_settings(top.data.pop("trust", {})) if source_file is not None else defaults.trust
    handoff = parse_handoff_config(top.data.pop("handoff", {}))
    digest = parse_digest_settings(top.data.pop("digest", {}))
    top.finish()

    state_dir = _path(base, daemon.take("state_dir", str, None)) or defaults.state_dir
    rules_dir = _path(base, daemon.take("rules_dir", str, None)) or defaults.rules_dir
    templates_dir = _path(base, daemon.take("templates_dir", str, None)) or defaults.templates_dir
    log_format = daemon.choice("log_format", ("kv", "json"), defaults.log_format)
    max_bytes = daemon.take("max_message_bytes", int, defaults.max_message_bytes)
    max_attempts = daemon.take("max_attempts", int, defaults.max_attempts)
    record_batch = daemon.take("record_batch", int, defaults.record_batch)
    if not 1 <= record_batch <= 10000:
        raise ConfigError(f"[daemon] record_batch: {record_batch} is not between 1 and 10000")
    retry_base = daemon.take("retry_base_seconds", float, defaults.retry_base_seconds)
    grace = daemon.take("uncertain_grace_seconds", float, defaults.uncertain_grace_seconds)
    database_url = daemon.take("database_url", str, None) or None
    url_file = credential_path(base, daemon.take("database_url_file", str, None))
    if database_url and url_file:
        raise ConfigError("[daemon] database_url and database_url_file: set only one")
    daemon.finish()

    team_domains = addresses.take("team_domains", list, list(defaults.addresses.team_domains))
    if not team_domains or not all(isinstance(d, str) and d for d in team_domains):
        raise ConfigError("[addresses] team_domains: expected a non-empty list of domains")
    built_addresses = Addresses(
        team_domains=tuple(d.lower().lstrip("@") for d in team_domains),
        partnerships=_address(addresses, "partnerships", defaults.addresses.partnerships),
        operations=_address(addresses, "operations", defaults.addresses.operations),
        daemon_id_domain=addresses.take("daemon_id_domain", str, defaults.addresses.daemon_id_domain),
    )
    addresses.finish()

    source_kind = source.choice("kind", SOURCE_KINDS, defaults.source.kind)
    since = _date(source, "since")
    source_path = _path(base, source.take("path", str, None)) or defaults.source.path
    sent_folders = source.take("sent_folders", list, [])
    if not all(isinstance(folder, str) and folder for folder in sent_folders):
        raise ConfigError("[source] sent_folders: expected a list of folder names")
    imap = _imap(source, base) if source_kind == "imap" else None
    source.finish()

    lead_backend = leads.choice("backend", LEAD_BACKENDS, defaults.lead_backend)
    airtable_table = leads.data.pop("airtable", None)
    if lead_backend == "airtable" and airtable_table is None:
        raise ConfigError("[leads.airtable] is required with backend = \"airtable\" (base_id, token_file, ...)")
    seed = leads.take("seed_csv", str, None)
    # The example leads belong to the demo (no config file) only: a real set-up seeds what it names, or nothing.
    seed_csv = _path(base, seed) if seed is not None else (defaults.leads_seed_csv if source_file is None else None)
    leads.finish()

    min_confidence = rules.take("min_confidence", float, defaults.min_confidence)
    if not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"[rules] min_confidence: {min_confidence} is not between 0 and 1")
    per_lead = rules.take("max_forwards_per_lead", int, defaults.max_forwards_per_lead)
    per_sender = rules.take("max_forwards_per_sender", int, defaults.max_forwards_per_sender)
    if per_lead < 1 or per_sender < 1:
        raise ConfigError("[rules] max_forwards_per_lead / max_forwards_per_sender: at least 1")
    rules.finish()

    send_kind = send.choice("kind", SEND_KINDS, defaults.send_kind)
    smtp = None
    if send_kind == "smtp":
        server = _server(send, base, kind="smtp", default_port={"ssl": 465, "starttls": 587, "none": 25})
        envelope_from = _address(send, "envelope_from", built_addresses.partnerships)
        smtp = SmtpConfig(server=server, envelope_from=envelope_from)
    send.finish()

    currency = invoice.take("currency", str, defaults.currency)
    # Invented example spend must never reach a real invoice: with a config file, only the folder it names.
    spend_dir = _path(base, invoice.take("spend_dir", str, None)) or (defaults.spend_dir if source_file is None
                                                                      else None)
    first_month = invoice.take("first_month", str, None)
    if first_month is not None and not re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", first_month):
        raise ConfigError(f"[invoice] first_month: {first_month!r} is not YYYY-MM")
    schedule = parse_invoice_schedule({k: invoice.data.pop(k) for k in ("send_on", "at", "timezone",
                                                                        "affirmation_days") if k in invoice.data})
    invoice_airtable = invoice.data.pop("airtable", None)
    invoice.finish()
    if lead_backend != "airtable" and invoice_airtable is not None:
        raise ConfigError("[invoice.airtable] is only used with [leads] backend = \"airtable\"")

    return Config(
        state_dir=state_dir,
        rules_dir=rules_dir,
        templates_dir=templates_dir,
        addresses=built_addresses,
        source=SourceConfig(kind=source_kind, path=source_path, imap=imap, since=since),
        lead_backend=lead_backend,
        airtable_table=airtable_table if lead_backend == "airtable" else None,
        invoice_airtable_table=(invoice_airtable or {}) if lead_backend == "airtable" else None,
        base_dir=base,
        leads_seed_csv=seed_csv,
        send_kind=send_kind,
        smtp=smtp,
        min_confidence=min_confidence,
        max_forwards_per_lead=per_lead,
        max_forwards_per_sender=per_sender,
        max_message_bytes=max_bytes,
        max_attempts=max_attempts,
        record_batch=record_batch,
        retry_base_seconds=retry_base,
        uncertain_grace_seconds=grace,
        currency=currency,
        tiers=_tiers(tiers_data) if tiers_data is not None else defaults.tiers,
        invoice_schedule=schedule,
        spend_dir=spend_dir,
        first_invoice_month=first_month,
        trust=trust,
        handoff=handoff,
        digest=digest,
        sent_folders=tuple(sent_folders),
        log_format=log_format,
        source_file=source_file,
        database_url=database_url,
        database_url_secret=SecretRef(key="[daemon] database_url", file=url_file) if url_file else None,
    )


def _date(section: Section, key: str) -> date | None:
    """A TOML date (since = 2026-11-01) or the same as a string."""
    value = section.data.pop(key, None)
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) else _bad_date(section, key, value)
    except ValueError:
        return _bad_date(section, key, value)


def _bad_date(section: Section, key: str, value: Any) -> date:
    raise ConfigError(f"[{section.name}] {key}: {value!r} is not a date (YYYY-MM-DD)")


def _address(section: Section, key: str, default: str) -> str:
    value = section.take(key, str, default).strip().lower()
    if value.count("@") != 1 or value.startswith("@") or value.endswith("@"):
        raise ConfigError(f"[{section.name}] {key}: {value!r} is not an e-mail address")
    return value


def _tiers(data: Any) -> tuple[Tier, ...]:
    if not isinstance(data, dict) or not data:
        raise ConfigError("[tiers] must hold at least one [tiers.NAME] table with a fee")
    tiers = []
    for name, table in data.items():
        section = Section(f"tiers.{name}", table)
        raw_fee = section.data.pop("fee", None)
        section.finish()
        # Floats would round money; accept only exact forms.
        if isinstance(raw_fee, bool) or not isinstance(raw_fee, str | int):
            raise ConfigError(f"[tiers.{name}] fee: expected a decimal string such as \"1500.00\", got {raw_fee!r}")
        try:
            fee = Decimal(str(raw_fee))
        except InvalidOperation:
            raise ConfigError(f"[tiers.{name}] fee: {raw_fee!r} is not a decimal amount") from None
        if not fee.is_finite() or fee < 0:
            raise ConfigError(f"[tiers.{name}] fee: {raw_fee!r} must be a non-negative amount")
        tiers.append(Tier(name.lower(), fee))
    return tuple(tiers)


def _server(section: Section, base: Path, *, kind: str, default_port: dict[str, int]) -> ServerConfig:
    host = section.take("host", str, None)
    if not host:
        raise ConfigError(f"[{section.name}] host: required for kind = {kind}")
    tls = section.choice("tls", TLS_MODES, "ssl")
    if tls == "none" and host not in LOOPBACK_HOSTS:
        # Passwords and mail would cross the network in clear text.
        raise ConfigError(f"[{section.name}] tls = \"none\" is only allowed for a loopback host, not {host!r}")
    port = section.take("port", int, default_port[tls])
    if not 0 < port < 65536:
        raise ConfigError(f"[{section.name}] port: {port} is not a TCP port")
    username = section.take("username", str, None)
    auth = section.choice("auth", AUTH_KINDS, "password")
    oauth = _oauth(section, base, auth, username) if auth != "password" else None
    password_file = section.take("password_file", str, None)
    password_env = section.take("password_env", str, f"PARTNERSHIPS_{kind.upper()}_PASSWORD")
    password = None
    if username and oauth is None:
        password = SecretRef(key=f"[{section.name}] password", file=credential_path(base, password_file),
                             env=None if password_file else password_env)
    timeout = section.take("timeout", float, 60.0)
    return ServerConfig(host=host, port=port, tls=tls, username=username, password=password, timeout=timeout,
                        oauth=oauth)


def _oauth(section: Section, base: Path, auth: str, username: str | None) -> OAuthConfig:
    if not username:
        raise ConfigError(f"[{section.name}] username: required with auth = {auth!r} (the mailbox to log in as)")
    provider = auth.removeprefix("oauth2-")
    mechanism = section.choice("oauth_mechanism", ("xoauth2", "oauthbearer"), "xoauth2")
    token_file = credential_path(base, section.take("oauth_token_file", str, None))
    service_account = credential_path(base, section.take("oauth_service_account_file", str, None))
    token_uri = section.take("oauth_token_uri", str, None)
    client_id = section.take("oauth_client_id", str, None)
    secret_file = section.take("oauth_client_secret_file", str, None)
    secret_env = section.take("oauth_client_secret_env", str, None)
    tenant = section.take("oauth_tenant", str, "organizations")
    authority = section.take("oauth_authority", str, None)
    margin = section.take("oauth_refresh_margin_seconds", float, 300.0)
    for key, url in (("oauth_token_uri", token_uri), ("oauth_authority", authority)):
        if url is not None and not (url.startswith("https://") or _loopback_http(url)):
            raise ConfigError(f"[{section.name}] {key}: {url!r} must be an https:// URL")
    if provider == "google":
        if client_id or secret_file or secret_env or authority:
            raise ConfigError(f"[{section.name}] oauth_client_id/oauth_client_secret_*/oauth_authority are for "
                              "auth = \"oauth2-microsoft\"; Google's client is in the token file")
        return OAuthConfig(provider, mechanism, token_file=token_file, service_account_file=service_account,
                           token_uri=token_uri, refresh_margin_seconds=margin)
    if not client_id:
        raise ConfigError(f"[{section.name}] oauth_client_id: required with auth = \"oauth2-microsoft\"")
    if service_account or token_uri:
        raise ConfigError(f"[{section.name}] oauth_service_account_file/oauth_token_uri are for auth = "
                          "\"oauth2-google\"; Microsoft uses oauth_authority")
    secret = None
    if secret_file or secret_env:
        secret = SecretRef(key=f"[{section.name}] oauth_client_secret", file=credential_path(base, secret_file),
                           env=None if secret_file else secret_env)
    return OAuthConfig(provider, mechanism, token_file=token_file, client_id=client_id, client_secret=secret,
                       tenant=tenant, authority=authority, refresh_margin_seconds=margin)


def _loopback_http(url: str) -> bool:
    """Plain http only to this machine (a local token server, tests): tokens must not cross a network in clear."""
    return any(url.startswith(f"http://{host}:") or url.startswith(f"http://{host}/") for host in LOOPBACK_HOSTS)


# Where the systemd unit's LoadCredential= lines read the secrets from; outside systemd a bare name is looked up
# here too (PARTNERSHIPS_CREDENTIALS_DIRECTORY overrides it), so the same config works in both.
CREDENTIALS_DIR = Path("/etc/partnerships-daemon/credentials")


def credential_path(base: Path, value: str | None) -> Path | None:
    """A bare name: $CREDENTIALS_DIRECTORY/NAME (systemd), else the documented credentials directory when it holds
    NAME, else the config file's directory. A path with a slash: relative to the config file's directory."""
    if value is None:
        return None
    if "/" in value:
        return _path(base, value)
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials:
        return Path(credentials) / value
    documented = Path(os.environ.get("PARTNERSHIPS_CREDENTIALS_DIRECTORY") or CREDENTIALS_DIR) / value
    if documented.is_file():
        return documented
    return _path(base, value)


def _imap(section: Section, base: Path) -> ImapConfig:
    server = _server(section, base, kind="imap", default_port={"ssl": 993, "starttls": 143, "none": 143})
    if not server.username:
        raise ConfigError("[source] username: required for kind = imap")
    folders = section.take("folders", list, ["INBOX"])
    if not folders or not all(isinstance(f, str) and f for f in folders):
        raise ConfigError("[source] folders: expected a non-empty list of folder names")
    batch_size = section.take("batch_size", int, ImapConfig.batch_size)
    if not 1 <= batch_size <= 1000:
        raise ConfigError(f"[source] batch_size: {batch_size} is not between 1 and 1000")
    renew = section.take("idle_renew_seconds", float, 600.0)
    if not 1 <= renew <= 29 * 60:
        raise ConfigError(f"[source] idle_renew_seconds: {renew} must be between 1 and 1740 (RFC 2177: 29 minutes)")
    poll = section.take("poll_seconds", float, 60.0)
    if poll <= 0:
        raise ConfigError(f"[source] poll_seconds: {poll} must be positive")
    auth_retry = section.take("auth_retry_seconds", float, 60.0)
    if not 0 < auth_retry <= 3600:
        raise ConfigError(f"[source] auth_retry_seconds: {auth_retry} must be between 0 and 3600")
    return ImapConfig(server=server, folders=tuple(folders), batch_size=batch_size, idle_renew_seconds=renew,
                      poll_seconds=poll, auth_retry_seconds=auth_retry)
