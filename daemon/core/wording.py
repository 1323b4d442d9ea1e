"""Actions said in words for people (the review queue): "move Westbrook University from Active Lead to Needs
Admin", not `set_status status:<id>:Needs Admin`. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.core.kinds import ActionKind

_EVIDENCE = {"confirmation": "the service confirmation (tier and price)", "affirmation": "the delivery affirmation",
             "contract": "the signed contract"}


def describe(kind: str, payload: Mapping[str, Any], community: str) -> str:
    """One action as a sentence a sales person can approve or reject."""
    if kind == ActionKind.SET_STATUS:
        when = f" on {payload['effective']}" if payload.get("effective") else ""
        return f"move {community} from {payload.get('from') or '?'} to {payload.get('to') or '?'}{when}"
    if kind == ActionKind.CREATE_LEAD:
        contacts = ", ".join(payload.get("contact_emails") or ()) or "no contact"
        return f"create the lead {payload.get('name') or '?'} ({contacts}) as {payload.get('status') or '?'}"
    if kind == ActionKind.RECORD_EVIDENCE:
        what = _EVIDENCE.get(str(payload.get("kind")), f"the {payload.get('kind')}")
        month = f" for {payload['month']}" if payload.get("month") else ""
        stated = [f"tier {payload['tier']}"] if payload.get("tier") else []
        stated += [f"price {payload['price']}"] if payload.get("price") else []
        return f"record {what}{month} of {community}" + (f" ({', '.join(stated)})" if stated else "")
    if kind == ActionKind.FORWARD:
        label = (payload.get("vars") or {}).get("intent_label") or "the message"
        return f"forward it to operations as {label.lower()}, with a note, the original attached"
    if kind == ActionKind.ADD_NOTE:
        return f"add a note to {community}: {payload.get('line', '')}"
    if kind == ActionKind.ADD_CONTACT:
        return f"add {payload.get('address') or '?'} to the contacts of {community}"
    if kind == ActionKind.SET_FACTS:
        facts = [f"tier {payload['tier']}"] if payload.get("tier") else []
        facts += [f"monthly fee {payload['monthly_fee']} {payload.get('currency') or ''}".rstrip()] \
            if payload.get("monthly_fee") else []
        facts += [f"service start {payload['service_start']}"] if payload.get("service_start") else []
        return f"write to {community}: {', '.join(facts) or 'nothing new'}"
    return f"{kind.replace('_', ' ')} for {community}"


def excerpt(text: str, limit: int = 160) -> str:
    """The first words of a text on one line; cut with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"
