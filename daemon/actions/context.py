"""What a handler may use while it carries out one action: the stores, the sender, the renderer and the clock
(the executor provides them). Handlers depend on this, not on the executor, so the executor can import them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from daemon.core.lead import Lead
from daemon.core.notes import NoteRenderer
from daemon.invoicing.batch import InvoiceBatch
from daemon.invoicing.spend import SpendSource
from daemon.io.send import Outgoing
from daemon.leads.base import LeadStore
from daemon.settings import Addresses, Config, DigestSettings, HandoffConfig, Tier
from daemon.state.models import Sessions


@dataclass(frozen=True)
class ActionSettings:
    """What carrying out actions needs of the configuration, and no more."""

    addresses: Addresses
    currency: str
    tiers: tuple[Tier, ...]
    handoff: HandoffConfig
    digest: DigestSettings
    max_attempts: int
    retry_base_seconds: float  # first retry delay; doubles per attempt, capped at an hour
    uncertain_grace_seconds: float  # how long an interrupted send waits for its copy before going out again


def action_settings(config: Config) -> ActionSettings:
    return ActionSettings(config.addresses, config.currency, config.tiers, config.handoff, config.digest,
                          config.max_attempts, config.retry_base_seconds, config.uncertain_grace_seconds)


class InvoiceBook(Protocol):
    """Where a sent batch's lines are recorded and later affirmations marked (the seeds' Invoices table)."""

    def record_batch(self, batch: InvoiceBatch, *, key: str) -> int: ...

    def mark_affirmed(self, lead_id: str, month: str, *, key: str) -> bool: ...


class ActionContext(Protocol):
    sessions: Sessions
    leads: LeadStore
    renderer: NoteRenderer
    settings: ActionSettings
    spend: SpendSource
    invoice_book: InvoiceBook | None
    clock: Callable[[], datetime]
    changed_leads: dict[str, Lead]  # leads a handler changed, for the evaluator's copy
    created_keys: dict[str, str]  # create_lead key -> the new lead's id

    def lead_id(self, reference: str) -> str:
        """The lead's id; `new:<key>` names a lead an earlier action creates (an error until it is done)."""
        ...

    def deliver(self, outgoing: Outgoing, extra: dict[str, Any]) -> dict[str, Any]:
        """Send, recording the action done the moment the message has left."""
        ...

    def sent_date(self, key: str) -> datetime:
        """The Date header of the action's message: when it was recorded."""
        ...
