"""One message through the daemon: parse, evaluate (core), record (state, one transaction), act (outbox).

Whatever goes wrong with one message (a parse failure, a rule or store that raises) puts that message into the
quarantine with its bytes and the reason, moves the cursor past it and goes on: one message never stops the
others. `quarantine retry` runs the stored bytes through `process` again."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from daemon.actions.executor import Executor, Outcome
from daemon.core.decide import Action, due_activations
from daemon.core.evaluate import NEW_LEAD_PREFIX, Evaluation, EvaluationSettings, Evaluator
from daemon.core.item import RawItem
from daemon.core.maniac import ManiacRules
from daemon.core.message import MalformedMessage, Message, parse
from daemon.core.rules import RuleSet
from daemon.errors import ActionError
from daemon.io.send import KEY_HEADER
from daemon.leads.base import LeadStore
from daemon.settings import Config
from daemon.state import ledger
from daemon.state.models import Sessions, get_meta, set_meta, utcnow
from daemon.state.outbox import enqueue_actions

log = logging.getLogger("daemon.pipeline")
INSTALLED_KEY = "installed_on"  # meta: the first day this state ran against IMAP, the default `since`


class Listing(list[str]):
    """Lines of a run's report: the first LIMIT are kept, the rest only counted (a first import of years of
    mail would otherwise hold a line per message until the end). len() is the full count; iterating ends with a
    line saying how many more there were; [-1] is the latest line."""

    LIMIT = 1000

    def __init__(self) -> None:
        super().__init__()
        self.more = 0
        self.latest = ""

    def append(self, line: str) -> None:
        self.latest = line
        if super().__len__() < self.LIMIT:
            super().append(line)
        else:
            self.more += 1

    def __len__(self) -> int:
        return super().__len__() + self.more

    def __bool__(self) -> bool:
        return len(self) > 0

    def __iter__(self) -> Iterator[str]:
        yield from super().__iter__()
        if self.more:
            yield f"... and {self.more} more"

    def __getitem__(self, index: Any) -> Any:
        if index == -1 and self.more:
            return self.latest
        return super().__getitem__(index)


@dataclass
class Summary:
    """What a run did, for the CLI's report."""

    read: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    intents: Counter[str] = field(default_factory=Counter)
    quarantined: Listing = field(default_factory=Listing)
    reviews: Listing = field(default_factory=Listing)
    outcomes: list[Outcome] = field(default_factory=list)
    planned: list[Action] = field(default_factory=list)  # dry run: what would have been done
    held_back: Listing = field(default_factory=Listing)  # dated before `since`: recorded, what it would have done


def evaluation_settings(config: Config) -> EvaluationSettings:
    return EvaluationSettings(addresses=config.addresses, trust=config.trust, min_confidence=config.min_confidence,
                              tier_names=tuple(t.name for t in config.tiers),
                              sent_sources=frozenset(f"imap:{folder}" for folder in config.sent_folders),
                              max_forwards_per_lead=config.max_forwards_per_lead,
                              max_forwards_per_sender=config.max_forwards_per_sender)


