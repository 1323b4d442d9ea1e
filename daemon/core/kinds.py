"""The kinds of action a decision can record, one enum for the whole daemon (decisions, the outbox, the
executor's handler registry, the desk). A `StrEnum`, so a kind stored in the database as text is the member."""

from __future__ import annotations

from enum import StrEnum


class ActionKind(StrEnum):
    CREATE_LEAD = "create_lead"
    SET_STATUS = "set_status"
    ADD_NOTE = "add_note"
    ADD_CONTACT = "add_contact"
    SET_FACTS = "set_facts"
    RECORD_EVIDENCE = "record_evidence"
    RECORD_INVOICES = "record_invoices"
    FORWARD = "forward"
    SEND_INVOICE = "send_invoice"
    SEND_DIGEST = "send_digest"
    SEND_ALERT = "send_alert"


# Changes to the leads table: one the table refuses goes to a person (review) instead of being lost.
LEAD_KINDS = frozenset({ActionKind.CREATE_LEAD, ActionKind.SET_STATUS, ActionKind.ADD_NOTE, ActionKind.ADD_CONTACT,
                        ActionKind.SET_FACTS})
# Mail to the outside: paused together while the mail server refuses our login.
SENDING_KINDS = frozenset({ActionKind.FORWARD, ActionKind.SEND_INVOICE, ActionKind.SEND_DIGEST,
                           ActionKind.SEND_ALERT})
# A permanent failure of one of these reaches a person by mail; an alert itself never raises another alert.
ALERTED_KINDS = frozenset({ActionKind.FORWARD, ActionKind.SEND_INVOICE, ActionKind.RECORD_INVOICES,
                           ActionKind.SEND_DIGEST})


def kind_of(text: str) -> ActionKind | None:
    """The member a stored kind names; None for a kind this build does not know."""
    try:
        return ActionKind(text)
    except ValueError:
        return None
