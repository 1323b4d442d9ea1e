"""Wiring done once: a config file becomes the stores, the leads backend, the sender and the pipeline.

`cli` and the service call into here; nothing in here parses arguments or prints."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from daemon.actions.context import action_settings
from daemon.actions.executor import Executor
from daemon.core.evaluate import Evaluator
from daemon.core.maniac import load_maniac_rules
from daemon.core.notes import NoteRenderer
from daemon.core.rules import rules_of
from daemon.errors import ConfigError
from daemon.invoicing.spend import CsvSpend, NoSpend, SpendSource
from daemon.io.oauth import make_login
from daemon.io.send import OutboxDirSender, Sender, SmtpSender
from daemon.leads.base import LeadStore
from daemon.leads.sqlite import SqliteLeadStore
from daemon.pipeline import Pipeline, evaluation_settings
from daemon.settings import Config, config_fingerprint, load_settings
from daemon.state.binding import bind_config
from daemon.state.ledger import load_memory
from daemon.state.models import Sessions, existing_sessions, make_sessions

if TYPE_CHECKING:
    from daemon.invoicing.airtable import AirtableInvoices

log = logging.getLogger("daemon.runtime")


def load_config(path: Path | None = None, *, state_dir: Path | None = None) -> Config:
    """The settings of `path` (or the embedded defaults) with every backend section parsed by its own package."""
    config = load_settings(path, state_dir=state_dir)
    if config.lead_backend == "airtable" and config.airtable_table is not None:
        # Imported only for the Airtable backend: its client (pyairtable, pydantic) costs memory nobody else needs.
        from daemon.invoicing.airtable import parse_invoice_tables
        from daemon.leads.airtable.settings import parse_airtable_config

        config = replace(config, airtable=parse_airtable_config(config.airtable_table, config.base_dir),
                         invoice_tables=parse_invoice_tables(config.invoice_airtable_table or {}))
    return config


@dataclass
class Runtime:
    config: Config
    sessions: Sessions
    leads: LeadStore
    executor: Executor


def open_runtime(config: Config) -> Runtime:
    """Everything with state: database, leads backend, templates and the sender."""
    sessions = make_sessions(config.database)
    bind_state(config, sessions)
    leads = lead_store(config, sessions)
    if isinstance(leads, SqliteLeadStore) and config.leads_seed_csv is not None:
        if not config.leads_seed_csv.is_file():
            raise ConfigError(f"[leads] seed_csv: {config.leads_seed_csv} does not exist")
        seeded = leads.seed_from_csv(config.leads_seed_csv)
        if seeded:
            log.info("seeded leads count=%d from=%s", seeded, config.leads_seed_csv)
    renderer = NoteRenderer(config.templates_dir, globals_={"currency": config.currency})
    renderer.check()
    book = invoice_book(config)
    executor = Executor(sessions=sessions, leads=leads, sender=make_sender(config), renderer=renderer,
                        settings=action_settings(config),
                        spend=spend_source(config, book), invoice_book=book,
                        sender_factory=lambda: make_sender(config))
    return Runtime(config, sessions, leads, executor)


def invoice_book(config: Config) -> AirtableInvoices | None:
    """With the Airtable backend, the seeds' Cloud Spend and Invoices tables in the team's base."""
    if config.lead_backend != "airtable":
        return None
    from daemon.invoicing.airtable import AirtableInvoices

    return AirtableInvoices(config.airtable, config.invoice_tables)


def spend_source(config: Config, book: AirtableInvoices | None) -> SpendSource:
    """Where a month's cloud spend comes from: the Airtable table, the CSV folder, or nowhere (said in the batch)."""
    if book is not None:
        return book
    return CsvSpend(config.spend_dir) if config.spend_dir is not None else NoSpend()


def lead_store(config: Config, sessions: Sessions) -> LeadStore:
    """The configured leads backend; nothing outside `daemon.leads` and this wiring knows which one it is."""
    if config.lead_backend == "airtable":
        from daemon.leads.airtable.store import AirtableLeadStore

        return AirtableLeadStore(config.airtable)
    return SqliteLeadStore(sessions)


def bind_state(config: Config, sessions: Sessions, *, record: bool = True) -> None:
    """The state remembers its config (path and fingerprint); another config is refused (see state.binding)."""
    bind_config(sessions, str(config.state_dir), str(config.source_file.resolve()) if config.source_file else None,
                config_fingerprint(config), record=record)


def make_sender(config: Config) -> Sender:
    if config.send_kind == "smtp" and config.smtp is not None:
        return SmtpSender(config.smtp, make_login(config.smtp.server, config.state_dir))
    return OutboxDirSender(config.outbox_dir)


def make_pipeline(runtime: Runtime, *, dry_run: bool, execute: bool = True) -> Pipeline:
    """`execute=False`: record decisions and actions only; whoever holds the state's lock carries them out."""
    rules = rules_of(runtime.config)
    maniac = load_maniac_rules(runtime.config.rules_dir / "maniac")
    return Pipeline(runtime.config, runtime.sessions, runtime.leads, rules, runtime.executor, dry_run=dry_run,
                    maniac=maniac, executes=execute)


def open_evaluator(config: Config, *, with_state: bool) -> Evaluator:
    """The evaluation `run` makes, for `classify`: with an existing state, its leads and threads are read (never
    written); without one an external sender is unknown."""
    evaluator = Evaluator(evaluation_settings(config), rules_of(config),
                          load_maniac_rules(config.rules_dir / "maniac"), classify_unrelated=True)
    sessions = existing_sessions(config.database) if with_state else None
    if sessions is not None:
        evaluator.leads = {lead.id: lead for lead in lead_store(config, sessions).all()}
        load_memory(sessions, evaluator)
    return evaluator
