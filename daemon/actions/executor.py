"""Carry out recorded actions from the outbox, each at most once: which actions are due, in what order (new leads
first, moves in batches where the backend writes several per request), retries with a cap, the pause after a
refused mail login, and sends a crash interrupted. What each kind does is its handler's (daemon.actions.registry);
every outbox row is read and written through daemon.state.outbox."""

from __future__ import annotations

import logging
import os
import smtplib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from daemon.actions import lead_handlers, mail_handlers  # noqa: F401  (importing registers their handlers)
from daemon.actions.context import ActionSettings, InvoiceBook
from daemon.actions.lead_handlers import lead_created, move_reason, new_lead, record_end, scheduled_end
from daemon.actions.registry import handler_for
from daemon.core.kinds import LEAD_KINDS, SENDING_KINDS, ActionKind
from daemon.core.lead import Lead
from daemon.core.notes import NoteRenderer
from daemon.errors import ActionError, DaemonError
from daemon.invoicing.spend import SpendSource
from daemon.io.send import Outgoing, Sender
from daemon.io.tokens import TokenError
from daemon.leads.base import BatchingLeadStore, LeadStore, StatusChange
from daemon.state import outbox
from daemon.state.models import DONE, FAILED, PENDING, Sessions, get_meta, set_meta, utcnow
from daemon.state.queries import SMTP_KEY

log = logging.getLogger("daemon.actions.executor")

SCHEDULED = "scheduled"  # an outcome only: the action stays pending until its date


@dataclass
class LoginPause:
    """Sending paused after the mail server refused our login: 60 s, doubling per refusal, up to an hour."""

    base: float = 60.0
    cap: float = 3600.0
    refusals: int = 0
    until: datetime | None = None
    reason: str | None = None
    changed: bool = False  # whether the last refusal had a new reason (reported once per change)
    cleared: bool = False  # a message went out since the process started: nothing left to clear

    def refused(self, reason: str, now: datetime) -> float:
        self.refusals += 1
        delay = min(self.cap, self.base * 2 ** (self.refusals - 1))
        self.until = now + timedelta(seconds=delay)
        self.changed, self.reason = reason != self.reason, reason
        return delay

    def reset(self) -> None:
        self.refusals, self.until, self.reason, self.changed = 0, None, None, False
        self.cleared = False


@dataclass(frozen=True)
class Outcome:
    key: str
    kind: str
    status: str
    detail: str


