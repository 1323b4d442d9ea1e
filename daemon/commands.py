"""What each `partnerships` command does, given its parsed arguments and the configuration: thin calls into
the runtime, the state's queries and the services, and the printing of their results."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.checks import live_checks, render_problems
from daemon.core.kinds import ActionKind
from daemon.core.lead import STATUSES
from daemon.core.maniac import checklist_details, load_maniac_rules
from daemon.core.message import MalformedMessage, parse
from daemon.core.notes import NoteRenderer
from daemon.core.rules import MODEL_INTENTS, rules_of
from daemon.core.sanitize import clean
from daemon.core.trust import proposal_lines, propose_trust, trust_line
from daemon.core.verdict import verdict_of
from daemon.errors import EXIT_INPUT, EXIT_OK, EXIT_USAGE, DaemonError
from daemon.evaluation.learn import learn
from daemon.evaluation.run import evaluate as run_eval
from daemon.filemodes import too_open
from daemon.invoicing.months import month_of, parse_month, previous_month
from daemon.invoicing.render import invoice_key, render_batch
from daemon.io import FileSource
from daemon.io.google_oauth import code_from, google_consent, google_exchange, read_google_client
from daemon.io.microsoft_oauth import microsoft_device_login
from daemon.io.sample import newest_messages
from daemon.io.tokens import TokenError, default_token_file, write_token_file
from daemon.pipeline import Summary, retry_quarantined
from daemon.runtime import Runtime, bind_state, make_pipeline, open_evaluator, open_runtime
from daemon.scaffold import init_directory
from daemon.service.lock import RunLock, lock_holder, writer
from daemon.service.progress import track
from daemon.service.runner import Runner
from daemon.service.scheduler import record_invoice
from daemon.settings import RESOURCES, Config
from daemon.state import ledger, outbox, queries
from daemon.state.examples import team_examples
from daemon.state.models import (
    DONE,
    FAILED,
    OPEN,
    existing_sessions,
    make_sessions,
)
from daemon.state.reviews import ReviewRefused, decide_review, relabel, review_views
from daemon.state.schema import describe, stamp_report, upgrade_state

log = logging.getLogger("daemon.cli")


# -- commands ---------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.dry_run and not args.once:
        # A dry run changes nothing, so a second pass would only repeat the first.
        print("[dry run] one pass only (--dry-run implies --once)", file=sys.stderr)
    runner = Runner(runtime, make_pipeline(runtime, dry_run=args.dry_run), dry_run=args.dry_run,
                    once=args.once or args.dry_run, interval=args.interval, quiet=args.quiet)
    summary = runner.run()
    print_summary(summary, runtime, dry_run=args.dry_run)
    return EXIT_OK


def cmd_invoice(args: argparse.Namespace, config: Config) -> int:
    """Build (and with no --dry-run, send once) the batch of a month; default: the month before this one."""
    runtime = open_runtime(config)
    month = args.month or previous_month(month_of(datetime.now(config.invoice_schedule.zone).date()))
    parse_month(month)
    if args.dry_run:
        rendered = render_batch(month, config.tiers, config.currency, runtime.leads.all(), runtime.sessions,
                                runtime.executor.renderer,
                                runtime.executor.spend)
        print(f"Subject: {rendered.subject}\nTo: {config.addresses.operations}\nCc: {config.addresses.partnerships}\n")
        print(rendered.body)
        print(f"--- {rendered.csv_name} ---")
        print(rendered.csv_data.decode("utf-8"), end="")
        return EXIT_OK
    if getattr(args, "resend", False):
        return _resend_invoice(runtime, month, args.reason)
    if not record_invoice(runtime.sessions, month, with_records=runtime.executor.invoice_book is not None):
        row = outbox.by_key(runtime.sessions, invoice_key(month))
        print(f"the batch for {month} was recorded before ({row.status}, {row.updated_at:%Y-%m-%d %H:%M} UTC); "
              "it is sent once only")
        return EXIT_OK if row.status != FAILED else EXIT_INPUT
    with writer(config.state_dir, "invoice") as lock:
        if not lock.held:
            _left_to_daemon(lock)
            return EXIT_OK
        outcome = next((o for o in runtime.executor.run_pending() if o.key == invoice_key(month)), None)
    if outcome is None or outcome.status != DONE:
        print(f"the batch for {month} is recorded but not sent yet: {outcome.detail if outcome else 'not due'}")
        return EXIT_INPUT
    print(f"sent the batch for {month}: {outcome.detail}")
    return EXIT_OK


def _resend_invoice(runtime: Runtime, month: str, reason: str | None) -> int:
    """A corrected batch, marked as such, once per month and reason; only after the batch itself was sent."""
    from daemon.invoicing.render import correction_key

    if not reason or not reason.strip():
        print("partnerships: invoice --resend needs --reason TEXT (it is written into the corrected batch)",
              file=sys.stderr)
        return EXIT_USAGE
    sent = outbox.by_key(runtime.sessions, invoice_key(month))
    if sent is None or sent.status != DONE:
        print(f"partnerships: the batch for {month} was not sent ({sent.status if sent else 'never recorded'}); "
              f"send it with `partnerships invoice --month {month}` first", file=sys.stderr)
        return EXIT_USAGE
    key = correction_key(month, reason)
    correction = {"month": month, "correction": reason.strip()}
    if not outbox.enqueue_once(runtime.sessions, key, ActionKind.SEND_INVOICE, correction):
        print(f"a correction of {month} for this reason was recorded before; it is sent once per reason")
        return EXIT_OK
    with writer(runtime.config.state_dir, "invoice") as lock:
        if not lock.held:
            _left_to_daemon(lock)
            return EXIT_OK
        outcome = next((o for o in runtime.executor.run_pending() if o.key == key), None)
    if outcome is None or outcome.status != DONE:
        print(f"the corrected batch for {month} is recorded but not sent yet: {outcome.detail if outcome else '-'}")
        return EXIT_INPUT
    print(f"sent a corrected batch for {month} (reason: {reason.strip()}): {outcome.detail}")
    return EXIT_OK



def cmd_replay(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    with writer(config.state_dir, "replay") as lock:
        pipeline = make_pipeline(runtime, dry_run=args.dry_run, execute=lock.held)
        source = FileSource(Path(args.path))
        summary = pipeline.process_all(track(source, len(source), Path(args.path).name, quiet=args.quiet))
        print_summary(summary, runtime, dry_run=args.dry_run)
        _left_to_daemon(lock, dry_run=args.dry_run)
    return EXIT_INPUT if summary.quarantined else EXIT_OK


def _left_to_daemon(lock: RunLock, *, dry_run: bool = False) -> None:
    """Say so when the recorded actions wait for the process that holds the state (the running daemon)."""
    if not lock.held and not dry_run:
        pid, purpose = lock.holder()
        print(f"actions recorded; `partnerships {purpose}` (pid {pid}) holds {lock.path.parent} and carries them out")


def cmd_classify(args: argparse.Namespace, config: Config) -> int:
    """Side-effect free, and the same evaluation `run` makes. Leads and threads are consulted only from an existing
    state (--state / PARTNERSHIPS_STATE); without them an external sender's role is `unknown`."""
    with_state = bool(getattr(args, "state", None) or os.environ.get("PARTNERSHIPS_STATE"))
    evaluator = open_evaluator(config, with_state=with_state)
    status = EXIT_OK
    for name in args.files:
        try:
            message = parse(Path(name).read_bytes(), max_size=config.max_message_bytes)
        except (OSError, MalformedMessage) as exc:
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            _emit(args, {"file": name, "error": reason}, f"{name}: cannot classify: {reason}")
            status = EXIT_INPUT
            continue
        evaluation = evaluator.evaluate(message)
        verdict = verdict_of(evaluation)
        result = verdict.classification
        record = verdict.record(name)
        _emit(args, record, _classification_text(record, result.rule_file, result.explanation))
    return status


