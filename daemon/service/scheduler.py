"""Time-driven work inside `run`: the monthly invoice batch, with catch-up after downtime, via `schedule`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import schedule

from daemon.actions.executor import Executor
from daemon.core.digest import digest_week
from daemon.core.kinds import ActionKind
from daemon.invoicing.months import due_months, month_of, unsent_months
from daemon.invoicing.render import invoice_key
from daemon.settings import Config
from daemon.state import outbox
from daemon.state.models import Sessions, remember_meta

log = logging.getLogger("daemon.invoice")
FIRST_MONTH_KEY = "first_run_month"


def now_utc() -> datetime:
    return datetime.now(UTC)


class InvoiceScheduler:
    """A once-a-minute check whether a month's batch (or the week's digest) is due; the outbox key per month
    (per week) makes it once only."""

    def __init__(self, config: Config, sessions: Sessions, executor: Executor,
                 clock: Callable[[], datetime] = now_utc) -> None:
        self.config = config
        self.sessions = sessions
        self.executor = executor
        self.clock = clock
        self.scheduler = schedule.Scheduler()
        self.scheduler.every(1).minutes.do(self.check)
        self.first_month = config.first_invoice_month or self._remember_first_month()

    def start(self) -> list[str]:
        """Catch up at start-up: a batch whose moment passed while the daemon was down is sent now."""
        return self.check()

    def tick(self) -> None:
        self.scheduler.run_pending()

    def sent_months(self) -> set[str]:
        keys = outbox.sent_keys(self.sessions, ActionKind.SEND_INVOICE)
        return {key.removeprefix("invoice:") for key in keys if ":correction:" not in key}

    def check(self) -> list[str]:
        now = self.clock()
        sent = self.sent_months()
        due = due_months(now, self.config.invoice_schedule, sent, self.first_month)
        skipped = [m for m in unsent_months(now, self.config.invoice_schedule, sent, self.first_month)
                   if m not in due]
        if skipped:
            log.warning("invoice batches never sent months=%s: send them with `partnerships invoice --month`",
                        ",".join(skipped))
        for month in due:
            record_invoice(self.sessions, month, with_records=self.executor.invoice_book is not None)
            log.info("invoice batch due month=%s", month)
        digest = self._due_digest(now)
        if due or digest:
            self.executor.run_pending()
        return due

    def _due_digest(self, now: datetime) -> bool:
        """This week's digest once its moment has passed (also at start-up after downtime), once per week."""
        settings = self.config.digest
        week = digest_week(now, settings) if settings.enabled else None
        if week is None:
            return False
        day = now.astimezone(settings.zone).date().isoformat()
        recorded = record_once(self.sessions, f"digest:{week}", ActionKind.SEND_DIGEST, {"week": week, "day": day})
        if recorded:
            log.info("weekly digest due week=%s", week)
        return recorded

    def _remember_first_month(self) -> str:
        current = month_of(self.clock().astimezone(self.config.invoice_schedule.zone).date())
        return remember_meta(self.sessions, FIRST_MONTH_KEY, current)


def record_invoice(sessions: Sessions, month: str, *, with_records: bool = False) -> bool:
    """Record the month's batch in the outbox; False when it was recorded before (it is never sent twice).
    With the Airtable backend, its lines also go into the Invoices table, as an action of their own, so
    that a refused write there can never make the sent email look unsent."""
    recorded = record_once(sessions, invoice_key(month), ActionKind.SEND_INVOICE, {"month": month})
    if recorded and with_records:
        record_once(sessions, f"invoice_records:{month}", ActionKind.RECORD_INVOICES, {"month": month})
    return recorded


def record_once(sessions: Sessions, key: str, kind: str, payload: dict[str, str]) -> bool:
    return outbox.enqueue_once(sessions, key, kind, dict(payload))
