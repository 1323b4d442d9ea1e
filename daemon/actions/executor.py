"""Carry out recorded actions from the outbox table, each at most once, with retries and a retry cap."""

from __future__ import annotations

import logging
import os
import smtplib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.digest import FailedAction, OpenReview, digest_variables
from daemon.core.handoff import new_hub_issue_url
from daemon.core.lead import ACTIVE_SERVICE, INACTIVE_SERVICE, Lead, NewLead
from daemon.core.maniac import EvidencePiece, checklist
from daemon.core.message import MalformedMessage, parse
from daemon.core.notes import NoteRenderer
from daemon.core.stated import billing_contact, flag_sentence
from daemon.core.stated_dates import end_date, start_date
from daemon.errors import ActionError, DaemonError
from daemon.invoicing.render import airtable_invoices, batch_message, invoice_key, render_batch
from daemon.io.send import Outgoing, Sender, build_digest, build_forward, compose
from daemon.io.tokens import TokenError
from daemon.leads.airtable.store import StatusChange
from daemon.leads.base import LeadStore
from daemon.settings import Config
from daemon.state import outbox
from daemon.state.models import (
    DONE,
    FAILED,
    OPEN,
    PENDING,
    UNCERTAIN,
    ActionRow,
    Evidence,
    ManiacRow,
    ReviewItem,
    StoredMessage,
    Thread,
    get_meta,
    naive_utc,
    set_meta,
    utcnow,
)
from daemon.state.queries import SMTP_KEY, oauth_problems
from daemon.state.upsert import insert

log = logging.getLogger("daemon.actions.executor")


LEAD_ACTIONS = ("create_lead", "set_status", "add_note", "add_contact")
SCHEDULED = "scheduled"  # an outcome only: the action stays pending until its date
SENDING_KINDS = ("forward", "send_invoice", "send_digest", "send_alert")
DIGEST_TEMPLATE = "digest.txt.j2"
ALERT_TEMPLATE = "alert_failed_action.txt.j2"


@runtime_checkable
class BatchingLeadStore(LeadStore, Protocol):
    """A backend that can write many status moves per request."""

    def apply_status_changes(self, changes: Sequence[StatusChange]) -> dict[str, Lead | ActionError]: ...

    def create_many(self, leads: Mapping[str, NewLead]) -> dict[str, Lead | ActionError]: ...


def _new_lead(payload: dict[str, Any]) -> NewLead:
    return NewLead(name=payload["name"], contact_emails=tuple(payload["contact_emails"]),
                   domain=payload.get("domain"), status=payload["status"])


