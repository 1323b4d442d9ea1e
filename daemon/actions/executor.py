"""Carry out recorded actions from the outbox table, each at most once, with retries and a retry cap."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.digest import OpenReview, digest_variables
from daemon.core.handoff import new_hub_issue_url
from daemon.core.lead import ACTIVE_SERVICE, Lead, NewLead
from daemon.core.maniac import EvidencePiece, checklist
from daemon.core.notes import NoteRenderer
from daemon.errors import ActionError, DaemonError
from daemon.invoicing.render import airtable_invoices, batch_message, invoice_key, render_batch
from daemon.io.send import Outgoing, Sender, build_digest, build_forward
from daemon.leads.airtable.store import StatusChange
from daemon.leads.base import LeadStore
from daemon.settings import Config
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
    naive_utc,
    utcnow,
)
from daemon.state.upsert import insert

log = logging.getLogger("daemon.actions.executor")


LEAD_ACTIONS = ("create_lead", "set_status", "add_note")
DIGEST_TEMPLATE = "digest.txt.j2"


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

    def run_pending(self) -> list[Outcome]:
        """Execute every due pending action in the order it was recorded."""
        self._settle_interrupted_sends()
        with self.sessions() as session:
            due = list(session.execute(
                select(ActionRow.id, ActionRow.kind).where(ActionRow.status == PENDING,
                                                           ActionRow.next_attempt_at <= self.clock())
                .order_by(ActionRow.id)))
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
            retryable = getattr(exc, "retryable", False)
            return self._failed(action_id, key, kind, attempts + 1, str(exc), retryable)
        except Exception as exc:  # an unexpected bug must not stop the queue; retry capped
            log.exception("action failed unexpectedly key=%s", key)
            return self._failed(action_id, key, kind, attempts + 1, f"{type(exc).__name__}: {exc}", True)
        self._mark_done(key, result, attempts + 1)
        detail = ", ".join(f"{k}={v}" for k, v in result.items())
        log.info("action done kind=%s key=%s %s", kind, key, detail)
        return Outcome(key, kind, DONE, detail)

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
        with self.sessions.begin() as session:
            session.execute(update(ActionRow).where(ActionRow.key == key).values(
                status=DONE, attempts=attempts, result=result, last_error=None, sending_since=None,
                updated_at=self.clock()))

    def _deliver(self, outgoing: Outgoing, extra: dict[str, Any]) -> dict[str, Any]:
        """Send, recording `done` the moment the message has left, not after the connection is closed."""
        with self.sessions.begin() as session:
            attempts = session.scalar(select(ActionRow.attempts).where(ActionRow.key == outgoing.key)) or 0
            session.execute(update(ActionRow).where(ActionRow.key == outgoing.key).values(
                sending_since=self.clock(), sending_by=self.instance))
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
        result = {"lead_id": lead_id, "status": lead.status}
        if lead.status == ACTIVE_SERVICE:
            # The seeds' hand-off: a running service is listed in the Active Hubs table, once.
            result["active_hub"] = self.leads.add_active_hub(lead_id, lead.name, key=f"active_hub:{lead_id}")
        return result

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

    def _new_hub_url(self, payload: dict[str, Any], variables: dict[str, Any]) -> str:
        """The pre-filled "New Hub - Request Information" issue, with what is known when the forward goes out."""
        lead_id = self._lead_id(payload["lead"])
        lead = self.leads.get(lead_id)
        with self.sessions() as session:
            pieces = [EvidencePiece(r.letter, r.rule, r.quote, r.detail, r.message_id, r.date)
                      for r in session.scalars(select(ManiacRow).where(ManiacRow.lead_id == lead_id))]
        return new_hub_issue_url(
            self.config.handoff, community=variables["community"], tier=variables["tier"], price=variables["price"],
            currency=self.config.currency, contacts=lead.contact_emails if lead else (),
            start_date=lead.service_start if lead else None, maniac_summary=checklist(pieces) if pieces else "")

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
            self.config.digest)
        body = self.renderer.render(DIGEST_TEMPLATE, variables)
        subject = f"[partnerships] Weekly digest {payload['week']}: {variables['total']} leads, " \
                  f"{len(variables['reviews'])} review item(s) waiting"
        outgoing = build_digest(key=key, subject=subject, body=body, addresses=self.config.addresses,
                                date=self._sent_date(key))
        return self._deliver(outgoing, {"subject": subject})

    def _do_send_invoice(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        # Built when sent, from the evidence on file then: a retry after a late affirmation sends the better batch.
        rendered = render_batch(payload["month"], self.config, self.leads.all(), self.sessions, self.renderer)
        outgoing = batch_message(rendered, self.config, key=key, date=self._sent_date(key))
        return self._deliver(outgoing, {"subject": rendered.subject, "lines": len(rendered.batch.lines),
                                        "ready": rendered.batch.ready_count})

    def _do_forward(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.sessions() as session:
            original = session.scalar(select(StoredMessage).where(
                StoredMessage.message_id == payload["message_id"]))
        if original is None or original.raw is None:
            raise ActionError(f"original <{payload['message_id']}> is not stored", retryable=False)
        variables = dict(payload["vars"])
        if variables["intent"] == "service_confirmation":
            variables["new_hub_url"] = self._new_hub_url(payload, variables)
        note = self.renderer.render(payload["template"], variables)
        outgoing = build_forward(key=key, subject=payload["subject"], note=note, original=original.raw,
                                 original_id=payload["message_id"], addresses=self.config.addresses,
                                 date=self._sent_date(key))
        return self._deliver(outgoing, {})
