"""The `partnerships` command: wiring of config, store, rules, leads and senders, and the subcommands."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session, sessionmaker

from daemon import logsetup
from daemon.actions import Executor
from daemon.automated import detect_automated
from daemon.config import Config, load_config
from daemon.errors import DaemonError
from daemon.extract import extract_facts
from daemon.invoice_batch import invoice_key, render_batch
from daemon.invoicing import month_of, parse_month, previous_month
from daemon.leads import SqliteLeadStore
from daemon.mailsend import OutboxDirSender, Sender, SmtpSender
from daemon.mailsource import iter_source
from daemon.message import MalformedMessage, parse
from daemon.notes import NoteRenderer
from daemon.pipeline import Pipeline, Summary
from daemon.rules import Context, load_rules
from daemon.runner import CONNECTION_KEY, Runner
from daemon.scheduler import record_invoice
from daemon.store import (
    APPROVED,
    DONE,
    FAILED,
    OPEN,
    PENDING,
    REJECTED,
    ActionRow,
    Quarantined,
    ReviewItem,
    SyncCursor,
    get_meta,
    make_sessions,
    utcnow,
)
from daemon.threads import direction_of

log = logging.getLogger("daemon.cli")
EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


@dataclass
class Runtime:
    config: Config
    sessions: sessionmaker[Session]
    leads: SqliteLeadStore
    executor: Executor


def open_runtime(config: Config) -> Runtime:
    """Everything with state: database, leads backend, templates and the sender."""
    sessions = make_sessions(config.db_path)
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
        password = config.smtp.server.password.resolve() if config.smtp.server.password else None
        return SmtpSender(config.smtp, password)
    return OutboxDirSender(config.outbox_dir)


def make_pipeline(runtime: Runtime, *, dry_run: bool) -> Pipeline:
    rules = load_rules(runtime.config.rules_dir)
    return Pipeline(runtime.config, runtime.sessions, runtime.leads, rules, runtime.executor, dry_run=dry_run)


# -- commands ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    runner = Runner(runtime, make_pipeline(runtime, dry_run=args.dry_run), dry_run=args.dry_run, once=args.once,
                    interval=args.interval)
    summary = runner.run()
    print_summary(summary, runtime, dry_run=args.dry_run)
    return EXIT_OK


def cmd_invoice(args: argparse.Namespace, config: Config) -> int:
    """Build (and with no --dry-run, send once) the batch of a month; default: the month before this one."""
    runtime = open_runtime(config)
    month = args.month or previous_month(month_of(datetime.now(config.invoice_schedule.zone).date()))
    parse_month(month)
    if args.dry_run:
        rendered = render_batch(month, config, runtime.leads.all(), runtime.sessions, runtime.executor.renderer)
        print(f"Subject: {rendered.subject}\nTo: {config.addresses.operations}\nCc: {config.addresses.partnerships}\n")
        print(rendered.body)
        print(f"--- {rendered.csv_name} ---")
        print(rendered.csv_data.decode("utf-8"), end="")
        return EXIT_OK
    if not record_invoice(runtime.sessions, month):
        with runtime.sessions() as session:
            row = session.scalar(select(ActionRow).where(ActionRow.key == invoice_key(month)))
        print(f"the batch for {month} was recorded before ({row.status}, {row.updated_at:%Y-%m-%d %H:%M} UTC); "
              "it is sent once only")
        return EXIT_OK if row.status != FAILED else EXIT_INPUT
    outcome = next((o for o in runtime.executor.run_pending() if o.key == invoice_key(month)), None)
    if outcome is None or outcome.status != DONE:
        print(f"the batch for {month} is recorded but not sent yet: {outcome.detail if outcome else 'not due'}")
        return EXIT_INPUT
    print(f"sent the batch for {month}: {outcome.detail}")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    pipeline = make_pipeline(runtime, dry_run=args.dry_run)
    summary = pipeline.process_all(iter_source(Path(args.path)))
    print_summary(summary, runtime, dry_run=args.dry_run)
    return EXIT_INPUT if summary.quarantined else EXIT_OK


def cmd_classify(args: argparse.Namespace, config: Config) -> int:
    """Side-effect free: no database, no leads; an external sender's role is `unknown`."""
    rules = load_rules(config.rules_dir)
    tier_names = tuple(t.name for t in config.tiers)
    status = EXIT_OK
    for name in args.files:
        try:
            message = parse(Path(name).read_bytes(), max_size=config.max_message_bytes)
        except (OSError, MalformedMessage) as exc:
            print(f"{name}: cannot classify: {getattr(exc, 'reason', None) or exc}")
            status = EXIT_INPUT
            continue
        automated = detect_automated(message, own_id_domain=config.addresses.daemon_id_domain)
        direction = direction_of(message.from_addr, config.addresses)
        role = "team" if direction == "outbound" else (
            "operations" if message.from_addr and config.addresses.is_operations(message.from_addr) else "unknown")
        facts = extract_facts(message.new_text, message.subject, message.date.date() if message.date else None,
                              tier_names)
        result = rules.classify(message, Context(direction=direction, sender_role=role), facts)
        print(f"{name}:")
        print(f"  message-id: <{message.message_id}>")
        if automated:
            print(f"  skipped:    {automated}")
        print(f"  intent:     {result.intent}")
        print(f"  rule:       {result.rule or '-'} ({result.rule_file or 'no rule file'})")
        print(f"  matched:    {'; '.join(result.matched) or '-'}")
        print(f"  confidence: {result.confidence:.2f}")
        stated = {k: v for k, v in result.facts.as_json().items() if v not in (None, False)}
        if stated:
            print(f"  facts:      {', '.join(f'{k}={v}' for k, v in stated.items())}")
        print(f"  why:        {result.explanation}")
    return status


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.review_command in (None, "list"):
        with runtime.sessions() as session:
            items = list(session.scalars(select(ReviewItem).where(ReviewItem.status == OPEN).order_by(ReviewItem.id)))
        if not items:
            print("no open review items")
        for item in items:
            print(f"#{item.id}  thread {item.thread_id}  message <{item.message_id}>  intent {item.intent}")
            print(f"     reason:   {item.reason}")
            for action in item.proposed:
                print(f"     proposes: {action['kind']} {action['key']}")
        return EXIT_OK
    user = getpass.getuser()
    with runtime.sessions.begin() as session:
        item = session.get(ReviewItem, args.id)
        if item is None:
            print(f"review item #{args.id} does not exist", file=sys.stderr)
            return EXIT_USAGE
        if item.status != OPEN:
            print(f"review item #{args.id} is already {item.status} by {item.decided_by}", file=sys.stderr)
            return EXIT_USAGE
        item.status = APPROVED if args.review_command == "approve" else REJECTED
        item.decided_by, item.decided_at = user, utcnow()
        if args.review_command == "approve":
            now = utcnow()
            for action in item.proposed:
                session.execute(insert(ActionRow).values(
                    key=action["key"], kind=action["kind"], message_id=item.message_id, payload=action["payload"],
                    created_at=now, updated_at=now, next_attempt_at=now,
                ).on_conflict_do_nothing(index_elements=["key"]))
    log.info("review decided id=%d decision=%s by=%s", args.id, item.status, user)
    if args.review_command == "approve":
        outcomes = runtime.executor.run_pending()
        for outcome in outcomes:
            print(f"{outcome.status}: {outcome.kind} {outcome.key} {outcome.detail}")
    print(f"review item #{args.id} {item.status} by {user}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    sessions = make_sessions(config.db_path)
    print(f"state: {config.db_path}")
    meta = get_meta(sessions)
    with sessions() as session:
        print(f"connection: {meta.get(CONNECTION_KEY, 'no run yet')}")
        print("sync cursors:")
        for cursor in session.scalars(select(SyncCursor).order_by(SyncCursor.source)):
            last_sync = meta.get(f"last_sync:{cursor.source}", "never")
            print(f"  {cursor.source}: last uid {cursor.last_uid} (uidvalidity {cursor.uidvalidity or '-'}), "
                  f"last successful sync {last_sync}")
        counts = dict(session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all())
        print(f"actions: {counts.get(PENDING, 0)} pending, {counts.get(DONE, 0)} done, {counts.get(FAILED, 0)} failed")
        for row in session.scalars(select(ActionRow).where(ActionRow.status.in_((PENDING, FAILED)))
                                   .order_by(ActionRow.id)):
            print(f"  {row.status} {row.kind} {row.key} attempts={row.attempts} last error: {row.last_error or '-'}")
        open_reviews = session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == OPEN))
        print(f"review items open: {open_reviews}")
        quarantined = session.scalar(select(func.count()).select_from(Quarantined))
        print(f"quarantined messages: {quarantined}")
        last_batch = session.scalar(select(ActionRow).where(ActionRow.kind == "send_invoice")
                                    .order_by(ActionRow.key.desc()).limit(1))
        print("last invoice batch: " + (f"{last_batch.key.removeprefix('invoice:')} {last_batch.status}"
                                        if last_batch else "none"))
    return EXIT_OK


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    rules = load_rules(config.rules_dir)
    print(f"config: {config.source_file or 'embedded defaults'}")
    print(f"rules: {len(rules.rules)} rules in {len(rules.files)} files ({config.rules_dir})")
    NoteRenderer(config.templates_dir, globals_={"currency": config.currency}).check()
    print(f"templates: ok ({config.templates_dir})")
    print(f"leads backend: {config.lead_backend}")
    return EXIT_OK


