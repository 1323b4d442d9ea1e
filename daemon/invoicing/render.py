"""Gather a month's invoice batch (leads, the evidence on file, the month's cloud spend) and render it for
operations: subject, note and CSV attachment."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from daemon.core.lead import Lead
from daemon.core.notes import NoteRenderer
from daemon.invoicing.batch import (
    InvoiceBatch,
    batch_csv,
    batch_subject,
    batch_variables,
    build_batch,
    csv_filename,
    evidence_from_rows,
)
from daemon.invoicing.spend import NoSpend, SpendSource
from daemon.settings import Tier
from daemon.state.billing import evidence_rows
from daemon.state.models import Sessions

TEMPLATE = "invoice_batch.txt.j2"


def invoice_key(month: str) -> str:
    """One batch per month, whatever happens: the outbox key."""
    return f"invoice:{month}"


@dataclass(frozen=True)
class RenderedBatch:
    batch: InvoiceBatch
    subject: str
    body: str
    csv_name: str
    csv_data: bytes


def correction_key(month: str, reason: str) -> str:
    """One corrected batch per month and reason: the same reason given twice sends nothing new."""
    digest = hashlib.sha256(" ".join(reason.lower().split()).encode()).hexdigest()[:12]
    return f"{invoice_key(month)}:correction:{digest}"


def render_batch(month: str, tiers: Sequence[Tier], currency: str, leads: Sequence[Lead], sessions: Sessions,
                 renderer: NoteRenderer, spend: SpendSource, correction: str | None = None) -> RenderedBatch:
    evidence = evidence_from_rows(evidence_rows(sessions))
    rows, problems = spend.spend_for_month(month)
    if isinstance(spend, NoSpend) and not any(lead.cloud_billing_managed for lead in leads):
        problems = []  # nobody's cloud is billed through us: no spend is needed
    batch = build_batch(month, leads, evidence, rows, tiers, currency, problems=problems)
    return RenderedBatch(batch, batch_subject(batch, correction),
                         renderer.render(TEMPLATE, batch_variables(batch, correction)),
                         csv_filename(month), batch_csv(batch))
