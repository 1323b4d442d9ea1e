"""Handlers of the actions that send mail or write the month's invoices: forwards to operations (the note
completed with what is known when it is sent), the invoice batch, the weekly digest and failure alerts."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from daemon.actions.context import ActionContext
from daemon.actions.registry import handles
from daemon.core.digest import FailedAction, OpenReview, digest_variables
from daemon.core.extract import find_start_date
from daemon.core.handoff import new_hub_issue_url
from daemon.core.kinds import ActionKind
from daemon.core.lead import Lead
from daemon.core.maniac import checklist
from daemon.core.message import MalformedMessage, Message, parse
from daemon.core.stated import billing_contact, flag_sentence
from daemon.errors import ActionError
from daemon.invoicing.render import RenderedBatch, invoice_key, render_batch
from daemon.io.send import build_digest, build_forward, build_invoice_batch, compose
from daemon.state import billing, outbox, queries
from daemon.state.stored import stored_original

log = logging.getLogger("daemon.actions.executor")
DIGEST_TEMPLATE = "digest.txt.j2"
ALERT_TEMPLATE = "alert_failed_action.txt.j2"


@handles(ActionKind.FORWARD)
def forward(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    original = stored_original(ex.sessions, payload["message_id"])
    if original is None:
        raise ActionError(f"original <{payload['message_id']}> is not stored", retryable=False)
    lead_id = ex.lead_id(payload["lead"])
    try:
        message: Message | None = parse(original.raw)
    except MalformedMessage:
        message = None
    if message is not None and ex.settings.addresses.operations in (*message.to, *message.cc):
        # Operations was To/Cc on the message itself: the evidence is recorded, a second copy helps nobody.
        ex.leads.append_note(lead_id, f"{(payload['vars'].get('original_date') or '')[:10] or 'undated'} "
                             f"partnerships-daemon: {payload['vars']['intent_label']} "
                             f"<{payload['message_id']}> recorded; not forwarded: operations received it "
                             "directly", key=key)
        return {"not_forwarded": "operations received it directly"}
    variables = _note_variables(ex, payload, lead_id, message)
    _write_stated_facts(ex, key, lead_id, variables)
    subject = payload["subject"].replace(f": {payload['vars']['community']} - ", f": {variables['community']} - ", 1)
    note = ex.renderer.render(payload["template"], variables)
    outgoing = build_forward(key=key, subject=subject, note=note, original=original.raw,
                             original_id=payload["message_id"], addresses=ex.settings.addresses,
                             date=ex.sent_date(key))
    return ex.deliver(outgoing, {})


def _write_stated_facts(ex: ActionContext, key: str, lead_id: str, variables: dict[str, Any]) -> None:
    """A billing contact the mail states goes into the lead's notes too, once per forward (tier, fee and start
    date are the decision's own `set_facts` action)."""
    if not variables["billing_contact"]:
        return
    day = (variables.get("original_date") or ex.clock().isoformat())[:10]
    line = (f"{day} partnerships-daemon: stated in <{variables['original_message_id']}>: billing contact "
            f"{variables['billing_contact']}")
    try:
        ex.leads.update_fields(lead_id, {}, line=line, key=f"facts:{key}")
    except ActionError as exc:  # the forward matters more; the note says the same
        log.warning("billing contact not written to the lead key=%s: %s", key, exc)


def _note_variables(ex: ActionContext, payload: dict[str, Any], lead_id: str,
                    message: Message | None) -> dict[str, Any]:
    """The decision's variables, completed when sent: the lead's name now (a new lead may have been named
    since), facts the mail states (start date, billing contact), a flag for a problem or question, and who
    approved it in review."""
    variables = dict(payload["vars"])
    variables.setdefault("approved_by", None)
    lead = ex.leads.get(lead_id)
    if lead is not None:
        variables["community"] = lead.name
    text = message.new_text if message is not None else ""  # unparseable: the note says only what was decided
    sent = message.date.date() if message is not None and message.date else ex.clock().date()
    stated_start = find_start_date(text, sent) if variables["intent"] == "service_confirmation" else None
    variables["start_date"] = stated_start.isoformat() if stated_start else None
    variables["billing_contact"] = billing_contact(text)
    variables["flag"] = flag_sentence(text)
    if variables["intent"] == "service_confirmation":
        variables["new_hub_url"] = _new_hub_url(ex, lead_id, lead, variables, stated_start)
    return variables