def print_summary(summary: Summary, runtime: Runtime, *, dry_run: bool) -> None:
    prefix = "[dry run] " if dry_run else ""
    print(f"{prefix}messages read: {summary.read} (already seen: {summary.duplicates})")
    for intent, count in sorted(summary.intents.items()):
        print(f"  {intent}: {count}")
    for reason, count in sorted(summary.skipped.items()):
        print(f"  skipped ({reason}): {count}")
    done = [o for o in summary.outcomes if o.status == DONE]
    planned = summary.planned
    if dry_run:
        print(f"{prefix}would do {len(planned)} action(s):")
        for action in planned:
            print(f"  {action.kind} {action.key}")
    else:
        created = [o for o in done if o.kind == "create_lead"]
        moves = [o for o in done if o.kind == "set_status"]
        forwards = [o for o in done if o.kind == "forward"]
        print(f"leads created: {len(created)}")
        for outcome in created:
            print(f"  {outcome.detail}")
        print(f"status changes: {len(moves)}")
        for outcome in moves:
            print(f"  {outcome.key}: {outcome.detail}")
        print(f"forwards written: {len(forwards)}")
        for outcome in forwards:
            print(f"  {outcome.detail.removeprefix('sent_to=')}")
        failed = [o for o in summary.outcomes if o.status != DONE]
        if failed:
            print(f"actions not done yet: {len(failed)}")
            for outcome in failed:
                print(f"  {outcome.status} {outcome.kind} {outcome.key}: {outcome.detail}")
    print(f"review items: {len(summary.reviews)}")
    for review in summary.reviews:
        print(f"  {review}")
    print(f"quarantined: {len(summary.quarantined)}")
    for entry in summary.quarantined:
        print(f"  {entry}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnerships", description=__doc__)
    # SUPPRESS: an option given before a nested subcommand must not be reset by the nested parser's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                        help="TOML config file (env PARTNERSHIPS_CONFIG)")
    common.add_argument("--state", type=Path, default=argparse.SUPPRESS,
                        help="state directory (env PARTNERSHIPS_STATE; default ./state)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log every decision to stderr (same as --log-level info)")
    common.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=argparse.SUPPRESS,
                        help="default: info for `run` (one line per decision, for journald), warning otherwise")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="watch the mailbox and act")
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    run.add_argument("--dry-run", action="store_true", help="decide, print, change nothing")
    run.add_argument("--interval", type=float, default=60, help="seconds between passes (file sources)")
    replay = sub.add_parser("replay", parents=[common], help="backfill from an mbox, Maildir or .eml folder")
    replay.add_argument("path")
    replay.add_argument("--dry-run", action="store_true")
    classify = sub.add_parser("classify", parents=[common], help="classify .eml files; no side effects")
    classify.add_argument("files", nargs="+")
    review = sub.add_parser("review", parents=[common], help="the human review queue")
    review_sub = review.add_subparsers(dest="review_command")
    review_sub.add_parser("list", parents=[common])
    for verb in ("approve", "reject"):
        review_sub.add_parser(verb, parents=[common]).add_argument("id", type=int)
    invoice = sub.add_parser("invoice", parents=[common], help="build and send a month's invoice batch")
    invoice.add_argument("--month", help="YYYY-MM (default: the month before this one)")
    invoice.add_argument("--dry-run", action="store_true", help="print the batch, send nothing")
    sub.add_parser("status", parents=[common], help="sync cursors, queues, failures")
    sub.add_parser("check", parents=[common], help="validate config, rules and templates")
    return parser


COMMANDS = {"run": cmd_run, "replay": cmd_replay, "classify": cmd_classify, "review": cmd_review,
            "invoice": cmd_invoice, "status": cmd_status, "check": cmd_check}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(getattr(args, "config", None), state_dir=getattr(args, "state", None))
        default_level = "info" if args.command == "run" or getattr(args, "verbose", False) else "warning"
        logsetup.configure(config.log_format, level=getattr(args, "log_level", default_level))
        return COMMANDS[args.command](args, config)
    except DaemonError as exc:
        print(f"partnerships: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
