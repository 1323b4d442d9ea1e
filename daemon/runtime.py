"""Wiring done once: a config file becomes the stores, the leads backend, the sender and the pipeline.

`cli` and the service call into here; nothing in here parses arguments or prints."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from daemon.actions.executor import Executor
from daemon.core.maniac import load_maniac_rules
from daemon.core.notes import NoteRenderer
from daemon.core.rules import load_rules
from daemon.io.oauth import make_login
from daemon.io.send import OutboxDirSender, Sender, SmtpSender
from daemon.leads.airtable.invoices import parse_invoice_tables
from daemon.leads.airtable.settings import parse_airtable_config
from daemon.leads.airtable.store import AirtableLeadStore
from daemon.leads.base import LeadStore
from daemon.leads.sqlite import SqliteLeadStore
from daemon.pipeline import Pipeline
from daemon.settings import Config, load_settings
from daemon.state.models import make_sessions

log = logging.getLogger("daemon.runtime")


def load_config(path: Path | None = None, *, state_dir: Path | None = None) -> Config:
    """The settings of `path` (or the embedded defaults) with every backend section parsed by its own package."""
    config = load_settings(path, state_dir=state_dir)
    if config.lead_backend == "airtable" and config.airtable_table is not None:
        config = replace(config, airtable=parse_airtable_config(config.airtable_table, config.base_dir),
                         invoice_tables=parse_invoice_tables(config.invoice_airtable_table or {}))
    return config


@dataclass
class Runtime:
    config: Config
    sessions: sessionmaker[Session]
    leads: LeadStore
    executor: Executor


def open_runtime(config: Config) -> Runtime:
    """Everything with state: database, leads backend, templates and the sender."""
    sessions = make_sessions(config.database)
    leads: LeadStore
    if config.lead_backend == "airtable":
        leads = AirtableLeadStore(config.airtable)
    else:
        leads = SqliteLeadStore(sessions)
        if config.leads_seed_csv is not None and config.leads_seed_csv.exists():
            seeded = leads.seed_from_csv(config.leads_seed_csv)
            if seeded:
                log.info("seeded leads count=%d from=%s", seeded, config.leads_seed_csv)
    renderer = NoteRenderer(config.templates_dir, globals_={"currency": config.currency})
    renderer.check()
    executor = Executor(sessions=sessions, leads=leads, sender=make_sender(config), renderer=renderer, config=config)
    return Runtime(config, sessions, leads, executor)


def make_sender(config: Config) -> Sender:
    if config.send_kind == "smtp" and config.smtp is not None:
        return SmtpSender(config.smtp, make_login(config.smtp.server, config.state_dir))
    return OutboxDirSender(config.outbox_dir)


def make_pipeline(runtime: Runtime, *, dry_run: bool) -> Pipeline:
    rules = load_rules(runtime.config.rules_dir)
    maniac = load_maniac_rules(runtime.config.rules_dir / "maniac")
    return Pipeline(runtime.config, runtime.sessions, runtime.leads, rules, runtime.executor, dry_run=dry_run,
                    maniac=maniac)
