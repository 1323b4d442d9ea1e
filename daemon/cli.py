"""The `partnerships` command line: arguments, and the one call into `daemon.commands` for the command given.

Nothing heavy is imported before a command runs, so `--help` and `--version` answer at once."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from daemon import __version__
from daemon.core.sanitize import TerminalSafe
from daemon.errors import EXIT_OK, EXIT_USAGE, DaemonError

DESCRIPTION = """Watch the team's shared mailbox, keep the leads' statuses up to date and forward the evidence
operations needs (confirmations, affirmations, contracts); build the monthly invoice batch.
Without --config the embedded demo runs (examples/inbox.mbox, state in ./state).
Start with `partnerships check --config FILE`, then `partnerships run --config FILE`."""


def build_parser() -> argparse.ArgumentParser:
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
    # The common options also work before the command: `partnerships --config FILE run --once`.
    parser = argparse.ArgumentParser(prog="partnerships", description=DESCRIPTION, parents=[common],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"partnerships-daemon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="watch the mailbox and act")
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    run.add_argument("--dry-run", action="store_true", help="decide, print, change nothing")
    run.add_argument("--interval", type=float, default=60, help="seconds between passes (file sources)")
    run.add_argument("--quiet", action="store_true", help="no progress of a long first sync")
    replay = sub.add_parser("replay", parents=[common], help="backfill from an mbox, Maildir, .eml folder or .eml")
    replay.add_argument("path")
    replay.add_argument("--dry-run", action="store_true")
    replay.add_argument("--quiet", action="store_true", help="no progress bar or progress lines")
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
    lead_edit = lead_sub.add_parser("edit", parents=[common], help="set status, tier, fee or start date by hand")
    lead_edit.add_argument("lead", help="the lead's name (or part of it), domain or a contact address")
    lead_edit.add_argument("--status", help='a status, e.g. "Active Service" (quoted)')
    lead_edit.add_argument("--tier", help="service tier, e.g. medium")
    lead_edit.add_argument("--fee", help="monthly fee, a decimal amount such as 3000.00")
    lead_edit.add_argument("--start", help="service start date, YYYY-MM-DD")
    lead_sub.add_parser("undo", parents=[common], help="revert the lead's last status move").add_argument(
        "lead", help="the lead's name (or part of it), domain or a contact address")
    review = sub.add_parser("review", parents=[common], help="the human review queue")
    review_sub = review.add_subparsers(dest="review_command")
    review_list = review_sub.add_parser("list", parents=[common], help="open items (--all: decided ones too)")
    review_list.add_argument("--json", action="store_true")
    review_list.add_argument("--all", action="store_true", help="also the approved and rejected items")
    for verb in ("approve", "reject"):
        decide = review_sub.add_parser(verb, parents=[common])
        decide.add_argument("id", type=int)
        decide.add_argument("--by", help="who decides (default: your OS user)")
        decide.add_argument("--comment", help="why, kept with the decision")
    relabel = review_sub.add_parser("reclassify", parents=[common], help="say what the item's message means")
    relabel.add_argument("id", type=int)
    relabel.add_argument("intent", help="one of the classifier's intents, or other")
    relabel.add_argument("--by", help="who says so (default: your OS user)")
    invoice = sub.add_parser("invoice", parents=[common], help="build and send a month's invoice batch")
    invoice.add_argument("--month", help="YYYY-MM (default: the month before this one)")
    invoice.add_argument("--dry-run", action="store_true", help="print the batch, send nothing")
    invoice.add_argument("--resend", action="store_true", help="send a corrected batch for a month already sent")
    invoice.add_argument("--reason", help="with --resend: why (shown in the batch; once per reason)")
    sub.add_parser("status", parents=[common], help="sync cursors, queues, failures").add_argument(
        "--json", action="store_true", help="the same facts as one JSON object")
    sub.add_parser("check", parents=[common], help="validate config, rules and templates").add_argument(
        "--live", action="store_true", help="also log in to IMAP, SMTP and Airtable with the configured secrets")
    actions = sub.add_parser("actions", parents=[common], help="the outbox: list, retry or cancel actions")
    actions_sub = actions.add_subparsers(dest="actions_command")
    actions_list = actions_sub.add_parser("list", parents=[common], help="actions waiting or failed")
    actions_list.add_argument("--failed", action="store_true", help="only actions that failed for good")
    actions_list.add_argument("--all", action="store_true", help="done and cancelled ones too")
    actions_list.add_argument("--json", action="store_true", help="a JSON list")
    actions_retry = actions_sub.add_parser("retry", parents=[common], help="try a failed action again, now")
    actions_retry.add_argument("id", type=int, nargs="?")
    actions_retry.add_argument("--all-failed", action="store_true", help="every failed action")
    actions_sub.add_parser("cancel", parents=[common], help="never carry out this action").add_argument(
        "id", type=int)
    evaluate = sub.add_parser("eval", parents=[common], help="measure the classifier on labelled mail")
    evaluate.add_argument("path", help="a folder of .eml files (e.g. eval/) or an mbox")
    evaluate.add_argument("--labels", type=Path,
                          help="labels.csv (default: in PATH's folder or its parent; none: predictions only)")
    evaluate.add_argument("--split", help="only this split of labels.csv (dev or test)")
    evaluate.add_argument("--json", action="store_true", help="the figures as one JSON object per split")
    learn = sub.add_parser("learn", parents=[common], help="retrain the model with the team's review labels")
    learn.add_argument("--eval", type=Path, help="the labelled set (default: eval/ of the checkout)")
    learn.add_argument("--ham", type=Path, help="ordinary mail taught as `other` (default: $PARTNERSHIPS_CORPUS/ham)")
    quarantine = sub.add_parser("quarantine", parents=[common], help="messages that could not be processed")
    quarantine_sub = quarantine.add_subparsers(dest="quarantine_command")
    quarantine_sub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    quarantine_sub.add_parser("show", parents=[common]).add_argument("id", type=int)
    retry = quarantine_sub.add_parser("retry", parents=[common], help="run the stored bytes through the pipeline")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--all", action="store_true", help="every quarantined message")
    web = sub.add_parser("web", parents=[common], help="serve the team's web desk (see README, Web desk)")
    web.add_argument("--listen", default="127.0.0.1:8025", help="HOST:PORT (default 127.0.0.1:8025)")
    web.add_argument("--sso-header", help="identity header set by a single-sign-on proxy, e.g. X-Forwarded-Email")
    web.add_argument("--trusted-proxy", action="append", default=[],
                     help="address or network of that proxy; the header is believed only from there (repeatable)")
    web.add_argument("--metrics-token-file", type=Path, help="a file holding a bearer token for /metrics")
    web.add_argument("--insecure-cookie", action="store_true",
                     help="session cookie without Secure, for plain http://127.0.0.1 only (tests, local trials)")
    users = sub.add_parser("users", parents=[common], help="local accounts of the web desk")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    users_sub.add_parser("list", parents=[common])
    for verb in ("add", "remove"):
        users_sub.add_parser(verb, parents=[common]).add_argument("name")
    trust = sub.add_parser("trust", parents=[common], help="which receiving server to trust")
    trust.add_subparsers(dest="trust_command", required=True).add_parser(
        "detect", parents=[common], help="propose [trust] authserv_ids from the newest messages of the source"
    ).add_argument("--messages", type=int, default=50, help="how many of the newest messages to read")
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




def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plain_stdout, plain_stderr = sys.stdout, sys.stderr
    # Mail text never reaches the terminal (or the journal) as escape sequences or bidi controls.
    sys.stdout, sys.stderr = TerminalSafe(plain_stdout), TerminalSafe(plain_stderr)
    try:
        from daemon import logsetup
        from daemon.memory import fix_mmap_threshold
        from daemon.runtime import load_config

        fix_mmap_threshold()

        config = load_config(getattr(args, "config", None), state_dir=getattr(args, "state", None))
        default_level = "info" if args.command == "run" or getattr(args, "verbose", False) else "warning"
        logsetup.configure(config.log_format, level=getattr(args, "log_level", default_level))
        commands = importlib.import_module("daemon.commands")
        return commands.COMMANDS[args.command](args, config)
    except DaemonError as exc:
        print(f"partnerships: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `partnerships leads --json | head`: the reader left; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), plain_stdout.fileno())
        return EXIT_OK
    finally:
        sys.stdout, sys.stderr = plain_stdout, plain_stderr
