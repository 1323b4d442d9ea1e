"""Handlers of the actions that change the leads table: create a lead, move its status (on the stated end date
for a service ending), add a contact or a note, and record the evidence invoicing reads."""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any

from daemon.actions.context import ActionContext
from daemon.actions.registry import handles
from daemon.core.decide import stated_end
from daemon.core.kinds import ActionKind
from daemon.core.lead import ACTIVE_SERVICE, INACTIVE_SERVICE, Lead, NewLead
from daemon.core.message import MalformedMessage, parse
from daemon.state import billing, outbox
from daemon.state.models import naive_utc
from daemon.state.stored import attach_new_lead, stored_original

log = logging.getLogger("daemon.actions.executor")


def new_lead(payload: dict[str, Any]) -> NewLead:
    return NewLead(name=payload["name"], contact_emails=tuple(payload["contact_emails"]),
                   domain=payload.get("domain"), status=payload["status"])


def move_reason(payload: dict[str, Any]) -> str:
    message = f" on message <{payload['message_id']}>" if payload.get("message_id") else ""
    return f"rule {payload['rule']}{message}"


@handles(ActionKind.CREATE_LEAD)
def create_lead(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    return lead_created(ex, key, ex.leads.create(new_lead(payload), key=key))


def lead_created(ex: ActionContext, key: str, lead: Lead) -> dict[str, Any]:
    """Point everything recorded against the not-yet-created lead at the real one."""
    ex.changed_leads[lead.id] = lead
    ex.created_keys[key] = lead.id
    attach_new_lead(ex.sessions, f"new:{key}", lead.id)
    return {"lead_id": lead.id, "name": lead.name}


@handles(ActionKind.SET_STATUS)
def set_status(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    lead_id = ex.lead_id(payload["lead"])
    reason = move_reason(payload)
    lead = ex.leads.set_status(lead_id, payload["to"], reason=reason, key=key)
    day = (payload.get("date") or ex.clock().isoformat())[:10]
    ex.leads.append_note(lead_id, f"{day} partnerships-daemon: {payload['from']} -> {payload['to']} ({reason})",
                         key=key)
    return status_moved(ex, key, lead)


def status_moved(ex: ActionContext, key: str, lead: Lead) -> dict[str, Any]:
    """After a move, one by one or in a batch: an ended service's evidence, a running service's hub."""
    ex.changed_leads[lead.id] = lead
    record_end(ex, key, lead.id)
    result = {"lead_id": lead.id, "status": lead.status}
    if lead.status == ACTIVE_SERVICE:
        # The seeds' hand-off: a running service is listed in the Active Hubs table, once.
        result["active_hub"] = ex.leads.add_active_hub(lead.id, lead.name, key=f"active_hub:{lead.id}")
    return result


def record_end(ex: ActionContext, key: str, lead_id: str) -> None:
    """An ended service is still billed for the month it ended in: evidence the invoice batch reads."""
    row = outbox.by_key(ex.sessions, key)
    if row is None or row.payload.get("to") != INACTIVE_SERVICE:
        return
    ended = row.payload.get("effective") or (row.payload.get("date") or ex.clock().isoformat())[:10]
    billing.record_evidence(ex.sessions, lead_id=lead_id, kind="ended", message_id=row.message_id or key,
                            date=datetime.fromisoformat(ended), month=ended[:7],
                            month_stated=bool(row.payload.get("effective")))


def scheduled_end(ex: ActionContext, action_id: int) -> str | None:
    """A service ending on a stated date moves the status on that date (the month's fee stays billed until
    then): the action stays pending until the date. The detail to report, or None when it is due now."""
    row = outbox.row(ex.sessions, action_id)
    payload = dict(row.payload)
    if payload.get("to") != INACTIVE_SERVICE:
        return None
    if "effective" not in payload:  # recorded by an older build, or approved from review: read the mail
        payload["effective"] = _stated_end(ex, row.message_id)
        outbox.schedule(ex.sessions, action_id, payload, None, "", ex.clock())
    effective = date.fromisoformat(payload["effective"]) if payload["effective"] else None
    if effective is None or effective <= ex.clock().date():
        return None
    detail = f"scheduled: takes effect on the stated end date {effective.isoformat()}"
    outbox.schedule(ex.sessions, action_id, payload, datetime.combine(effective, time.min), detail, ex.clock())
    log.info("status move scheduled key=%s on=%s", row.key, effective.isoformat())
    return detail


def _stated_end(ex: ActionContext, message_id: str | None) -> str | None:
    original = stored_original(ex.sessions, message_id)
    if original is None:
        return None
    try:
        return stated_end(parse(original.raw), original.received_at.date())
    except MalformedMessage:
        return None


@handles(ActionKind.ADD_CONTACT)
def add_contact(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Only ever proposed in a review item: a person approved this sender as a contact of the lead."""
    lead = ex.leads.add_contact(ex.lead_id(payload["lead"]), payload["address"], key=key)
    ex.changed_leads[lead.id] = lead
    return {"lead_id": lead.id, "contact": payload["address"]}


@handles(ActionKind.ADD_NOTE)
def add_note(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    lead_id = ex.lead_id(payload["lead"])
    ex.leads.append_note(lead_id, payload["line"], key=key)
    return {"lead_id": lead_id}


@handles(ActionKind.RECORD_EVIDENCE)
def record_evidence(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    lead_id = ex.lead_id(payload["lead"])
    stated = naive_utc(datetime.fromisoformat(payload["date"])) if payload.get("date") else None
    billing.record_evidence(ex.sessions, lead_id=lead_id, kind=payload["kind"], message_id=payload["message_id"],
                            date=stated, month=payload.get("month"), month_stated=bool(payload.get("month_stated")),
                            tier=payload.get("tier"), price=payload.get("price"))
    result: dict[str, Any] = {"lead_id": lead_id, "kind": payload["kind"]}
    if payload["kind"] == "affirmation" and payload.get("month") and ex.invoice_book is not None:
        # False only means that month's batch has not been sent yet: nothing to mark.
        result["invoice_affirmed"] = ex.invoice_book.mark_affirmed(lead_id, payload["month"], key=key)
    return result


@handles(ActionKind.SET_FACTS)
def set_facts(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What a confirmation, contract or first affirmation states, written to the lead with one audit line: the
    tier, the monthly fee (in the table's currency only; another currency stays in the note), and the service
    start where the lead has none yet."""
    lead_id = ex.lead_id(payload["lead"])
    lead = ex.leads.get(lead_id)
    changes: dict[str, str | None] = {}
    stated: list[str] = []
    if payload.get("tier"):
        changes["service_tier"] = payload["tier"]
        stated.append(f"tier {payload['tier']}")
    fee, currency = payload.get("monthly_fee"), payload.get("currency") or ex.settings.currency
    if fee and currency == ex.settings.currency:
        changes["monthly_fee"] = fee
        stated.append(f"monthly fee {fee} {currency}")
    elif fee:
        stated.append(f"monthly fee {fee} {currency} (not written: the table's fees are in {ex.settings.currency})")
    start = payload.get("service_start")
    if start and (lead is None or lead.service_start is None):
        changes["service_start"] = start
        stated.append(f"service start {start}")
    if not stated:
        return {"lead_id": lead_id, "facts": "nothing new"}
    day = (payload.get("date") or ex.clock().isoformat())[:10]
    line = f"{day} partnerships-daemon: stated in <{payload['message_id']}>: {', '.join(stated)}"
    updated = ex.leads.update_fields(lead_id, changes, line=line, key=key)
    ex.changed_leads[updated.id] = updated
    return {"lead_id": lead_id, **changes}
