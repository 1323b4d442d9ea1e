"""The `partnerships` command: wiring of config, store, rules, leads and senders, and the subcommands."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from daemon import logsetup
from daemon.core.automated import detect_automated
from daemon.core.extract import affirmed_month, facts_of
from daemon.core.lead import STATUSES, Lead
from daemon.core.maniac import EvidencePiece, checklist_details, load_maniac_rules
from daemon.core.message import MalformedMessage, parse
from daemon.core.notes import NoteRenderer
from daemon.core.rules import Context, load_rules
from daemon.core.threads import direction_of, external_participants, match_lead, sender_role
from daemon.errors import DaemonError
from daemon.invoicing.batch import month_of, parse_month, previous_month
from daemon.invoicing.render import invoice_key, render_batch
from daemon.io import iter_source
from daemon.io.google_oauth import code_from, google_consent, google_exchange, read_google_client
from daemon.io.microsoft_oauth import microsoft_device_login
from daemon.io.tokens import TokenError, default_token_file, write_token_file
from daemon.leads.airtable.invoices import check_invoice_schema
from daemon.leads.airtable.schema import check_schema
from daemon.leads.sqlite import SqliteLeadStore
from daemon.pipeline import Summary
from daemon.runtime import Runtime, load_config, make_pipeline, open_runtime
from daemon.scaffold import init_directory, version
from daemon.service.runner import CONNECTION_KEY, Runner
from daemon.service.scheduler import record_invoice
from daemon.settings import Config
from daemon.state.models import (
    APPROVED,
    DONE,
    FAILED,
    OPEN,
    PENDING,
    REJECTED,
    UNCERTAIN,
    ActionRow,
    ManiacRow,
    Quarantined,
    ReviewItem,
    StoredMessage,
    SyncCursor,
    get_meta,
    make_sessions,
    utcnow,
)
from daemon.state.schema import describe, stamp_report, upgrade_state
from daemon.state.upsert import insert

log = logging.getLogger("daemon.cli")
EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2


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
    if not record_invoice(runtime.sessions, month, airtable=config.lead_backend == "airtable"):
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
    """Side-effect free. Leads are consulted only from an existing state (--state / PARTNERSHIPS_STATE);
    without them an external sender's role is `unknown`."""
    rules = load_rules(config.rules_dir)
    tier_names = tuple(t.name for t in config.tiers)
    leads = _existing_leads(config) if getattr(args, "state", None) or os.environ.get("PARTNERSHIPS_STATE") else []
    status = EXIT_OK
    for name in args.files:
        try:
            message = parse(Path(name).read_bytes(), max_size=config.max_message_bytes)
        except (OSError, MalformedMessage) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            _emit(args, {"file": name, "error": reason}, f"{name}: cannot classify: {reason}")
            status = EXIT_INPUT
            continue
        automated = detect_automated(message, own_id_domain=config.addresses.daemon_id_domain)
        lead = match_lead(external_participants(message, config.addresses), leads)
        direction = direction_of(message.from_addr, config.addresses)
        role = sender_role(message.from_addr, lead, config.addresses)
        facts = facts_of(message, tier_names)
        result = rules.classify(message, Context(direction=direction, sender_role=role), facts)
        month = affirmed_month(facts, message.date.date() if message.date else None)[0] if (
            result.intent == "delivery_affirmation") else None
        record = {
            "file": name, "message_id": message.message_id, "intent": result.intent, "rule": result.rule,
            "confidence": result.confidence, "matched": list(result.matched), "sender_role": role,
            "month": month, "tier": facts.tier, "price": str(facts.price) if facts.price is not None else None,
            "skipped": automated,
        }
        _emit(args, record, _classification_text(record, result.rule_file, result.explanation))
    return status


def _existing_leads(config: Config) -> list[Lead]:
    """Read-only: an absent state is not created just to classify."""
    if config.database == config.db_path and not config.db_path.exists():
        return []
    return list(SqliteLeadStore(make_sessions(config.database)).all())


