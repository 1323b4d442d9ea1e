"""What `partnerships check` verifies beyond parsing: every template rendered with a representative context, and
(with --live) a login to the configured IMAP, SMTP and Airtable with the configured credentials."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from daemon.core.digest import FailedAction, OpenReview, digest_variables
from daemon.core.lead import ACTIVE_LEAD, ACTIVE_SERVICE, Lead
from daemon.core.notes import REQUIRED_TEMPLATES, NoteRenderer
from daemon.errors import DaemonError
from daemon.invoicing.batch import EvidenceFact, batch_variables, build_batch
from daemon.invoicing.spend import SpendRow
from daemon.settings import Config

SAMPLE_MONTH = "2026-10"


def forward_sample(intent: str, label: str) -> dict[str, Any]:
    """The variables a forward note gets (daemon.core.decide builds the real ones), with every optional value
    present, so that a name the template uses and the daemon never provides fails here and not at send time."""
    return {
        "intent": intent, "intent_label": label, "community": "Westbrook University", "status_before": ACTIVE_LEAD,
        "status_after": "Needs Admin", "tier": "medium", "price": "3000.00", "month": SAMPLE_MONTH,
        "month_stated": True, "rule": "confirm-tier-at-price", "matched": ["go ahead with"], "confidence": 0.95,
        "original_from": "maria.chen@westbrook.edu", "original_from_name": "Maria Chen",
        "original_date": "2026-10-06T15:00:00+00:00", "original_subject": "Re: Hub service",
        "original_message_id": "sample@westbrook.edu", "attachments": ["signed-agreement.pdf"],
        "new_text": "We would like to go ahead with the Medium tier at $3,000 per month.",
        "new_hub_url": "https://github.com/2i2c-org/infrastructure/issues/new?template=new-hub.yml",
        "approved_by": "sam", "start_date": "2026-12-01", "billing_contact": "ap@westbrook.edu",
        "flag": "Could someone take a look at the login page?",
    }


def _batch_sample(config: Config) -> dict[str, Any]:
    """A batch with a ready line, a line that is not ready and a problem, so every branch renders."""
    leads = [Lead("1", "Westbrook University", ACTIVE_SERVICE, service_tier="medium",
                  monthly_fee=Decimal("3000.00"), cloud_billing_managed=True),
             Lead("2", "Lakeside Lab", ACTIVE_SERVICE)]
    evidence = [EvidenceFact("1", "affirmation", "a@westbrook.edu", datetime(2026, 11, 2), month=SAMPLE_MONTH)]
    spend = [SpendRow("Westbrook University", Decimal("412.30"), config.currency, "sample.csv", 2)]
    batch = build_batch(SAMPLE_MONTH, leads, evidence, spend, config.tiers, config.currency,
                        problems=("sample problem: no cloud spend file",))
    return batch_variables(batch, correction="sample reason: a fee was wrong")


def _digest_sample(config: Config) -> dict[str, Any]:
    leads = [Lead("1", "Westbrook University", ACTIVE_SERVICE), Lead("2", "Lakeside Lab", ACTIVE_LEAD)]
    return digest_variables(leads, {"1": datetime(2026, 11, 2)}, set(), set(),
                            [OpenReview("Lakeside Lab", "decline", "sample reason", datetime(2026, 11, 1))],
                            date(2026, 11, 23), config.digest,
                            [FailedAction(3, "forward", "forward:sample@x:contract", "sample error")],
                            {"imap": "refresh failing since 2026-11-20 08:00:00 UTC for a@x (google): sample"})


def sample_contexts(config: Config) -> dict[str, dict[str, Any]]:
    """A representative context for every template the daemon renders."""
    return {
        "forward_service_confirmation.txt.j2": forward_sample("service_confirmation", "Service confirmation"),
        "forward_delivery_affirmation.txt.j2": forward_sample("delivery_affirmation", "Delivery affirmation"),
        "forward_contract.txt.j2": forward_sample("contract", "Contract"),
        "invoice_batch.txt.j2": _batch_sample(config),
        "digest.txt.j2": _digest_sample(config),
        "alert_failed_action.txt.j2": {"failed_key": "forward:sample@x:contract", "failed_kind": "forward",
                                       "action_id": 3, "error": "535 5.7.8 sample", "attempts": 1,
                                       "message_id": "sample@x"},
    }


def render_problems(renderer: NoteRenderer, config: Config) -> list[str]:
    """Each template rendered under StrictUndefined; one line per template that fails (e.g. an undefined name)."""
    contexts = sample_contexts(config)
    problems = []
    for name in REQUIRED_TEMPLATES:
        try:
            renderer.render(name, contexts[name])
        except DaemonError as exc:
            problems.append(str(exc))
    return problems


@dataclass(frozen=True)
class LiveResult:
    what: str  # "imap", "smtp", "airtable"
    ok: bool
    detail: str  # never contains a secret

    def line(self) -> str:
        return f"{self.what}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


def live_checks(config: Config) -> list[LiveResult]:
    """Log in wherever the config says the daemon will; nothing is read, changed or sent."""
    results = []
    if config.source.kind == "imap" and config.source.imap is not None:
        results.append(_attempt("imap", lambda: _imap_login(config)))
    if config.send_kind == "smtp" and config.smtp is not None:
        results.append(_attempt("smtp", lambda: _smtp_login(config)))
    if config.lead_backend == "airtable":
        results.append(_attempt("airtable", lambda: _airtable_login(config)))
    return results


def _attempt(what: str, login: Any) -> LiveResult:
    try:
        return LiveResult(what, True, login())
    except DaemonError as exc:
        return LiveResult(what, False, str(exc))
    except Exception as exc:  # any failure to log in is the answer, never a crash
        return LiveResult(what, False, f"{type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _imap_login(config: Config) -> str:
    from daemon.io.imap import ImapSource

    imap = config.source.imap
    assert imap is not None
    source = ImapSource(imap, imap.server.password.resolve() if imap.server.password else "")
    try:
        client = source.connect()
        folders = {name for _flags, _sep, name in client.list_folders()}
    finally:
        source.close()
    missing = [folder for folder in imap.folders if folder not in folders]
    where = f"logged in to {imap.server.host}:{imap.server.port} as {imap.server.username}"
    if missing:
        raise DaemonError(f"{where}, but folder(s) missing: {', '.join(missing)}")
    return f"{where}; folders {', '.join(imap.folders)} present"


def _smtp_login(config: Config) -> str:
    assert config.smtp is not None
    server = config.smtp.server
    wrapped = {"context": ssl.create_default_context()} if server.tls == "ssl" else {}
    client = (smtplib.SMTP_SSL if server.tls == "ssl" else smtplib.SMTP)(
        server.host, server.port, timeout=server.timeout, **wrapped)
    where = f"{server.host}:{server.port}"
    try:
        # starttls() and login() say EHLO themselves when it is due.
        if server.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
        if not server.username:
            client.ehlo_or_helo_if_needed()
            return f"connected to {where} (no username configured: no login)"
        try:
            client.login(server.username, server.password.resolve() if server.password else "")
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                else str(exc.smtp_error)
            raise DaemonError(f"{where} refused the login of {server.username}: {exc.smtp_code} {error}") from None
        return f"logged in to {where} as {server.username}"
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()
        client.close()


def _airtable_login(config: Config) -> str:
    from daemon.leads.airtable.client import Caller, make_api

    airtable = config.airtable
    token = airtable.token.resolve()
    api = make_api(airtable, token=token)
    schema = Caller(airtable, token)(f"read the schema of base {airtable.base_id}",
                                     lambda: api.base(airtable.base_id).schema())
    return f"token accepted by base {airtable.base_id} ({len(schema.tables)} tables)"