def _new_hub_url(ex: ActionContext, lead_id: str, lead: Lead | None, variables: dict[str, Any],
                 stated_start: date | None) -> str:
    """The pre-filled "New Hub - Request Information" issue, with what is known when the forward goes out."""
    pieces = queries.lead_evidence(ex.sessions, lead_id)
    return new_hub_issue_url(
        ex.settings.handoff, community=variables["community"], tier=variables["tier"], price=variables["price"],
        currency=ex.settings.currency, contacts=lead.contact_emails if lead else (),
        start_date=(lead.service_start if lead else None) or stated_start,
        maniac_summary=checklist(pieces) if pieces else "")


def _batch(ex: ActionContext, month: str, correction: str | None = None) -> RenderedBatch:
    """The month's batch from what is on file now."""
    return render_batch(month, ex.settings.tiers, ex.settings.currency, ex.leads.all(), ex.sessions, ex.renderer,
                        ex.spend, correction=correction)


@handles(ActionKind.SEND_INVOICE)
def send_invoice(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    # Built when sent, from the evidence on file then: a retry after a late affirmation sends the better batch.
    rendered = _batch(ex, payload["month"], payload.get("correction"))
    outgoing = build_invoice_batch(key=key, subject=rendered.subject, body=rendered.body, csv_name=rendered.csv_name,
                                   csv_data=rendered.csv_data, addresses=ex.settings.addresses, date=ex.sent_date(key))
    return ex.deliver(outgoing, {"subject": rendered.subject, "lines": len(rendered.batch.lines),
                                 "ready": rendered.batch.ready_count})


@handles(ActionKind.RECORD_INVOICES)
def record_invoices(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    if ex.invoice_book is None:
        raise ActionError("no invoices table is configured to record this batch in", retryable=False)
    rendered = _batch(ex, payload["month"])
    created = ex.invoice_book.record_batch(rendered.batch, key=invoice_key(payload["month"]))
    return {"invoice_records": created}


@handles(ActionKind.SEND_DIGEST)
def send_digest(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    leads = ex.leads.all()
    names = {lead.id: lead.name for lead in leads}
    evidence = billing.evidence_rows(ex.sessions)
    reviews = [OpenReview(names.get(r.lead_id or "", "(no lead)"), r.intent, r.reason, r.created_at)
               for r in queries.open_review_items(ex.sessions)]
    variables = digest_variables(
        leads, queries.last_activity_by_lead(ex.sessions),
        {(e.lead_id, e.month) for e in evidence if e.kind == "affirmation" and e.month},
        {e.lead_id for e in evidence if e.kind == "contract"}, reviews, date.fromisoformat(payload["day"]),
        ex.settings.digest, [FailedAction(a.id, a.kind, a.key, a.last_error or "-")
                           for a in outbox.failed_summary(ex.sessions)], queries.oauth_problems(ex.sessions))
    body = ex.renderer.render(DIGEST_TEMPLATE, variables)
    subject = f"[partnerships] Weekly digest {payload['week']}: {variables['total']} leads, " \
              f"{len(variables['reviews'])} review item(s) waiting"
    outgoing = build_digest(key=key, subject=subject, body=body, addresses=ex.settings.addresses,
                            date=ex.sent_date(key))
    return ex.deliver(outgoing, {"subject": subject})


@handles(ActionKind.SEND_ALERT)
def send_alert(ex: ActionContext, key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A permanent failure told to partnerships@ alone; never raises an alert of its own (see outbox)."""
    variables = {"failed_key": payload["failed_key"], "failed_kind": payload["failed_kind"],
                 "action_id": payload["action_id"], "error": payload["error"],
                 "attempts": payload.get("attempts", 0), "message_id": payload.get("message_id")}
    subject = f"[partnerships] Action failed for good: {payload['failed_kind']} {payload['failed_key']}"
    body = ex.renderer.render(ALERT_TEMPLATE, variables)
    outgoing = compose(key=key, kind="alert", subject=subject, note=body, attachment=None,
                       addresses=ex.settings.addresses, date=ex.sent_date(key), to_operations=False)
    return ex.deliver(outgoing, {"subject": subject})