def cmd_eval(args: argparse.Namespace, config: Config) -> int:
    """Precision, recall, confusion and the action figures over labelled mail (see daemon/evaluation)."""
    outcome = run_eval(Path(args.path), config, args.labels, args.split)
    print(outcome.render(args.json))
    return EXIT_INPUT if outcome.empty else EXIT_OK


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


def _print_records(args: argparse.Namespace, records: list[dict[str, Any]], empty: str,
                   lines: Callable[[dict[str, Any]], list[str]]) -> int:
    """A list command's output: one JSON list with --json, else the lines of each record (or `empty`)."""
    if getattr(args, "json", False):
        print(json.dumps(records, ensure_ascii=False))
        return EXIT_OK
    print("\n".join(line for record in records for line in lines(record)) if records else empty)
    return EXIT_OK


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters; a cut one ends with an ellipsis, so it does not look complete."""
    return text if len(text) <= width else text[:width - 1] + "…"



def _emit(args: argparse.Namespace, record: Any, text: str) -> None:
    """JSON (one document per line) with --json, else the human text."""
    print(json.dumps(record, ensure_ascii=False, default=str) if getattr(args, "json", False) else text)


def cmd_leads(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.status and args.status not in STATUSES:
        print(f"partnerships: --status {args.status!r} is not one of {', '.join(STATUSES)}", file=sys.stderr)
        return EXIT_USAGE
    activity = queries.last_activity_by_lead(runtime.sessions)
    reviews = queries.open_reviews_by_lead(runtime.sessions)
    rows = [{
        "name": lead.name, "status": lead.status, "contacts": list(lead.contact_emails), "domain": lead.domain,
        "tier": lead.service_tier, "fee": str(lead.monthly_fee) if lead.monthly_fee is not None else None,
        "service_start": lead.service_start.isoformat() if lead.service_start else None,
        "last_activity": activity[lead.id].isoformat() + "Z" if activity.get(lead.id) else None,
        "pending_review_items": reviews.get(lead.id, 0),
    } for lead in runtime.leads.all() if not args.status or lead.status == args.status]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return EXIT_OK
    print(f"{'name':40}  {'status':16}  {'tier':6}  {'fee':>9}  {'last activity (UTC)':19}  reviews  contacts")
    for row in rows:
        last = (row["last_activity"] or "-")[:16].replace("T", " ")
        print(f"{cut(row['name'], 40):40}  {row['status']:16}  {row['tier'] or '-':6}  {row['fee'] or '-':>9}  "
              f"{last:19}  {row['pending_review_items']:7}  {', '.join(row['contacts'])}")
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
    if args.lead_command in ("edit", "undo"):
        from daemon.lead_edits import LeadEditError, edit_lead, undo_last_move

        try:
            changed = (edit_lead(runtime.leads, lead, args, by=getpass.getuser()) if args.lead_command == "edit"
                       else undo_last_move(runtime.leads, lead, by=getpass.getuser()))
        except LeadEditError as exc:
            print(f"partnerships: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"{changed.name}  [{changed.status}]  tier: {changed.service_tier or '-'}   "
              f"fee: {changed.monthly_fee or '-'}   service start: {changed.service_start or '-'}")
        return EXIT_OK
    print(f"{lead.name}  [{lead.status}]  id {lead.id}")
    print(f"  contacts: {', '.join(lead.contact_emails) or '-'}   domain: {lead.domain or '-'}")
    print(f"  tier: {lead.service_tier or '-'}   fee: {lead.monthly_fee or '-'}   "
          f"cloud billing managed: {'yes' if lead.cloud_billing_managed else 'no'}   "
          f"service start: {lead.service_start or '-'}")
    print("status history:")
    history = runtime.leads.status_history(lead.id)
    for move in history:
        print(f"  {move.at}{' UTC' if len(move.at) > 10 else ''}  {move.old_status or '(new)'} -> "
              f"{move.new_status}  {move.reason}")
    if not history:
        print("  (none recorded)")
    threads = queries.lead_threads(runtime.sessions, lead.id)
    pieces = queries.lead_evidence(runtime.sessions, lead.id)
    print("threads:")
    for thread in threads:
        print(f"  {str(thread.first)[:10]} .. {str(thread.last)[:10]}  {thread.messages} message(s)  "
              f"{thread.subject}  <{thread.thread_id}>")
    if not threads:
        print("  (none seen)")
    print(checklist_details(pieces))
    return EXIT_OK


def cmd_review(args: argparse.Namespace, config: Config) -> int:
    runtime = open_runtime(config)
    if args.review_command in (None, "list"):
        names = {lead.id: lead.name for lead in runtime.leads.all()}
        views = review_views(runtime.sessions, names, include_closed=getattr(args, "all", False))
        if getattr(args, "json", False):
            print(json.dumps([view.record for view in views], ensure_ascii=False))
            return EXIT_OK
        if not views:
            print("no review items" if getattr(args, "all", False) else "no open review items")
        for view in views:
            decided = "" if view.status == OPEN else (
                f"  [{view.status} by {view.record['decided_by']} {view.record['decided_at'][:16].replace('T', ' ')}"
                f" UTC{': ' + view.record['comment'] if view.record['comment'] else ''}]")
            print(f"#{view.id}  {view.community}: {view.intent.replace('_', ' ')}{decided}")
            print(f"     from:     {view.sender or '-'}   subject: {view.subject or '-'}")
            print(f"     wrote:    {view.excerpt or '-'}")
            print(f"     why:      {view.reason}")
            for words in view.proposals or ("nothing (approving is not possible; reject to close it)",):
                print(f"     proposes: {words}")
        return EXIT_OK
    by = args.by or getpass.getuser()
    try:
        if args.review_command == "reclassify":
            relabel(runtime.sessions, args.id, args.intent, by, intents=MODEL_INTENTS, open_only=False)
            print(f"review item #{args.id}: its message is {args.intent}, says {by} (a labelled example for "
                  "`partnerships learn`)")
            return EXIT_OK
        decided = decide_review(runtime.sessions, args.id, approve=args.review_command == "approve", by=by,
                                comment=args.comment)
    except ReviewRefused as exc:
        print(f"partnerships: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if decided.queued:
        with writer(config.state_dir, "review") as lock:
            for outcome in runtime.executor.run_pending() if lock.held else ():
                print(f"{outcome.status}: {outcome.kind} {outcome.key} {outcome.detail}")
            _left_to_daemon(lock)
    print(f"review item #{args.id} {decided.status} by {by}" + (f": {args.comment}" if args.comment else ""))
    return EXIT_OK



def cmd_learn(args: argparse.Namespace, config: Config) -> int:
    """Retrain the model from eval/dev, ham and the team's labels; install it unless eval/test gets worse."""
    corpus = os.environ.get("PARTNERSHIPS_CORPUS")
    ham = args.ham or (Path(corpus) / "ham" if corpus else None)
    learned = learn(config, team_examples(open_runtime(config).sessions), args.eval or RESOURCES / "eval", ham)
    print(learned.text())
    return EXIT_OK if learned.installed else EXIT_INPUT