class Pipeline:
    def __init__(self, config: Config, sessions: Sessions, leads: LeadStore, rules: RuleSet,
                 executor: Executor | None, *, dry_run: bool = False, maniac: ManiacRules | None = None,
                 executes: bool = True) -> None:
        self.config = config
        self.sessions = sessions
        self.lead_store = leads
        self.executor = executor
        self.dry_run = dry_run
        # False while another process holds the state's lock: actions are recorded and left to it.
        self.executes = executes and executor is not None and not dry_run
        self.summary = Summary()
        self.evaluator = Evaluator(evaluation_settings(config), rules, maniac)
        self.recorder = ledger.Recorder(sessions, config.record_batch)
        self.since = self._first_day()
        self.refresh_leads()
        self._leads_fresh = True  # read for the first pass already
        # Recording: the thread index and the seen messages are looked up in the state, memory stays flat;
        # a dry run records nothing, so it remembers in memory.
        self.seen = ledger.load_memory(sessions, self.evaluator, None if dry_run else self.recorder)
        self.recorder.on_lost = self._lost

    @property
    def rules(self) -> RuleSet:
        return self.evaluator.rules

    @rules.setter
    def rules(self, rules: RuleSet) -> None:
        self.evaluator.rules = rules

    @property
    def maniac(self) -> ManiacRules | None:
        return self.evaluator.maniac

    @maniac.setter
    def maniac(self, maniac: ManiacRules | None) -> None:
        self.evaluator.maniac = maniac

    def refresh_leads(self) -> None:
        """Read the leads once per pass over the source; matching then runs in memory."""
        try:
            leads = self.lead_store.all()
        except ActionError as exc:
            if not exc.retryable or not self.evaluator.leads:
                raise  # a refused token or a missing field needs a person; without any leads we cannot match
            log.warning("leads table unreachable, matching against the leads read before: %s", exc)
            return
        # Leads proposed as new:<key> stay until their creation is done (see Evaluator.provisional_lead).
        provisional = {k: v for k, v in self.evaluator.leads.items() if k.startswith(NEW_LEAD_PREFIX)}
        self.evaluator.leads = {lead.id: lead for lead in leads} | provisional

    def begin_pass(self) -> datetime:
        """Before a pass over the source: the leads table is read again (unless it was just read), so a lead
        changed there between passes is seen."""
        if not self._leads_fresh:
            self.refresh_leads()
        self._leads_fresh = False
        return utcnow()

    # -- one message -------------------------------------------------------------------------------------------

    def process(self, item: RawItem, *, advance: bool = True) -> Evaluation | None:
        """Process one raw message; never raises for a problem of the message itself."""
        self.summary.read += 1
        digest = hashlib.sha256(item.data).hexdigest()
        if digest in self.seen.hashes:
            self.summary.duplicates += 1
            self._advance_cursor_only(item, advance)
            return None
        try:
            evaluation, actions = self._evaluate_and_record(item, digest, advance)
        except MalformedMessage as exc:
            self._quarantine(item, digest, exc.reason, None, advance)
            return None
        except Exception as exc:  # the shunt: a bug met by one message must not stop every message behind it
            reason = f"{type(exc).__name__}: {exc}"
            log.error("message failed, quarantined source=%s uid=%s origin=%s error=%r", item.source, item.uid,
                      item.origin, reason, exc_info=log.isEnabledFor(logging.DEBUG))
            self._quarantine(item, digest, reason, type(exc).__name__, advance)
            return None
        if actions:
            self.execute()
        return evaluation

    def _evaluate_and_record(self, item: RawItem, digest: str, advance: bool) -> tuple[Evaluation | None, bool]:
        message = parse(item.data, max_size=self.config.max_message_bytes)
        if message.message_id in self.seen.message_ids:
            self.summary.duplicates += 1
            log.info("duplicate message_id=%s source=%s uid=%s", message.message_id, item.source, item.uid)
            self._advance_cursor_only(item, advance)
            return None, False
        evaluation = self.evaluator.evaluate(message, item.source, item.data)
        arrived = arrival(item, message)
        historical = self.since is not None and (arrived is None or arrived.date() < self.since)
        if historical:
            evaluation = self._hold_back(evaluation, arrived)
        if evaluation.automated == "own message" and self.executor is not None and not self.dry_run:
            self.recorder.commit()  # the executor writes through a connection of its own
            for key in message.header(KEY_HEADER):
                self.executor.confirm_delivered(key.strip())
        maniac_actions = [] if historical else self.evaluator.maniac_update(evaluation)
        if self.dry_run:
            self.summary.planned.extend((*evaluation.decision.actions, *maniac_actions))
            self.evaluator.simulate(evaluation.decision.actions)
        else:
            self.recorder.record(ledger.bundle(item, digest, evaluation, self.evaluator.thread_reference(evaluation),
                                               maniac_actions, advance=advance))
        # Counted and remembered only once recorded: a message that failed is the quarantine's, not the run's.
        self._log(evaluation)
        self._count(evaluation)
        self.seen.message_ids.add(message.message_id)
        self.seen.hashes.add(digest)
        self.evaluator.remember(evaluation)
        return evaluation, bool(evaluation.decision.actions or maniac_actions)

    def _hold_back(self, evaluation: Evaluation, arrived: datetime | None) -> Evaluation:
        """First import: mail older than `since` is recorded (threads, leads matching) but never acted on;
        what it would have done is listed, as a dry run lists it."""
        decision = evaluation.decision
        would = [f"{action.kind} {action.key}" for action in decision.actions]
        if decision.review:
            would.append(f"review ({decision.review.reason})")
        if would:
            sent = arrived.date().isoformat() if arrived else "undated"
            self.summary.held_back.append(f"<{evaluation.message.message_id}> {sent}: {'; '.join(would)}")
        held = replace(decision, actions=(), review=None, needs_raw=False,
                       note=f"before since {self.since}: recorded, not acted on")
        # MANIAC-T evidence waits too: it would be filed under a lead that was not created.
        return replace(evaluation, decision=held, maniac=())

    def _first_day(self) -> date | None:
        """`since`: configured, else for IMAP the day this state first ran (kept in meta), else none."""
        if self.config.source.since is not None or self.config.source.kind != "imap":
            return self.config.source.since
        known = get_meta(self.sessions, INSTALLED_KEY).get(INSTALLED_KEY)
        if known:
            return date.fromisoformat(known)
        today = utcnow().date()
        if not self.dry_run:
            set_meta(self.sessions, {INSTALLED_KEY: today.isoformat()})
        return today

    def batch(self) -> AbstractContextManager[None]:
        """Messages processed inside share transactions of up to `[daemon] record_batch` messages."""
        return self.recorder.batch()

    def process_all(self, items: Iterable[RawItem]) -> Summary:
        started = self.begin_pass()
        with self.batch():
            for item in items:
                self.process(item)
        self.finish_pass(started)
        return self.summary

    def finish_pass(self, started: datetime) -> None:
        """After a complete pass over the source: sends whose copy did not come back go out again; retries run."""
        if self.executor is not None and self.executes:
            self.executor.resend_unconfirmed(started)
        self.execute()  # retries whose time has come
        self.activate_due(date.today())

    def execute(self) -> None:
        if self.executor is None or not self.executes:
            return
        self.recorder.commit()  # actions are carried out only once they are durable
        outcomes = self.executor.run_pending()
        if outcomes:
            self.summary.outcomes.extend(outcomes)
        # Taken over and cleared, so a long-running daemon neither grows these nor applies them again.
        self.evaluator.leads_changed(self.executor.changed_leads.values())
        self.executor.changed_leads.clear()
        for key, lead_id in self.executor.created_keys.items():
            self.evaluator.lead_created(key, lead_id)
        self.executor.created_keys.clear()

    def activate_due(self, today: date) -> None:
        """Needs Admin -> Active Service once a lead's recorded service start date has come."""
        actions = due_activations(list(self.evaluator.leads.values()), today)
        if not actions:
            return
        if self.dry_run:
            self.summary.planned.extend(actions)
            return
        with self.recorder.transaction() as session:
            enqueue_actions(session, actions)
        self.execute()

    def cursor(self, source: str) -> tuple[int | None, int]:
        """(UIDVALIDITY, highest UID processed) for `source`; (None, 0) before the first message."""
        return ledger.cursor(self.sessions, source)

    # -- reporting ---------------------------------------------------------------------------------------------

    def _log(self, evaluation: Evaluation) -> None:
        classification, decision = evaluation.classification, evaluation.decision
        lead = evaluation.lead.name if evaluation.lead else decision.lead_name or "-"
        log.info(
            "decision message_id=%s thread=%s lead=%r intent=%s rule=%s confidence=%.2f sender_role=%s "
            "actions=%s%s",
            evaluation.message.message_id, evaluation.thread_id, lead, evaluation.intent,
            classification.rule or "-", classification.confidence, evaluation.sender_role, decision.summary,
            f" note={decision.note!r}" if decision.note else "",
        )
        if decision.review:
            log.warning("review message_id=%s lead=%r reason=%r", evaluation.message.message_id, lead,
                        decision.review.reason)

    def _count(self, evaluation: Evaluation) -> None:
        if evaluation.automated:
            self.summary.skipped[evaluation.automated] += 1
        else:
            self.summary.intents[evaluation.classification.intent] += 1
        if evaluation.decision.review:
            self.summary.reviews.append(f"<{evaluation.message.message_id}>: {evaluation.decision.review.reason}")

    def _advance_cursor_only(self, item: RawItem, advance: bool) -> None:
        if advance and not self.dry_run:
            with self.recorder.transaction() as session:
                ledger.advance_cursor(session, item)

    def _lost(self, item: RawItem, reason: str) -> None:
        """A message of a batch that could not be written even alone: the recorder quarantined it."""
        log.error("message could not be recorded, quarantined source=%s uid=%s origin=%s error=%r", item.source,
                  item.uid, item.origin, reason)
        self.summary.quarantined.append(f"{item.origin or item.source}: {reason}")

    def _quarantine(self, item: RawItem, digest: str, reason: str, error_type: str | None, advance: bool) -> None:
        if error_type is None:
            log.warning("quarantined source=%s uid=%s origin=%s reason=%r", item.source, item.uid, item.origin,
                        reason)
        self.summary.quarantined.append(f"{item.origin or item.source}: {reason}")
        self.seen.hashes.add(digest)
        if not self.dry_run:
            with self.recorder.transaction() as session:
                ledger.quarantine(session, item, digest, reason, error_type=error_type, advance=advance)


def arrival(item: RawItem, message: Message) -> datetime | None:
    """When a message reached the mailbox, for `since`: what the source recorded (IMAP INTERNALDATE, the mbox
    From_ line, the Maildir file), which the sender cannot forge; else the Date header."""
    return item.received or message.date


def retry_quarantined(pipeline: Pipeline, entry_id: int) -> bool:
    """Run a quarantined message's stored bytes through the whole pipeline again; True when it left the
    quarantine (processed, or found already recorded). The sync cursor is not touched."""
    entry = ledger.quarantined_entry(pipeline.sessions, entry_id)
    if entry is None or entry.raw is None:
        return False
    item = RawItem(data=entry.raw, source=entry.source, uid=entry.source_uid or 0, uidvalidity=None,
                   origin=f"quarantine #{entry_id}")
    pipeline.seen.hashes.discard(hashlib.sha256(entry.raw).hexdigest())
    before = len(pipeline.summary.quarantined)
    pipeline.process(item, advance=False)
    if len(pipeline.summary.quarantined) > before:
        return False
    ledger.release(pipeline.sessions, entry_id)
    return True