def _classification_text(record: dict[str, Any], rule_file: str | None, why: str) -> str:
    lines = [f"{record['file']}:", f"  message-id: <{record['message_id']}>"]
    if record["skipped"]:
        lines.append(f"  skipped:    {record['skipped']}")
    lines += [
        f"  intent:     {record['intent']}",
        f"  rule:       {record['rule'] or '-'} ({rule_file or 'no rule file'})",
        f"  matched:    {'; '.join(record['matched']) or '-'}",
        f"  confidence: {record['confidence']:.2f}",
        f"  sender:     {record['sender_role']}",
    ]
    stated = {k: record[k] for k in ("tier", "price", "month") if record[k]}
    if stated:
        lines.append(f"  facts:      {', '.join(f'{k}={v}' for k, v in stated.items())}")
    lines.append(f"  why:        {why}")
    return "\n".join(lines)


def _emit(args: argparse.Namespace, record: Any, text: str) -> None:
    """JSON (one document per line) with --json, else the human text."""
    print(json.dumps(record, ensure_ascii=False, default=str) if getattr(args, "json", False) else text)


def cmd_leads(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.status and args.status not in STATUSES:
        print(f"partnerships: --status {args.status!r} is not one of {', '.join(STATUSES)}", file=sys.stderr)
        return EXIT_USAGE
    with runtime.sessions() as session:
        activity = dict(session.execute(select(StoredMessage.lead_id, func.max(StoredMessage.date))
                                        .group_by(StoredMessage.lead_id)).all())
        reviews = dict(session.execute(select(ReviewItem.lead_id, func.count()).where(ReviewItem.status == OPEN)
                                       .group_by(ReviewItem.lead_id)).all())
    rows = [{
        "name": lead.name, "status": lead.status, "contacts": list(lead.contact_emails), "domain": lead.domain,
        "tier": lead.service_tier, "fee": str(lead.monthly_fee) if lead.monthly_fee is not None else None,
        "last_activity": activity[lead.id].isoformat() + "Z" if activity.get(lead.id) else None,
        "pending_review_items": reviews.get(lead.id, 0),
    } for lead in runtime.leads.all() if not args.status or lead.status == args.status]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    print(f"{'name':40}  {'status':16}  {'tier':6}  {'fee':>9}  {'last activity':16}  reviews  contacts")
    for row in rows:
        last = (row["last_activity"] or "-")[:16].replace("T", " ")
        print(f"{row['name'][:40]:40}  {row['status']:16}  {row['tier'] or '-':6}  {row['fee'] or '-':>9}  "
              f"{last:16}  {row['pending_review_items']:7}  {', '.join(row['contacts'])}")
    return EXIT_OK


def cmd_lead(args: argparse.Namespace, config: Config) -> int:
    """`lead show NAME|EMAIL`: the lead, its status history, threads and MANIAC-T checklist."""
    runtime = open_runtime(config)
    wanted = args.lead.strip().lower()
    leads = runtime.leads.all()
    found = ([lead for lead in leads if wanted in lead.contact_emails] or
             [lead for lead in leads if lead.name.lower() == wanted] or
             [lead for lead in leads if wanted in lead.name.lower() or wanted == (lead.domain or "")])
    if len(found) != 1:
        names = ", ".join(lead.name for lead in found[:10]) or "none"
        print(f"partnerships: {len(found)} leads match {args.lead!r} ({names}); name one exactly", file=sys.stderr)
        return EXIT_USAGE
    lead = found[0]
    print(f"{lead.name}  [{lead.status}]  id {lead.id}")
    print(f"  contacts: {', '.join(lead.contact_emails) or '-'}   domain: {lead.domain or '-'}")
    print(f"  tier: {lead.service_tier or '-'}   fee: {lead.monthly_fee or '-'}   "
          f"cloud billing managed: {'yes' if lead.cloud_billing_managed else 'no'}   "
          f"service start: {lead.service_start or '-'}")
    print("status history:")
    history = getattr(runtime.leads, "status_history", lambda lead_id: [])(lead.id)
    for move in history:
        when = getattr(move, "at", None) or getattr(move, "day", "")
        print(f"  {str(when)[:19]}  {move.old_status or '(new)'} -> {move.new_status}  {move.reason}")
    if not history:
        print("  (none recorded)")
    with runtime.sessions() as session:
        threads = session.execute(
            select(StoredMessage.thread_id, func.count(), func.min(StoredMessage.date), func.max(StoredMessage.date),
                   func.min(StoredMessage.subject))
            .where(StoredMessage.lead_id == lead.id).group_by(StoredMessage.thread_id)
            .order_by(func.max(StoredMessage.date))).all()
        pieces = [EvidencePiece(r.letter, r.rule, r.quote, r.detail, r.message_id, r.date)
                  for r in session.scalars(select(ManiacRow).where(ManiacRow.lead_id == lead.id))]
    print("threads:")
    for thread_id, count, first, last, subject in threads:
        print(f"  {str(first)[:10]} .. {str(last)[:10]}  {count} message(s)  {subject}  <{thread_id}>")
    if not threads:
        print("  (none seen)")
    print(checklist_details(pieces))
    return EXIT_OK


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.review_command in (None, "list"):
        with runtime.sessions() as session:
            items = list(session.scalars(select(ReviewItem).where(ReviewItem.status == OPEN).order_by(ReviewItem.id)))
        records = [{
            "id": item.id, "thread": item.thread_id, "message_id": item.message_id, "lead_id": item.lead_id,
            "intent": item.intent, "reason": item.reason, "created_at": item.created_at.isoformat() + "Z",
            "proposed": [{"kind": a["kind"], "key": a["key"]} for a in item.proposed],
        } for item in items]
        if getattr(args, "json", False):
            print(json.dumps(records, ensure_ascii=False))
            return EXIT_OK
        if not records:
            print("no open review items")
        for record in records:
            print(f"#{record['id']}  thread {record['thread']}  message <{record['message_id']}>  "
                  f"intent {record['intent']}")
            print(f"     reason:   {record['reason']}")
            for action in record["proposed"]:
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
                proposed = insert(session, ActionRow).values(
                    key=action["key"], kind=action["kind"], message_id=item.message_id, payload=action["payload"],
                    created_at=now, updated_at=now, next_attempt_at=now)
                # An action that failed permanently (e.g. a field missing in the leads table) gets another try.
                session.execute(proposed.on_conflict_do_update(
                    index_elements=["key"], where=ActionRow.status == FAILED,
                    set_={"status": PENDING, "attempts": 0, "last_error": None, "next_attempt_at": now}))
    log.info("review decided id=%d decision=%s by=%s", args.id, item.status, user)
    if args.review_command == "approve":
        outcomes = runtime.executor.run_pending()
        for outcome in outcomes:
            print(f"{outcome.status}: {outcome.kind} {outcome.key} {outcome.detail}")
    print(f"review item #{args.id} {item.status} by {user}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    report = status_report(config)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return EXIT_OK
    print(f"state: {report['state']}")
    print(f"connection: {report['connection'] or 'no run yet'}")
    print("sync cursors:")
    for cursor in report["sources"]:
        print(f"  {cursor['source']}: last uid {cursor['last_uid']} (uidvalidity {cursor['uidvalidity'] or '-'}), "
              f"last successful sync {cursor['last_sync'] or 'never'}")
    counts = report["actions"]
    print(f"actions: {counts['pending']} pending, {counts['done']} done, {counts['failed']} failed"
          + (f", {counts['uncertain']} waiting for their copy after a crash" if counts["uncertain"] else ""))
    for row in report["unfinished_actions"]:
        print(f"  {row['status']} {row['kind']} {row['key']} attempts={row['attempts']} "
              f"last error: {row['last_error'] or '-'}")
    print(f"review items open: {report['review_items_open']}")
    print(f"quarantined messages: {report['quarantined']}")
    batch = report["last_invoice_batch"]
    print("last invoice batch: " + (f"{batch['month']} {batch['status']}" if batch else "none"))
    return EXIT_OK


def status_report(config: Config) -> dict[str, Any]:
    """The facts `status` shows, as plain data (also its --json form)."""
    sessions = make_sessions(config.database)
    meta = get_meta(sessions)
    with sessions() as session:
        cursors = list(session.scalars(select(SyncCursor).order_by(SyncCursor.source)))
        counts = dict(session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all())
        unfinished = list(session.scalars(select(ActionRow).where(ActionRow.status.in_((PENDING, UNCERTAIN, FAILED)))
                                          .order_by(ActionRow.id)))
        last_batch = session.scalar(select(ActionRow).where(ActionRow.kind == "send_invoice")
                                    .order_by(ActionRow.key.desc()).limit(1))
        return {
            "state": describe(config.database),
            "connection": meta.get(CONNECTION_KEY),
            "sources": [{"source": c.source, "uidvalidity": c.uidvalidity, "last_uid": c.last_uid,
                         "last_sync": meta.get(f"last_sync:{c.source}")} for c in cursors],
            "actions": {"pending": counts.get(PENDING, 0), "uncertain": counts.get(UNCERTAIN, 0),
                        "done": counts.get(DONE, 0), "failed": counts.get(FAILED, 0)},
            "unfinished_actions": [{"key": a.key, "kind": a.kind, "status": a.status, "attempts": a.attempts,
                                    "last_error": a.last_error} for a in unfinished],
            "review_items_open": session.scalar(select(func.count()).select_from(ReviewItem)
                                                .where(ReviewItem.status == OPEN)),
            "quarantined": session.scalar(select(func.count()).select_from(Quarantined)),
            "last_invoice_batch": ({"month": last_batch.key.removeprefix("invoice:"), "status": last_batch.status}
                                   if last_batch else None),
        }


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    rules = load_rules(config.rules_dir)
    load_maniac_rules(config.rules_dir / "maniac")
    print(f"config: {config.source_file or 'embedded defaults'}")
    print(f"rules: {len(rules.rules)} rules in {len(rules.files)} files ({config.rules_dir}); MANIAC-T rules ok")
    NoteRenderer(config.templates_dir, globals_={"currency": config.currency}).check()
    print(f"templates: ok ({config.templates_dir})")
    if config.lead_backend == "airtable":
        problems = check_schema(config.airtable) + check_invoice_schema(config.airtable, config.invoice_tables)
        for problem in problems:
            print(f"airtable: {problem}")
        if problems:
            print(f"leads backend: airtable base {config.airtable.base_id}: {len(problems)} problem(s)")
            return EXIT_USAGE
        print(f"leads backend: airtable base {config.airtable.base_id}: tables, fields and statuses present")
    else:
        print(f"leads backend: {config.lead_backend}")
    return EXIT_OK


def print_summary(summary: Summary, runtime: Runtime, *, dry_run: bool) -> None:
    prefix = "[dry run] " if dry_run else ""
    print(f"{prefix}messages read: {summary.read} (already seen: {summary.duplicates})")
    for intent, count in sorted(summary.intents.items()):
        print(f"  {intent}: {count}")
    for reason, count in sorted(summary.skipped.items()):
        print(f"  skipped ({reason}): {count}")
    if summary.held_back:
        print(f"{prefix}before since (recorded, not acted on): {len(summary.held_back)} message(s) would have done:")
        for line in summary.held_back:
            print(f"  {line}")
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


def cmd_db(args: argparse.Namespace, config: Config) -> int:
    where = describe(config.database)
    if args.db_command == "upgrade":
        done = upgrade_state(config.database)
        if done is None:
            print(f"{where}: already at this build's schema")
        elif done.created:
            print(f"{where}: created at schema {done.after}")
        else:
            backup = f"; backup {done.backup}" if done.backup else ""
            print(f"{where}: upgraded from {done.before or 'before migrations'} to {done.after}{backup}")
    report = stamp_report(config.database)
    legacy = " (made before migrations)" if report["made_before_migrations"] else ""
    print(f"state: {where}\nrevision: {report['revision'] or 'none'}{legacy}\nthis build: {report['head']}")
    return EXIT_OK


def cmd_auth(args: argparse.Namespace, config: Config) -> int:
    """Once per mailbox: consent, then the refresh token is stored (0600) where the daemon reads it."""
    target = args.token_file or default_token_file(config.state_dir, args.auth_provider)
    if args.auth_provider == "microsoft":
        try:
            microsoft_device_login(args.client_id, args.tenant, args.authority, target, print)
        except TokenError as exc:
            print(f"partnerships: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"refresh token saved to {target} (mode 0600); set auth = \"oauth2-microsoft\" in [source] and [send]")
        return EXIT_OK
    try:
        client = read_google_client(args.client_secrets)
        url, state, verifier = google_consent(client)
        print("1. Open this address in a browser, signed in as the mailbox the daemon reads:\n")
        print(f"   {url}\n")
        print("2. Allow access. The browser then goes to http://localhost/... and shows an error page: that is\n"
              "   expected. Copy the whole address from the address bar (or just its code=... value) and paste it:")
        answer = sys.stdin.readline()
        if "state=" in answer and f"state={state}" not in answer:
            raise TokenError("the pasted address belongs to another consent request: start again")
        tokens = google_exchange(client, code_from(answer), verifier, args.token_uri)
        write_token_file(target, tokens)
    except TokenError as exc:
        print(f"partnerships: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"refresh token saved to {target} (mode 0600); set auth = \"oauth2-google\" in [source] and [send]")
    return EXIT_OK


def cmd_init(args: argparse.Namespace, config: Config) -> int:
    for path in init_directory(args.directory):
        print(f"wrote {path}")
    print(f"next: edit {args.directory / 'partnerships.toml'}, then "
          f"partnerships check --config {args.directory / 'partnerships.toml'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnerships", description=__doc__)
    parser.add_argument("--version", action="version", version=f"partnerships-daemon {version()}")
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
    classify.add_argument("--json", action="store_true", help="one JSON object per file, one per line")
    leads = sub.add_parser("leads", parents=[common], help="the leads table")
    leads.add_argument("--json", action="store_true", help="a JSON list")
    leads.add_argument("--status", help="only leads with this status")
    lead = sub.add_parser("lead", parents=[common], help="one lead in detail")
    lead_sub = lead.add_subparsers(dest="lead_command", required=True)
    lead_sub.add_parser("show", parents=[common], help="lead, status history, threads, MANIAC-T").add_argument(
        "lead", help="the lead's name (or part of it), domain or a contact address")
    review = sub.add_parser("review", parents=[common], help="the human review queue")
    review_sub = review.add_subparsers(dest="review_command")
    review_sub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    for verb in ("approve", "reject"):
        review_sub.add_parser(verb, parents=[common]).add_argument("id", type=int)
    invoice = sub.add_parser("invoice", parents=[common], help="build and send a month's invoice batch")
    invoice.add_argument("--month", help="YYYY-MM (default: the month before this one)")
    invoice.add_argument("--dry-run", action="store_true", help="print the batch, send nothing")
    sub.add_parser("status", parents=[common], help="sync cursors, queues, failures").add_argument(
        "--json", action="store_true", help="the same facts as one JSON object")
    sub.add_parser("check", parents=[common], help="validate config, rules and templates")
    db = sub.add_parser("db", parents=[common], help="the state's schema: current revision, upgrade")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("current", parents=[common], help="the state's schema revision and this build's")
    db_sub.add_parser("upgrade", parents=[common], help="back up (SQLite) and upgrade the state's schema")
    auth = sub.add_parser("auth", parents=[common], help="create the OAuth2 refresh token for the mailbox")
    auth_sub = auth.add_subparsers(dest="auth_provider", required=True)
    google = auth_sub.add_parser("google", parents=[common], help="Google Workspace: installed-app consent")
    google.add_argument("--client-secrets", type=Path, required=True,
                        help="client_secret.json of a Desktop OAuth client (Google Cloud console)")
    google.add_argument("--token-file", type=Path, help="default: STATE/credentials/google-token.json")
    google.add_argument("--token-uri", help="token endpoint (default: the client file's)")
    microsoft = auth_sub.add_parser("microsoft", parents=[common], help="Microsoft 365: device-code sign-in")
    microsoft.add_argument("--client-id", required=True, help="the app registration's application (client) ID")
    microsoft.add_argument("--tenant", default="organizations", help="tenant ID or domain")
    microsoft.add_argument("--authority", help="default: https://login.microsoftonline.com/TENANT")
    microsoft.add_argument("--token-file", type=Path, help="default: STATE/credentials/microsoft-token.json")
    init = sub.add_parser("init", parents=[common], help="write an editable config, rules and templates to DIR")
    init.add_argument("directory", type=Path)
    return parser


COMMANDS = {"run": cmd_run, "replay": cmd_replay, "classify": cmd_classify, "leads": cmd_leads, "lead": cmd_lead,
            "review": cmd_review,
            "invoice": cmd_invoice, "status": cmd_status, "check": cmd_check, "db": cmd_db,
            "auth": cmd_auth, "init": cmd_init}


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
    except BrokenPipeError:
        # `partnerships leads --json | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
