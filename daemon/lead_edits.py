"""Changes a person makes to a lead by hand (`lead edit`, `lead undo`), validated, recorded with who made them, for
any LeadStore (sqlite, airtable)."""

from __future__ import annotations

import argparse
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from daemon.core.lead import STATUSES, Lead
from daemon.errors import ActionError


class LeadEditError(Exception):
    """An edit that cannot be made; the message says why."""


def _changes(args: argparse.Namespace) -> dict[str, str | None]:
    changes: dict[str, str | None] = {}
    if args.tier is not None:
        changes["service_tier"] = args.tier.strip().lower() or None
    if args.fee is not None:
        try:
            fee = Decimal(args.fee.replace(",", ""))
        except InvalidOperation:
            raise LeadEditError(f"--fee {args.fee!r} is not an amount such as 3000.00") from None
        if not fee.is_finite() or fee < 0:
            raise LeadEditError(f"--fee {args.fee!r} must be a non-negative amount")
        changes["monthly_fee"] = str(fee.quantize(Decimal("0.01")))
    if args.start is not None:
        try:
            changes["service_start"] = date.fromisoformat(args.start).isoformat()
        except ValueError:
            raise LeadEditError(f"--start {args.start!r} is not a date YYYY-MM-DD") from None
    return changes


def edit_lead(store: Any, lead: Lead, args: argparse.Namespace, *, by: str) -> Lead:
    """Status through the store's audited status move; tier, fee and start date with one audit line."""
    if args.status is not None and args.status not in STATUSES:
        raise LeadEditError(f"--status {args.status!r} is not one of {', '.join(STATUSES)}")
    changes = _changes(args)
    if args.status is None and not changes:
        raise LeadEditError("nothing to change: give --status, --tier, --fee or --start")
    key = f"edit:{uuid.uuid4().hex[:12]}"
    try:
        if changes:
            said = ", ".join(f"{name.replace('_', ' ')} {value or '(none)'}" for name, value in changes.items())
            lead = store.update_fields(lead.id, changes, key=f"{key}:fields",
                                       line=f"{date.today().isoformat()} partnerships-daemon: edited by {by}: {said}")
        if args.status is not None and args.status != lead.status:
            lead = store.set_status(lead.id, args.status, reason=f"edited by {by}", key=f"{key}:status")
    except ActionError as exc:
        raise LeadEditError(str(exc)) from None
    return lead


def undo_last_move(store: Any, lead: Lead, *, by: str) -> Lead:
    """Move the lead back to the status before its last recorded move (the undo is itself a recorded move)."""
    moves = [move for move in store.status_history(lead.id) if move.old_status]
    if not moves:
        raise LeadEditError(f"{lead.name} has no status move to undo")
    last = moves[-1]
    if last.new_status != lead.status:
        raise LeadEditError(f"{lead.name} is {lead.status}, not {last.new_status} as its last recorded move says; "
                            "use `lead edit --status`")
    try:
        return store.set_status(lead.id, last.old_status, key=f"undo:{uuid.uuid4().hex[:12]}",
                                reason=f"undone by {by}: {last.old_status} -> {last.new_status} ({last.reason})")
    except ActionError as exc:
        raise LeadEditError(str(exc)) from None