def cmd_actions(args: argparse.Namespace, config: Config) -> int:
    """`actions list|retry|cancel`: the outbox, for what failed or should never happen."""
    runtime = open_runtime(config)
    if args.actions_command in (None, "list"):
        rows = outbox.list_actions(runtime.sessions, failed_only=getattr(args, "failed", False),
                                   include_done=getattr(args, "all", False))
        if getattr(args, "json", False):
            print(json.dumps([row.as_json() for row in rows], ensure_ascii=False))
            return EXIT_OK
        if not rows:
            print("no failed actions" if getattr(args, "failed", False) else "no actions waiting or failed")
        for row in rows:
            print(f"#{row.id}  {row.status:9}  {row.kind:14}  {row.key}  attempts={row.attempts}  "
                  f"updated {row.updated_at:%Y-%m-%d %H:%M} UTC")
            if row.last_error:
                print(f"     last error: {row.last_error}")
        return EXIT_OK
    try:
        if args.actions_command == "cancel":
            key = outbox.cancel(runtime.sessions, args.id, by=getpass.getuser())
            log.info("action cancelled id=%d key=%s by=%s", args.id, key, getpass.getuser())
            print(f"action #{args.id} {key} cancelled by {getpass.getuser()}")
            return EXIT_OK
        if (args.id is None) == (not args.all_failed):
            print("partnerships: actions retry needs either an ID or --all-failed", file=sys.stderr)
            return EXIT_USAGE
        ids = outbox.failed_ids(runtime.sessions) if args.all_failed else [args.id]
        keys = outbox.retry(runtime.sessions, ids)
    except outbox.OutboxError as exc:
        print(f"partnerships: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not keys:
        print("no failed actions to retry")
        return EXIT_OK
    with writer(config.state_dir, "actions") as lock:
        if not lock.held:
            _left_to_daemon(lock)
            return EXIT_OK
        outcomes = {o.key: o for o in runtime.executor.run_pending()}
    status = EXIT_OK
    for key in keys:
        outcome = outcomes.get(key)
        if outcome is None or outcome.status != DONE:
            status = EXIT_INPUT
        print(f"{outcome.status if outcome else 'pending'}: {key} {outcome.detail if outcome else 'not due yet'}")
    return status



def cmd_quarantine(args: argparse.Namespace, config: Config) -> int:
    """Messages that could not be processed, kept whole: list them, show one, run them through the pipeline again."""
    if existing_sessions(config.database) is None:
        print("no state yet: nothing is quarantined")
        return EXIT_OK
    runtime = open_runtime(config)
    if args.quarantine_command in (None, "list"):
        entries = ledger.quarantined(runtime.sessions)
        records = [{"id": e.id, "source": e.source, "uid": e.source_uid, "reason": e.reason,
                    "error_type": e.error_type, "size": e.size, "created_at": e.created_at.isoformat() + "Z",
                    "retried_at": e.retried_at.isoformat() + "Z" if e.retried_at else None} for e in entries]
        return _print_records(args, records, "no quarantined messages", lambda r: [
            f"#{r['id']}  {r['created_at'][:16].replace('T', ' ')} UTC  {r['source']} uid {r['uid'] or '-'}  "
            f"{r['size']} bytes  {clean(r['reason'], 200)}"])
    if args.quarantine_command == "show":
        entry = ledger.quarantined_entry(runtime.sessions, args.id)
        if entry is None:
            print(f"quarantined message #{args.id} does not exist", file=sys.stderr)
            return EXIT_USAGE
        print(f"#{entry.id}  source {entry.source} uid {entry.source_uid or '-'}  {entry.size} bytes")
        print(f"  quarantined: {entry.created_at:%Y-%m-%d %H:%M} UTC"
              + (f", last retried {entry.retried_at:%Y-%m-%d %H:%M} UTC" if entry.retried_at else ""))
        print(f"  reason:      {clean(entry.reason, 2000)}")
        head = (entry.raw or b"")[:4000].decode("utf-8", "replace").split("\n\n", 1)[0]
        print("  headers:")
        for line in head.splitlines()[:60]:
            print(f"    {clean(line, 200)}")
        return EXIT_OK
    ids = [e.id for e in ledger.quarantined(runtime.sessions)] if args.all else [args.id]
    if not args.all and ledger.quarantined_entry(runtime.sessions, args.id) is None:
        print(f"quarantined message #{args.id} does not exist", file=sys.stderr)
        return EXIT_USAGE
    failed = 0
    with writer(config.state_dir, "quarantine") as lock:
        pipeline = make_pipeline(runtime, dry_run=False, execute=lock.held)
        for entry_id in ids:
            if retry_quarantined(pipeline, entry_id):
                print(f"#{entry_id}: processed")
            else:
                failed += 1
                print(f"#{entry_id}: still quarantined: {pipeline.summary.quarantined[-1]}")
        pipeline.execute()
        _left_to_daemon(lock)
    return EXIT_INPUT if failed else EXIT_OK


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    report = status_report(config)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return EXIT_OK
    print(f"state: {report['state']}")
    if report["daemon_pid"] is None:
        print("daemon: not running (no `partnerships run` holds this state's lock)")
        print(f"connection: none; last known: {report['connection'] or 'no run yet'}")
    else:
        print(f"daemon: running (pid {report['daemon_pid']})")
        print(f"connection: {report['connection'] or 'not synced yet'}")
    if report["smtp"] and report["smtp"] != "ok":
        print(f"smtp: {report['smtp']} (sending waits; fix the password, then `partnerships actions retry ID`)")
    for channel, refresh in sorted(report["oauth"].items()):
        print(f"oauth2 {channel}: " + ("token refresh ok" if refresh == "ok" else
                                       f"{refresh} (retrying with backoff; the log line says what to do)"))
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
    if counts["failed"]:
        print(f"ATTENTION: {counts['failed']} action(s) failed for good: `partnerships actions list --failed`, "
              "then `partnerships actions retry ID` once the cause is fixed")
    print(f"review items open: {report['review_items_open']}")
    print(f"quarantined messages: {report['quarantined']}")
    print(trust_line(config.trust))
    batch = report["last_invoice_batch"]
    print("last invoice batch: " + (f"{batch['month']} {batch['status']}" if batch else "none"))
    return EXIT_OK



def status_report(config: Config) -> dict[str, Any]:
    """The facts `status` shows. An absent state is reported, never made."""
    sessions = existing_sessions(config.database)
    if sessions is None:
        return {**queries.empty_status_report(f"{describe(config.database)} (none yet: no run so far)"),
                "daemon_pid": lock_holder(config.state_dir)}
    bind_state(config, sessions, record=False)
    return {**queries.status_report(sessions, describe(config.database)), "daemon_pid": lock_holder(config.state_dir)}


def cmd_web(args: argparse.Namespace, config: Config) -> int:
    # Imported here: the web stack (Starlette, uvicorn, argon2) is not needed by any other command.
    from daemon.web.server import serve, web_settings

    serve(open_runtime(config), web_settings(args.listen, insecure_cookie=args.insecure_cookie,
                                             sso_header=args.sso_header, trusted_proxies=args.trusted_proxy,
                                             metrics_token_file=args.metrics_token_file))
    return EXIT_OK


def cmd_users(args: argparse.Namespace, config: Config) -> int:
    """Local accounts of the web desk: `users add NAME` (password from the terminal, or one line of stdin)."""
    from daemon.state import accounts
    from daemon.web.auth import hash_password

    sessions = make_sessions(config.database)
    if args.users_command == "add":
        password = _read_password()
        created = accounts.set_password(sessions, args.name, hash_password(password))
        print(f"{'added' if created else 'changed the password of'} {args.name}")
    elif args.users_command == "remove":
        if not accounts.remove_user(sessions, args.name):
            print(f"partnerships: no account {args.name!r}", file=sys.stderr)
            return EXIT_USAGE
        print(f"removed {args.name}; their sessions ended")
    else:
        for name, created_at in accounts.users(sessions):
            print(f"{name}  (since {created_at:%Y-%m-%d})")
    return EXIT_OK


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise DaemonError("the two passwords differ; nothing changed")
    return password


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    rules = rules_of(config)
    load_maniac_rules(config.rules_dir / "maniac")
    print(f"config: {config.source_file or 'embedded defaults'}")
    print(f"rules: {len(rules.rules)} rules in {len(rules.files)} files ({config.rules_dir}); MANIAC-T rules ok")
    renderer = NoteRenderer(config.templates_dir, globals_={"currency": config.currency})
    renderer.check()
    if _any_problems("templates", render_problems(renderer, config),
                     f"template(s) fail to render ({config.templates_dir})"):
        return EXIT_USAGE
    print(f"templates: ok, each rendered with a sample ({config.templates_dir})")
    print(trust_line(config.trust))
    for wide in too_open(config.state_dir):
        print(f"warning: {wide}: others may read the state (customer mail); chmod it")
    if config.lead_backend == "airtable":
        from daemon.invoicing.airtable import check_invoice_schema
        from daemon.leads.airtable.schema import check_schema

        problems = check_schema(config.airtable) + check_invoice_schema(config.airtable, config.invoice_tables)
        if _any_problems("airtable", problems, f"problem(s) in base {config.airtable.base_id}"):
            return EXIT_USAGE
        print(f"leads backend: airtable base {config.airtable.base_id}: tables, fields and statuses present")
    else:
        print(f"leads backend: {config.lead_backend}")
    if getattr(args, "live", False):
        results = live_checks(config)
        for result in results:
            print(result.line())
        if not results:
            print("live: nothing to log in to (no IMAP source, SMTP sender or Airtable backend configured)")
        if not all(result.ok for result in results):
            return EXIT_INPUT
    return EXIT_OK


def _any_problems(label: str, problems: list[str], summary: str) -> bool:
    """Print each problem and a count line; True when there was any."""
    for problem in problems:
        print(f"{label}: {problem}")
    if problems:
        print(f"{label}: {len(problems)} {summary}")
    return bool(problems)



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
        created = [o for o in done if o.kind == ActionKind.CREATE_LEAD]
        moves = [o for o in done if o.kind == ActionKind.SET_STATUS]
        forwards = [o for o in done if o.kind == ActionKind.FORWARD and not o.detail.startswith("not_forwarded=")]
        kept = [o for o in done if o.kind == ActionKind.FORWARD and o.detail.startswith("not_forwarded=")]
        print(f"leads created: {len(created)}")
        for outcome in created:
            print(f"  {outcome.detail}")
        print(f"status changes: {len(moves)}")
        for outcome in moves:
            print(f"  {outcome.key}: {outcome.detail}")
        print(f"forwards written: {len(forwards)}")
        for outcome in forwards:
            print(f"  {outcome.detail.removeprefix('sent_to=')}")
        if kept:
            print(f"not forwarded, operations received them directly (recorded as evidence): {len(kept)}")
            for outcome in kept:
                print(f"  {outcome.key}")
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


def cmd_trust(args: argparse.Namespace, config: Config) -> int:
    where, raws = newest_messages(config, args.messages)
    messages = []
    for raw in raws:
        with contextlib.suppress(MalformedMessage):
            messages.append(parse(raw, max_size=config.max_message_bytes))
    proposal = propose_trust(messages)
    print("\n".join(proposal_lines(proposal, where, config.trust)))
    return EXIT_OK if proposal.authserv_ids else EXIT_INPUT

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




COMMANDS = {"run": cmd_run, "replay": cmd_replay, "classify": cmd_classify, "eval": cmd_eval, "learn": cmd_learn,
            "leads": cmd_leads,
            "lead": cmd_lead, "review": cmd_review, "actions": cmd_actions, "quarantine": cmd_quarantine,
            "invoice": cmd_invoice, "status": cmd_status, "check": cmd_check, "trust": cmd_trust, "web": cmd_web,
            "users": cmd_users, "db": cmd_db, "auth": cmd_auth, "init": cmd_init}
