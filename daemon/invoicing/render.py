"""Gather a month's invoice batch from the state (leads, evidence, spend files) and render it for operations."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

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
    spend_for_month,
)
from daemon.io.send import Outgoing, build_invoice_batch
from daemon.leads.airtable.invoices import AirtableInvoices
from daemon.settings import Config
from daemon.state.models import Evidence

TEMPLATE = "invoice_batch.txt.j2"


def airtable_invoices(config: Config) -> AirtableInvoices:
    """The seeds' Cloud Spend and Invoices tables in the team's Airtable base."""
    return AirtableInvoices(config.airtable, config.invoice_tables)


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


def render_batch(month: str, config: Config, leads: Sequence[Lead], sessions: sessionmaker[Session],
                 renderer: NoteRenderer, correction: str | None = None) -> RenderedBatch:
    with sessions() as session:
        evidence = evidence_from_rows(session.scalars(select(Evidence)))
    if config.lead_backend == "airtable":
        rows, problems = airtable_invoices(config).spend_for_month(month)
    elif config.spend_dir is None:
        rows, problems = [], ([f"no [invoice] spend_dir configured: cloud spend for {month} is not included"]
                              if any(lead.cloud_billing_managed for lead in leads) else [])
    else:
        sheet = spend_for_month(config.spend_dir, month)
        rows, problems = list(sheet.rows), list(sheet.problems)
    batch = build_batch(month, leads, evidence, rows, config.tiers, config.currency, problems=problems)
    return RenderedBatch(batch, batch_subject(batch, correction),
                         renderer.render(TEMPLATE, batch_variables(batch, correction)),
                         csv_filename(month), batch_csv(batch))


def batch_message(rendered: RenderedBatch, config: Config, *, key: str, date: datetime) -> Outgoing:
    return build_invoice_batch(key=key, subject=rendered.subject, body=rendered.body, csv_name=rendered.csv_name,
                               csv_data=rendered.csv_data, addresses=config.addresses, date=date)