@dataclass
class Executor:
    sessions: Sessions
    leads: LeadStore
    sender: Sender
    renderer: NoteRenderer
    settings: ActionSettings
    spend: SpendSource
    invoice_book: InvoiceBook | None = None
    clock: Callable[[], datetime] = utcnow
    changed_leads: dict[str, Lead] = field(default_factory=dict)
    created_keys: dict[str, str] = field(default_factory=dict)  # create_lead key -> lead id
    # Tells this process's own in-flight sends from those a crashed process left behind.
    instance: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    alerts_recorded: int = 0  # permanent failures told to partnerships@ since the last pass
    # A fresh sender (the password read again) after the mail server refused our login.
    sender_factory: Callable[[], Sender] | None = None
    login_pause: LoginPause = field(default_factory=lambda: LoginPause())

    def run_pending(self) -> list[Outcome]:
        """Execute every due pending action in the order it was recorded; alerts raised meanwhile go out too."""
        outcomes = self._run_due()
        while self.alerts_recorded:
            self.alerts_recorded = 0
            outcomes += self._run_due()
        return outcomes

    def _run_due(self) -> list[Outcome]:
        self._settle_interrupted_sends()
        due = outbox.due(self.sessions, self.clock())
        scheduled = [Outcome(key, kind, SCHEDULED, detail) for action_id, kind, key in due
                     if kind == ActionKind.SET_STATUS and (detail := scheduled_end(self, action_id)) is not None]
        later = {outcome.key for outcome in scheduled}
        return scheduled + self._dispatch([(action_id, kind) for action_id, kind, key in due if key not in later])

    def _dispatch(self, due: list[tuple[int, str]]) -> list[Outcome]:
        if self.login_pause.until is not None:
            if self.clock() < self.login_pause.until:
                # The mail server refused our login: no message is tried until the pause is over.
                due = [(action_id, kind) for action_id, kind in due if kind not in SENDING_KINDS]
            elif self.sender_factory is not None:
                try:
                    self.sender = self.sender_factory()  # the password file may have been fixed meanwhile
                except DaemonError as exc:
                    log.warning("smtp password cannot be read again, trying the one read before: %s", exc)
        # New leads first, so that the moves and forwards naming them do not have to wait for a retry.
        creates = [action_id for action_id, kind in due if kind == ActionKind.CREATE_LEAD]
        rest = [action_id for action_id, kind in due if kind != ActionKind.CREATE_LEAD]
        if not isinstance(self.leads, BatchingLeadStore):
            return [self._execute(action_id) for action_id in creates + rest]
        outcomes = self._execute_creates_in_batches(creates)
        outcomes += self._execute_moves_in_batches([i for i, kind in due if kind == ActionKind.SET_STATUS])
        return outcomes + [self._execute(action_id) for action_id, kind in due
                           if kind not in (ActionKind.CREATE_LEAD, ActionKind.SET_STATUS)]

    def _execute_creates_in_batches(self, action_ids: list[int]) -> list[Outcome]:
        """New leads for a backend that creates several records per request."""
        assert isinstance(self.leads, BatchingLeadStore)
        if not action_ids:
            return []
        rows = {row.key: row for row in (outbox.row(self.sessions, i) for i in action_ids)}
        results = self.leads.create_many({key: new_lead(row.payload) for key, row in rows.items()})
        outcomes = []
        for key, row in rows.items():
            result = results.get(key) or ActionError("no answer for this lead", retryable=True)
            if isinstance(result, ActionError):
                outcomes.append(self._failed(row.id, key, row.kind, row.attempts + 1, str(result), result.retryable))
                continue
            detail = lead_created(self, key, result)
            self._mark_done(key, detail, row.attempts + 1)
            outcomes.append(Outcome(key, row.kind, DONE, ", ".join(f"{k}={v}" for k, v in detail.items())))
        return outcomes

    def _execute_moves_in_batches(self, action_ids: list[int]) -> list[Outcome]:
        """Status moves for a backend that writes several records per request (Airtable: 10)."""
        assert isinstance(self.leads, BatchingLeadStore)
        outcomes: list[Outcome] = []
        changes: dict[str, tuple[int, int, StatusChange]] = {}
        for row in (outbox.row(self.sessions, action_id) for action_id in action_ids):
            try:
                lead_id = self.lead_id(row.payload["lead"])
            except ActionError as exc:
                outcomes.append(self._failed(row.id, row.key, row.kind, row.attempts + 1, str(exc), exc.retryable))
                continue
            changes[row.key] = (row.id, row.attempts, StatusChange(row.key, lead_id, row.payload["to"],
                                                                    move_reason(row.payload)))
        if not changes:
            return outcomes
        results = self.leads.apply_status_changes([change for _, _, change in changes.values()])
        for key, (action_id, attempts, change) in changes.items():
            result = results.get(key) or ActionError("no answer for this change", retryable=True)
            if isinstance(result, ActionError):
                outcomes.append(self._failed(action_id, key, ActionKind.SET_STATUS, attempts + 1, str(result),
                                             result.retryable))
                continue
            self.changed_leads[result.id] = result
            record_end(self, key, change.lead_id)
            self._mark_done(key, {"lead_id": change.lead_id, "status": result.status}, attempts + 1)
            outcomes.append(Outcome(key, ActionKind.SET_STATUS, DONE,
                                    f"lead_id={change.lead_id}, status={result.status}"))
        return outcomes

    def _execute(self, action_id: int) -> Outcome:
        row = outbox.row(self.sessions, action_id)
        kind, key, payload, attempts = row.kind, row.key, dict(row.payload), row.attempts
        try:
            result = handler_for(kind)(self, key, payload)
        except (ActionError, DaemonError) as exc:
            if isinstance(exc.__cause__, (smtplib.SMTPAuthenticationError, TokenError)):  # not the message's fault
                return self._login_refused(action_id, key, kind, str(exc))
            retryable = getattr(exc, "retryable", False)
            return self._failed(action_id, key, kind, attempts + 1, str(exc), retryable)
        except Exception as exc:  # an unexpected bug must not stop the queue; retry capped
            log.exception("action failed unexpectedly key=%s", key)
            return self._failed(action_id, key, kind, attempts + 1, f"{type(exc).__name__}: {exc}", True)
        self._mark_done(key, result, attempts + 1)
        detail = ", ".join(f"{k}={v}" for k, v in result.items())
        log.info("action done kind=%s key=%s %s", kind, key, detail)
        return Outcome(key, kind, DONE, detail)

    def _login_refused(self, action_id: int, key: str, kind: str, error: str) -> Outcome:
        """A refused SMTP login is not this message's fault: it stays pending, without using up its attempts, and
        all sending pauses, 60 s doubling up to an hour (a provider locks an account that keeps failing)."""
        now = self.clock()
        delay = self.login_pause.refused(error, now)
        assert self.login_pause.until is not None
        detail = f"{error}; all sending paused until {self.login_pause.until:%Y-%m-%d %H:%M:%S} UTC"
        outbox.hold(self.sessions, action_id, self.login_pause.until, detail, now)
        if self.login_pause.changed:
            log.error("smtp login refused: %s; sending paused for %.0f s (reported again only when this changes)",
                      error, delay)
            set_meta(self.sessions, {SMTP_KEY: f"login refused since {now:%Y-%m-%d %H:%M:%S} UTC: {error}"})
        else:
            log.debug("smtp login refused again: %s; sending paused for %.0f s", error, delay)
        return Outcome(key, kind, PENDING, detail)

    def _settle_interrupted_sends(self) -> None:
        """A send left `sending` by a dead process may have reached the server: wait for its copy first.

        Every message we send is Cc'd to partnerships@, so a delivered one comes back into the watched
        mailbox, where `confirm_delivered` marks it done; `resend_unconfirmed` sends the others again.
        """
        outbox.settle_interrupted(self.sessions, self.instance, self.clock(),
                                  timedelta(seconds=self.settings.uncertain_grace_seconds))

    def resend_unconfirmed(self, pass_started: datetime) -> int:
        """After a complete pass over the mailbox that began after the grace period: no copy came back,
        so the message never left; send it again (same Message-ID, so a duplicate stays recognisable)."""
        expired = outbox.resend_unconfirmed(self.sessions, pass_started, self.clock())
        if expired:
            log.warning("resending %d message(s) interrupted by a crash whose copy never came back", expired)
        return expired

    def confirm_delivered(self, key: str) -> bool:
        """Our own message came back (Cc partnerships@): it was delivered, whatever the outbox thought."""
        confirmed = outbox.confirm_delivered(self.sessions, key, self.clock())
        if confirmed:
            log.warning("delivery confirmed by its copy key=%s: not sending it again", key)
        return confirmed

    def _mark_done(self, key: str, result: dict[str, Any], attempts: int) -> None:
        outbox.complete(self.sessions, key, result, attempts, self.clock())
        if result.get("sent_to") and (self.login_pause.until is not None or not self.login_pause.cleared):
            # The first message out (in this process, or after a pause) clears a refusal `status` still shows.
            if self.login_pause.reason or get_meta(self.sessions, SMTP_KEY).get(SMTP_KEY, "ok") != "ok":
                log.warning("smtp login works again after: %s", self.login_pause.reason or "an earlier refusal")
                set_meta(self.sessions, {SMTP_KEY: "ok"})
            self.login_pause.reset()
            self.login_pause.cleared = True

    def deliver(self, outgoing: Outgoing, extra: dict[str, Any]) -> dict[str, Any]:
        """Send, recording `done` the moment the message has left, not after the connection is closed."""
        attempts = outbox.claim_send(self.sessions, outgoing.key, self.instance, self.clock())
        where = self.sender.send(outgoing, lambda where: self._mark_done(
            outgoing.key, {"sent_to": where, **extra}, attempts + 1))
        return {"sent_to": where, **extra}

    def sent_date(self, key: str) -> datetime:
        """The Date header: when the action was recorded, so a resent message is byte for byte the same."""
        return (outbox.created_at(self.sessions, key) or self.clock()).replace(tzinfo=UTC)

    def _failed(self, action_id: int, key: str, kind: str, attempts: int, error: str,
                retryable: bool) -> Outcome:
        give_up = not retryable or attempts >= self.settings.max_attempts
        delay = timedelta(seconds=min(3600.0, self.settings.retry_base_seconds * 2 ** (attempts - 1)))
        # A change the leads table refuses (renamed field, deleted record, unknown status) needs a person: it
        # goes to the review queue, where approving tries it again after the fix.
        if outbox.fail(self.sessions, action_id, attempts=attempts, error=error, give_up=give_up,
                       retry_at=self.clock() + delay, now=self.clock(),
                       to_review=not retryable and kind in LEAD_KINDS):
            self.alerts_recorded += 1
            log.error("alert recorded for partnerships@ about key=%s", key)
        status = FAILED if give_up else PENDING
        log.log(logging.ERROR if give_up else logging.WARNING, "action %s kind=%s key=%s attempts=%d error=%s",
                status, kind, key, attempts, error)
        return Outcome(key, kind, status, error)

    def lead_id(self, reference: str) -> str:
        """A lead made by an earlier action is referred to as new:<its key> until that action is done."""
        if not reference.startswith("new:"):
            return reference
        create = outbox.by_key(self.sessions, reference[4:])
        if create is None:
            raise ActionError(f"no action {reference[4:]} creates this lead", retryable=False)
        if create.status != DONE:
            raise ActionError(f"waiting for {reference[4:]} ({create.status})", retryable=create.status == PENDING)
        return str(create.result["lead_id"])