def _move_reason(payload: dict[str, Any]) -> str:
    message = f" on message <{payload['message_id']}>" if payload.get("message_id") else ""
    return f"rule {payload['rule']}{message}"


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
    sessions: sessionmaker[Session]
    leads: LeadStore
    sender: Sender
    renderer: NoteRenderer
    config: Config
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
        with self.sessions() as session:
            due = list(session.execute(
                select(ActionRow.id, ActionRow.kind).where(ActionRow.status == PENDING,
                                                           ActionRow.next_attempt_at <= self.clock())
                .order_by(ActionRow.id)))
        scheduled = [outcome for action_id, kind in due if kind == "set_status"
                     and (outcome := self._scheduled(action_id)) is not None]
        later = {outcome.key for outcome in scheduled}
        if later:
            with self.sessions() as session:
                keys = dict(session.execute(select(ActionRow.id, ActionRow.key)
                                            .where(ActionRow.id.in_([i for i, _ in due]))).all())
            due = [(action_id, kind) for action_id, kind in due if keys[action_id] not in later]
        return scheduled + self._dispatch(due)

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
        return self._dispatch_now(due)

    def _dispatch_now(self, due: list[tuple[int, str]]) -> list[Outcome]:
        # New leads first, so that the moves and forwards naming them do not have to wait for a retry.
        creates = [action_id for action_id, kind in due if kind == "create_lead"]
        rest = [action_id for action_id, kind in due if kind != "create_lead"]
        if not isinstance(self.leads, BatchingLeadStore):
            return [self._execute(action_id) for action_id in creates + rest]
        outcomes = self._execute_creates_in_batches(creates)
        outcomes += self._execute_moves_in_batches([action_id for action_id, kind in due if kind == "set_status"])
        return outcomes + [self._execute(action_id) for action_id, kind in due
                           if kind not in ("create_lead", "set_status")]

    def _execute_creates_in_batches(self, action_ids: list[int]) -> list[Outcome]:
        """New leads for a backend that creates several records per request."""
        assert isinstance(self.leads, BatchingLeadStore)
        if not action_ids:
            return []
        with self.sessions() as session:
            rows = {row.key: row for row in (session.get(ActionRow, i) for i in action_ids) if row is not None}
        results = self.leads.create_many({key: _new_lead(row.payload) for key, row in rows.items()})
        outcomes = []
        for key, row in rows.items():
            result = results.get(key) or ActionError("no answer for this lead", retryable=True)
            if isinstance(result, ActionError):
                outcomes.append(self._failed(row.id, key, row.kind, row.attempts + 1, str(result), result.retryable))
                continue
            detail = self._lead_created(key, result)
            self._mark_done(key, detail, row.attempts + 1)
            outcomes.append(Outcome(key, row.kind, DONE, ", ".join(f"{k}={v}" for k, v in detail.items())))
        return outcomes

    def _execute_moves_in_batches(self, action_ids: list[int]) -> list[Outcome]:
        """Status moves for a backend that writes several records per request (Airtable: 10)."""
        assert isinstance(self.leads, BatchingLeadStore)
        outcomes: list[Outcome] = []
        changes: dict[str, tuple[int, int, StatusChange]] = {}
        with self.sessions() as session:
            rows = [session.get(ActionRow, action_id) for action_id in action_ids]
        for row in rows:
            assert row is not None
            try:
                lead_id = self._lead_id(row.payload["lead"])
            except ActionError as exc:
                outcomes.append(self._failed(row.id, row.key, row.kind, row.attempts + 1, str(exc), exc.retryable))
                continue
            changes[row.key] = (row.id, row.attempts, StatusChange(row.key, lead_id, row.payload["to"],
                                                                    _move_reason(row.payload)))
        if not changes:
            return outcomes
        results = self.leads.apply_status_changes([change for _, _, change in changes.values()])
        for key, (action_id, attempts, change) in changes.items():
            result = results.get(key) or ActionError("no answer for this change", retryable=True)
            if isinstance(result, ActionError):
                outcomes.append(self._failed(action_id, key, "set_status", attempts + 1, str(result),
                                             result.retryable))
                continue
            self.changed_leads[result.id] = result
            self._record_end(key, change.lead_id)
            self._mark_done(key, {"lead_id": change.lead_id, "status": result.status}, attempts + 1)
            outcomes.append(Outcome(key, "set_status", DONE, f"lead_id={change.lead_id}, status={result.status}"))
        return outcomes

    def _execute(self, action_id: int) -> Outcome:
        with self.sessions() as session:
            row = session.get(ActionRow, action_id)
            assert row is not None
            kind, key, payload, attempts = row.kind, row.key, dict(row.payload), row.attempts
        handler = getattr(self, f"_do_{kind}", None)
        try:
            if handler is None:
                raise ActionError(f"unknown action kind {kind!r}", retryable=False)
            result = handler(key, payload)
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
        detail = f"{error}; all sending paused until {self.login_pause.until:%Y-%m-%d %H:%M:%S} UTC"
        with self.sessions.begin() as session:
            session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
                status=PENDING, last_error=detail, updated_at=now, next_attempt_at=self.login_pause.until,
                sending_since=None))
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
        now = self.clock()
        with self.sessions.begin() as session:
            session.execute(update(ActionRow).where(
                ActionRow.status == PENDING, ActionRow.sending_since.is_not(None),
                ActionRow.sending_by != self.instance,
            ).values(status=UNCERTAIN, sending_by=None, updated_at=now,
                     next_attempt_at=now + timedelta(seconds=self.config.uncertain_grace_seconds),
                     last_error="interrupted while sending: waiting for its copy to come back before resending"))

    def resend_unconfirmed(self, pass_started: datetime) -> int:
        """After a complete pass over the mailbox that began after the grace period: no copy came back,
        so the message never left; send it again (same Message-ID, so a duplicate stays recognisable)."""
        with self.sessions.begin() as session:
            expired = session.execute(update(ActionRow).where(
                ActionRow.status == UNCERTAIN, ActionRow.next_attempt_at <= pass_started,
            ).values(status=PENDING, sending_since=None, updated_at=self.clock(), next_attempt_at=self.clock()))
        if expired.rowcount:
            log.warning("resending %d message(s) interrupted by a crash whose copy never came back",
                        expired.rowcount)
        return expired.rowcount

    def confirm_delivered(self, key: str) -> bool:
        """Our own message came back (Cc partnerships@): it was delivered, whatever the outbox thought."""
        with self.sessions.begin() as session:
            confirmed = session.execute(update(ActionRow).where(
                ActionRow.key == key, ActionRow.status.in_((PENDING, UNCERTAIN)), ActionRow.sending_since.is_not(None),
            ).values(status=DONE, last_error=None, updated_at=self.clock(),
                     result={"sent_to": "confirmed by its copy in the mailbox"}))
        if confirmed.rowcount:
            log.warning("delivery confirmed by its copy key=%s: not sending it again", key)
        return bool(confirmed.rowcount)

    def _mark_done(self, key: str, result: dict[str, Any], attempts: int) -> None:
        outbox.complete(self.sessions, key, result, attempts, self.clock())
        if result.get("sent_to") and (self.login_pause.until is not None or not self.login_pause.cleared):
            # The first message out (in this process, or after a pause) clears a refusal `status` still shows.
            if self.login_pause.reason or get_meta(self.sessions, SMTP_KEY).get(SMTP_KEY, "ok") != "ok":
                log.warning("smtp login works again after: %s", self.login_pause.reason or "an earlier refusal")
                set_meta(self.sessions, {SMTP_KEY: "ok"})
            self.login_pause.reset()
            self.login_pause.cleared = True

    def _deliver(self, outgoing: Outgoing, extra: dict[str, Any]) -> dict[str, Any]:
        """Send, recording `done` the moment the message has left, not after the connection is closed."""
        attempts = outbox.claim_send(self.sessions, outgoing.key, self.instance, self.clock())
        where = self.sender.send(outgoing, lambda where: self._mark_done(
            outgoing.key, {"sent_to": where, **extra}, attempts + 1))
        return {"sent_to": where, **extra}

    def _failed(self, action_id: int, key: str, kind: str, attempts: int, error: str,
                retryable: bool) -> Outcome:
        give_up = not retryable or attempts >= self.config.max_attempts
        status = FAILED if give_up else PENDING
        delay = timedelta(seconds=min(3600.0, self.config.retry_base_seconds * 2 ** (attempts - 1)))
        with self.sessions.begin() as session:
            session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
                status=status, attempts=attempts, last_error=error, updated_at=self.clock(),
                next_attempt_at=self.clock() + delay, sending_since=None))
            if give_up:
                row = session.get(ActionRow, action_id)
                if row is not None and outbox.alert_for(session, row, error, self.clock()):
                    self.alerts_recorded += 1
                    log.error("alert recorded for partnerships@ about key=%s", key)
            if not retryable and kind in LEAD_ACTIONS:
                # A change the leads table refuses (renamed field, deleted record, unknown status) needs a
                # person: put it in the review queue, where approving tries it again after the fix.
                row = session.get(ActionRow, action_id)
                session.execute(insert(session, ReviewItem).values(
                    key=f"review:{key}:{self.clock():%Y%m%dT%H%M%S%f}", message_id=row.message_id or key,
                    lead_id=str(row.payload.get("lead", "")) or None, intent=kind,
                    reason=f"{kind} was refused by the leads table: {error}",
                    proposed=[{"kind": kind, "key": key, "payload": row.payload}], created_at=self.clock(),
                ).on_conflict_do_nothing(index_elements=["key"]))
        level = logging.ERROR if give_up else logging.WARNING
        log.log(level, "action %s kind=%s key=%s attempts=%d error=%s", status, kind, key, attempts, error)
        return Outcome(key, kind, status, error)

    def _lead_id(self, reference: str) -> str:
        """A lead made by an earlier action is referred to as new:<its key> until that action is done."""
        if not reference.startswith("new:"):
            return reference
        with self.sessions() as session:
            create = session.scalar(select(ActionRow).where(ActionRow.key == reference[4:]))
        if create is None:
            raise ActionError(f"no action {reference[4:]} creates this lead", retryable=False)
        if create.status != DONE:
            raise ActionError(f"waiting for {reference[4:]} ({create.status})", retryable=create.status == PENDING)
        return str(create.result["lead_id"])

    def _do_create_lead(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._lead_created(key, self.leads.create(_new_lead(payload), key=key))

    def _lead_created(self, key: str, lead: Lead) -> dict[str, Any]:
        """Point everything recorded against the not-yet-created lead at the real one."""
        self.changed_leads[lead.id] = lead
        self.created_keys[key] = lead.id
        with self.sessions.begin() as session:
            for table in (Thread, StoredMessage, ManiacRow):
                session.execute(update(table).where(table.lead_id == f"new:{key}").values(lead_id=lead.id))
        return {"lead_id": lead.id, "name": lead.name}

    def _do_set_status(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        lead_id = self._lead_id(payload["lead"])
        reason = _move_reason(payload)
        lead = self.leads.set_status(lead_id, payload["to"], reason=reason, key=key)
        day = (payload.get("date") or self.clock().isoformat())[:10]
        self.leads.append_note(lead_id, f"{day} partnerships-daemon: {payload['from']} -> {payload['to']} ({reason})",
                               key=key)
        self.changed_leads[lead.id] = lead
        self._record_end(key, lead_id)
        result = {"lead_id": lead_id, "status": lead.status}
        if lead.status == ACTIVE_SERVICE:
            # The seeds' hand-off: a running service is listed in the Active Hubs table, once.
            result["active_hub"] = self.leads.add_active_hub(lead_id, lead.name, key=f"active_hub:{lead_id}")
        return result

    def _do_add_contact(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Only ever proposed in a review item: a person approved this sender as a contact of the lead."""
        lead = self.leads.add_contact(self._lead_id(payload["lead"]), payload["address"], key=key)
        self.changed_leads[lead.id] = lead
        return {"lead_id": lead.id, "contact": payload["address"]}

    def _scheduled(self, action_id: int) -> Outcome | None:
        """A service ending on a stated date moves the status on that date (the month's fee stays billed until
        then): the action waits, pending, until the date; None when it is due now."""
        with self.sessions() as session:
            row = session.get(ActionRow, action_id)
            assert row is not None
            key, payload, message_id = row.key, dict(row.payload), row.message_id
        if payload.get("to") != INACTIVE_SERVICE:
            return None
        if "effective" not in payload:
            payload["effective"] = self._stated_end(message_id)
            with self.sessions.begin() as session:
                session.execute(update(ActionRow).where(ActionRow.id == action_id).values(payload=payload))
        effective = date.fromisoformat(payload["effective"]) if payload["effective"] else None
        if effective is None or effective <= self.clock().date():
            return None
        detail = f"scheduled: takes effect on the stated end date {effective.isoformat()}"
        with self.sessions.begin() as session:
            session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
                next_attempt_at=datetime.combine(effective, time.min), last_error=detail, updated_at=self.clock()))
        log.info("status move scheduled key=%s on=%s", key, effective.isoformat())
        return Outcome(key, "set_status", SCHEDULED, detail)

    def _stated_end(self, message_id: str | None) -> str | None:
        with self.sessions() as session:
            stored = session.scalar(select(StoredMessage).where(StoredMessage.message_id == message_id)) \
                if message_id else None
        if stored is None or stored.raw is None:
            return None
        try:
            message = parse(stored.raw)
        except MalformedMessage:
            return None
        sent = message.date.date() if message.date else stored.received_at.date()
        found = end_date(message.new_text, sent)
        return found.isoformat() if found else None

    def _record_end(self, key: str, lead_id: str) -> None:
        """An ended service is still billed for the month it ended in: evidence the invoice batch reads."""
        with self.sessions() as session:
            row = session.scalar(select(ActionRow).where(ActionRow.key == key))
        if row is None or row.payload.get("to") != INACTIVE_SERVICE:
            return
        ended = row.payload.get("effective") or (row.payload.get("date") or self.clock().isoformat())[:10]
        with self.sessions.begin() as session:
            session.execute(insert(session, Evidence).values(
                lead_id=lead_id, kind="ended", message_id=row.message_id or key,
                date=datetime.fromisoformat(ended), month=ended[:7], month_stated=bool(row.payload.get("effective")),
            ).on_conflict_do_nothing(index_elements=["kind", "message_id"]))

    def _do_add_note(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        lead_id = self._lead_id(payload["lead"])
        self.leads.append_note(lead_id, payload["line"], key=key)
        return {"lead_id": lead_id}

    def _do_record_evidence(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        lead_id = self._lead_id(payload["lead"])
        date = naive_utc(datetime.fromisoformat(payload["date"])) if payload.get("date") else None
        with self.sessions.begin() as session:
            session.execute(insert(session, Evidence).values(
                lead_id=lead_id, kind=payload["kind"], message_id=payload["message_id"], date=date,
                month=payload.get("month"), month_stated=bool(payload.get("month_stated")),
                tier=payload.get("tier"), price=payload.get("price"),
            ).on_conflict_do_nothing(index_elements=["kind", "message_id"]))
        result: dict[str, Any] = {"lead_id": lead_id, "kind": payload["kind"]}
        if payload["kind"] == "affirmation" and payload.get("month") and self.config.lead_backend == "airtable":
            # False only means that month's batch has not been sent yet: nothing to mark.
            result["invoice_affirmed"] = airtable_invoices(self.config).mark_affirmed(lead_id, payload["month"],
                                                                                      key=key)
        return result

    def _do_record_invoices(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        rendered = render_batch(payload["month"], self.config, self.leads.all(), self.sessions, self.renderer)
        created = airtable_invoices(self.config).record_batch(rendered.batch, key=invoice_key(payload["month"]))
        return {"invoice_records": created}

    def _new_hub_url(self, payload: dict[str, Any], variables: dict[str, Any], stated_start: date | None) -> str:
        """The pre-filled "New Hub - Request Information" issue, with what is known when the forward goes out."""
        lead_id = self._lead_id(payload["lead"])
        lead = self.leads.get(lead_id)
        with self.sessions() as session:
            pieces = [EvidencePiece(r.letter, r.rule, r.quote, r.detail, r.message_id, r.date)
                      for r in session.scalars(select(ManiacRow).where(ManiacRow.lead_id == lead_id))]
        return new_hub_issue_url(
            self.config.handoff, community=variables["community"], tier=variables["tier"], price=variables["price"],
            currency=self.config.currency, contacts=lead.contact_emails if lead else (),
            start_date=(lead.service_start if lead else None) or stated_start,
            maniac_summary=checklist(pieces) if pieces else "")

    def _sent_date(self, key: str) -> datetime:
        """The Date header: when the action was recorded, so a resent message is byte for byte the same."""
        with self.sessions() as session:
            created = session.scalar(select(ActionRow.created_at).where(ActionRow.key == key))
        return (created or self.clock()).replace(tzinfo=UTC)

    def _do_send_digest(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        leads = self.leads.all()
        names = {lead.id: lead.name for lead in leads}
        with self.sessions() as session:
            activity = dict(session.execute(select(StoredMessage.lead_id, func.max(StoredMessage.date))
                                            .group_by(StoredMessage.lead_id)).all())
            evidence = list(session.scalars(select(Evidence)))
            reviews = [OpenReview(names.get(r.lead_id or "", "(no lead)"), r.intent, r.reason, r.created_at)
                       for r in session.scalars(select(ReviewItem).where(ReviewItem.status == OPEN)
                                                .order_by(ReviewItem.id))]
        variables = digest_variables(
            leads, activity, {(e.lead_id, e.month) for e in evidence if e.kind == "affirmation" and e.month},
            {e.lead_id for e in evidence if e.kind == "contract"}, reviews, date.fromisoformat(payload["day"]),
            self.config.digest, [FailedAction(a.id, a.kind, a.key, a.last_error or "-")
                                 for a in outbox.failed_summary(self.sessions)], oauth_problems(self.sessions))
        body = self.renderer.render(DIGEST_TEMPLATE, variables)
        subject = f"[partnerships] Weekly digest {payload['week']}: {variables['total']} leads, " \
                  f"{len(variables['reviews'])} review item(s) waiting"
        outgoing = build_digest(key=key, subject=subject, body=body, addresses=self.config.addresses,
                                date=self._sent_date(key))
        return self._deliver(outgoing, {"subject": subject})

    def _do_send_invoice(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        # Built when sent, from the evidence on file then: a retry after a late affirmation sends the better batch.
        rendered = render_batch(payload["month"], self.config, self.leads.all(), self.sessions, self.renderer,
                                correction=payload.get("correction"))
        outgoing = batch_message(rendered, self.config, key=key, date=self._sent_date(key))
        return self._deliver(outgoing, {"subject": rendered.subject, "lines": len(rendered.batch.lines),
                                        "ready": rendered.batch.ready_count})

    def _do_forward(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.sessions() as session:
            original = session.scalar(select(StoredMessage).where(
                StoredMessage.message_id == payload["message_id"]))
        if original is None or original.raw is None:
            raise ActionError(f"original <{payload['message_id']}> is not stored", retryable=False)
        lead_id = self._lead_id(payload["lead"])
        if self._operations_has_it(original.raw):
            # Operations was To/Cc on the message itself: the evidence is recorded, a second copy helps nobody.
            self.leads.append_note(lead_id, f"{(payload['vars'].get('original_date') or '')[:10] or 'undated'} "
                                   f"partnerships-daemon: {payload['vars']['intent_label']} "
                                   f"<{payload['message_id']}> recorded; not forwarded: operations received it "
                                   "directly", key=key)
            return {"not_forwarded": "operations received it directly"}
        variables = self._note_variables(payload, lead_id, original.raw)
        self._write_stated_facts(key, lead_id, variables)
        subject = payload["subject"].replace(f": {payload['vars']['community']} - ", f": {variables['community']} - ",
                                             1)
        note = self.renderer.render(payload["template"], variables)
        outgoing = build_forward(key=key, subject=subject, note=note, original=original.raw,
                                 original_id=payload["message_id"], addresses=self.config.addresses,
                                 date=self._sent_date(key))
        return self._deliver(outgoing, {})

    def _write_stated_facts(self, key: str, lead_id: str, variables: dict[str, Any]) -> None:
        """The start date and billing contact the mail states go into the lead too (a start date only where none
        is on file: the table's value wins), once per forward."""
        lead = self.leads.get(lead_id)
        changes = {"service_start": variables["start_date"]} if (
            variables["start_date"] and lead is not None and lead.service_start is None) else {}
        stated = [f"service start {variables['start_date']}"] if changes else []
        stated += [f"billing contact {variables['billing_contact']}"] if variables["billing_contact"] else []
        if not stated or not hasattr(self.leads, "update_fields"):
            return
        day = (variables.get("original_date") or self.clock().isoformat())[:10]
        line = f"{day} partnerships-daemon: stated in <{variables['original_message_id']}>: {', '.join(stated)}"
        try:
            self.leads.update_fields(lead_id, changes, line=line, key=f"facts:{key}")
        except ActionError as exc:  # the forward matters more; the note says the same facts
            log.warning("stated facts not written to the lead key=%s: %s", key, exc)

    def _operations_has_it(self, raw: bytes) -> bool:
        try:
            message = parse(raw)
        except MalformedMessage:
            return False
        return self.config.addresses.operations in (*message.to, *message.cc)

    def _note_variables(self, payload: dict[str, Any], lead_id: str, raw: bytes) -> dict[str, Any]:
        """The decision's variables, completed when sent: the lead's name now (a new lead may have been named
        since), facts the mail states (start date, billing contact), a flag for a problem or question, and who
        approved it in review."""
        variables = dict(payload["vars"])
        variables.setdefault("approved_by", None)
        lead = self.leads.get(lead_id)
        if lead is not None:
            variables["community"] = lead.name
        try:
            message = parse(raw)
            text, sent = message.new_text, (message.date.date() if message.date else self.clock().date())
        except MalformedMessage:
            text, sent = "", self.clock().date()
        stated_start = start_date(text, sent) if variables["intent"] == "service_confirmation" else None
        variables["start_date"] = stated_start.isoformat() if stated_start else None
        variables["billing_contact"] = billing_contact(text)
        variables["flag"] = flag_sentence(text)
        if variables["intent"] == "service_confirmation":
            variables["new_hub_url"] = self._new_hub_url(payload, variables, stated_start)
        return variables

    def _do_send_alert(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A permanent failure told to partnerships@ alone; never raises an alert of its own (see outbox)."""
        variables = {"failed_key": payload["failed_key"], "failed_kind": payload["failed_kind"],
                     "action_id": payload["action_id"], "error": payload["error"],
                     "attempts": payload.get("attempts", 0), "message_id": payload.get("message_id")}
        subject = f"[partnerships] Action failed for good: {payload['failed_kind']} {payload['failed_key']}"
        body = self.renderer.render(ALERT_TEMPLATE, variables)
        outgoing = compose(key=key, kind="alert", subject=subject, note=body, attachment=None,
                           addresses=self.config.addresses, date=self._sent_date(key), to_operations=False)
        return self._deliver(outgoing, {"subject": subject})
