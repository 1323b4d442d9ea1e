"""The desk's long-lived parts: the runtime (state, leads, executor), the HTML templates, the sign-in limiter, and
the one place where the web carries out queued actions."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from daemon.actions.executor import Outcome
from daemon.core.lead import Lead
from daemon.core.rules import OTHER, load_rules
from daemon.pipeline import retry_quarantined
from daemon.runtime import Runtime, make_pipeline
from daemon.service.lock import writer
from daemon.state import accounts, ledger
from daemon.state.accounts import SignedIn
from daemon.web.auth import LoginLimiter, WebSettings, sso_identity

log = logging.getLogger("daemon.web")
TEMPLATES = Path(__file__).parent / "templates"
# Leads from Airtable are read at most this often (5 requests/s per base); the SQLite table is read every time.


def make_environment() -> jinja2.Environment:
    """HTML templates shipped with the package; every variable is escaped (message content is hostile)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


class Desk:
    def __init__(self, runtime: Runtime, settings: WebSettings) -> None:
        self.runtime = runtime
        self.config = runtime.config
        self.sessions = runtime.sessions
        self.settings = settings
        self.env = make_environment()
        self.limiter = LoginLimiter(settings.login_failures, settings.login_window_seconds)
        # What "Change intent…" offers: every intent a rule can give, and "other" (none of them).
        self.intents = tuple(sorted({OTHER, *(rule.intent for rule in load_rules(self.config.rules_dir).rules)}))
        self._execute_lock = threading.Lock()
        self._leads_lock = threading.Lock()
        self._leads: tuple[float, dict[str, Lead]] | None = None

    # -- who is asking ----------------------------------------------------------------------------------

    def identify(self, request: Request) -> tuple[SignedIn | None, bool]:
        """(the signed-in person, whether a new session cookie must be sent)."""
        peer = request.client.host if request.client else None
        token = request.cookies.get(self.settings.cookie_name, "")
        current = accounts.find_session(self.sessions, token) if token else None
        sso_user = sso_identity(self.settings, peer, request.headers.get(self.settings.sso_header or "")
                                if self.settings.sso_header else None)
        if sso_user is None:
            return current, False
        if current is not None and current.user == sso_user:
            return current, False
        # The proxy names someone else than the cookie (or no cookie yet): a session of their own, for CSRF.
        return accounts.start_session(self.sessions, sso_user, self.settings.session_lifetime), True

    def set_cookie(self, response: Response, signed_in: SignedIn) -> None:
        response.set_cookie(self.settings.cookie_name, signed_in.token, httponly=True,
                            secure=not self.settings.insecure_cookie, samesite="lax", path="/",
                            max_age=int(self.settings.session_lifetime.total_seconds()))

    # -- pages ------------------------------------------------------------------------------------------

    def render(self, name: str, status_code: int = 200, **variables: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**variables), status_code=status_code)

    def leads(self) -> dict[str, Lead]:
        ttl = self.runtime.leads.read_reuse_seconds
        with self._leads_lock:
            if self._leads is not None and time.monotonic() - self._leads[0] < ttl:
                return self._leads[1]
            leads = {lead.id: lead for lead in self.runtime.leads.all()}
            self._leads = (time.monotonic(), leads)
            return leads

    # -- acting -----------------------------------------------------------------------------------------

    def execute_queued(self) -> list[Outcome] | None:
        """Carry out the queued actions now, unless another process holds the state (the running daemon: it
        does them on its next tick; None), so two processes never execute the outbox at once."""
        with self._execute_lock, writer(self.config.state_dir, "web") as lock:
            if not lock.held:
                log.info("queued actions left to the process holding the state")
                return None
            try:
                outcomes = self.runtime.executor.run_pending()
            except Exception:  # the decision is recorded; its actions stay queued for the next try
                log.exception("carrying out queued actions failed; they stay pending")
                return None
            self._leads = None
        return outcomes

    def retry_quarantined(self, entry_id: int) -> bool | None:
        """Run a quarantined message through the whole pipeline again, as `partnerships quarantine retry` does;
        None when there is no such entry, else whether it left the quarantine."""
        if ledger.quarantined_entry(self.sessions, entry_id) is None:
            return None
        with self._execute_lock, writer(self.config.state_dir, "web") as lock:
            pipeline = make_pipeline(self.runtime, dry_run=False, execute=lock.held)
            processed = retry_quarantined(pipeline, entry_id)
            pipeline.execute()
            self._leads = None
        return processed


def lead_names(leads: Mapping[str, Lead]) -> dict[str, str]:
    return {lead_id: lead.name for lead_id, lead in leads.items()}
