"""The pipeline over a real SQLite state dir and outbox: recording, executing, dedup, dry runs, quarantine."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from factories import raw_email
from sqlalchemy import func, select

from daemon.io import RawItem, iter_source
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import Config
from daemon.state.models import ActionRow, Classification, Quarantined, ReviewItem, StoredMessage, SyncCursor

FIRST = raw_email(message_id="q1@lakeside.edu", sender="Ada Park <ada@lakeside.edu>", to="partnerships@2i2c.org",
                  cc="", subject="Managed hub for our lab?",
                  body="Hi, we're interested in a managed JupyterHub for our lab. Could you tell us more?\n")
CONFIRM = raw_email(message_id="q2@lakeside.edu", sender="Ada Park <ada@lakeside.edu>", to="sam@2i2c.org",
                    in_reply_to="q1@lakeside.edu", subject="Re: Managed hub for our lab?",
                    body="Thanks Sam! We would like to go ahead with the Small tier at $1,500 per month.\n\n"
                         "On Tue, Oct 6, 2026 at 9:12 AM Sam Rivera <sam@2i2c.org> wrote:\n"
                         "> Could you confirm the tier?\n")
UNRELATED = raw_email(message_id="u1@elsewhere.org", sender="bob@elsewhere.org", to="alice@elsewhere.org", cc="",
                      subject="Lunch", body="We would like to go ahead with the Small tier at $1,500 per month.")


def config_for(tmp_path: Path) -> Config:
    return Config(state_dir=tmp_path / "state", leads_seed_csv=None)


def write_mbox(path: Path, messages: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for data in messages:
        box.add(data)
    box.flush()
    box.close()
    return path


def run(config: Config, mbox: Path, *, dry_run: bool = False):
    runtime = open_runtime(config)
    pipeline = make_pipeline(runtime, dry_run=dry_run)
    summary = pipeline.process_all(iter_source(mbox))
    return runtime, summary


def count(runtime, table) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_new_lead_then_confirmation_forwards_once(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    mbox = write_mbox(tmp_path / "in.mbox", [FIRST, CONFIRM, UNRELATED])
    runtime, summary = run(config, mbox)
    leads = runtime.leads.all()
    assert [(lead.name, lead.status, lead.contact_emails) for lead in leads] == [
        ("lakeside.edu", "Needs Admin", ("ada@lakeside.edu",))]
    assert "Active Lead -> Needs Admin" in leads[0].notes
    forwards = sorted(config.outbox_dir.iterdir())
    assert len(forwards) == 1
    body = forwards[0].read_bytes()
    assert b"NEW SERVICE for lakeside.edu" in body and b"Message-ID: <q2@lakeside.edu>" in body
    # the unrelated message reads like a confirmation too, but involves neither a lead nor partnerships@: it is
    # decided (no lead) without being classified
    assert summary.intents == {"first_contact": 1, "service_confirmation": 1, "other": 1}
    with runtime.sessions() as session:
        assert session.scalar(select(SyncCursor.last_uid)) == 3
        unrelated = session.scalar(select(Classification).join(StoredMessage).where(
            StoredMessage.message_id == "u1@elsewhere.org"))
        assert (unrelated.intent, unrelated.rule) == ("other", None)
        assert unrelated.explanation.startswith("no lead: ")
        stored = session.scalar(select(StoredMessage).where(StoredMessage.message_id == "q2@lakeside.edu"))
        assert stored.raw == CONFIRM and stored.lead_id == leads[0].id
        # no forward, no raw kept for the unrelated message
        assert session.scalar(select(StoredMessage.raw).where(StoredMessage.message_id == "u1@elsewhere.org")) is None

    runtime2, again = run(config, mbox)
    assert again.duplicates == 3 and not again.outcomes
    assert len(list(config.outbox_dir.iterdir())) == 1
    # create, status, the stated facts, evidence, forward, and a MANIAC-T checklist line after each of Ada's messages
    assert count(runtime2, ActionRow) == 7


def test_dry_run_changes_nothing_but_reports(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    mbox = write_mbox(tmp_path / "in.mbox", [FIRST, CONFIRM])
    runtime, summary = run(config, mbox, dry_run=True)
    assert [a.kind for a in summary.planned] == ["create_lead", "add_note", "set_status", "set_facts",
                                                 "record_evidence", "forward", "add_note"]
    assert runtime.leads.all() == [] and not config.outbox_dir.exists()
    assert count(runtime, StoredMessage) == 0 and count(runtime, ActionRow) == 0


def test_pending_actions_survive_a_crash_between_record_and_execute(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    runtime = open_runtime(config)
    pipeline = make_pipeline(runtime, dry_run=False)
    pipeline.executor = None  # simulates dying right after the recording transaction
    pipeline.process(RawItem("mbox:x", 1, FIRST))
    pipeline.process(RawItem("mbox:x", 2, CONFIRM))
    assert count(runtime, ActionRow) == 7 and runtime.leads.all() == []
    restarted = open_runtime(config)
    outcomes = restarted.executor.run_pending()
    assert sorted(o.kind for o in outcomes if o.status == "done") == [
        "add_note", "add_note", "create_lead", "forward", "record_evidence", "set_facts", "set_status"]
    assert restarted.leads.all()[0].status == "Needs Admin"
    assert len(list(config.outbox_dir.iterdir())) == 1


def test_unparseable_input_is_quarantined_not_raised(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    runtime = open_runtime(config)
    pipeline = make_pipeline(runtime, dry_run=False)
    assert pipeline.process(RawItem("mbox:x", 1, b"")) is None
    assert pipeline.process(RawItem("mbox:x", 1, b"")) is None  # same bytes again: one record
    assert count(runtime, Quarantined) == 1
    assert pipeline.summary.quarantined and "empty" in pipeline.summary.quarantined[0].lower()


def test_low_confidence_confirmation_waits_in_review(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    casual = raw_email(message_id="q3@lakeside.edu", sender="Ada Park <ada@lakeside.edu>",
                       in_reply_to="q1@lakeside.edu", subject="Re: Small tier offer", body="Sounds good, let's do it!")
    mbox = write_mbox(tmp_path / "in.mbox", [FIRST, casual])
    runtime, _ = run(config, mbox)
    assert runtime.leads.all()[0].status == "Active Lead"
    with runtime.sessions() as session:
        item = session.scalar(select(ReviewItem))
    assert "confidence 0.50" in item.reason
    assert [a["kind"] for a in item.proposed] == ["set_status", "record_evidence", "forward"]
    assert not config.outbox_dir.exists()


@pytest.mark.parametrize("kind", ["maildir", "emldir"])
def test_other_source_kinds(tmp_path: Path, kind: str) -> None:
    if kind == "maildir":
        box = mailbox.Maildir(str(tmp_path / "md"))
        for data in (FIRST, CONFIRM):
            box.add(data)
        path = tmp_path / "md"
    else:
        path = tmp_path / "emls"
        path.mkdir()
        (path / "1.eml").write_bytes(FIRST)
        (path / "2.eml").write_bytes(CONFIRM)
    assert [item.data for item in iter_source(path)] in ([FIRST, CONFIRM], [CONFIRM, FIRST])


def test_unauthenticated_or_forged_confirmation_goes_to_review(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    forged = raw_email(message_id="q9@lakeside.edu", sender="Ada Park <ada@lakeside.edu>",
                       in_reply_to="q1@lakeside.edu", subject="Re: Managed hub for our lab?", authenticated=False,
                       # a header the sender wrote below where our server would put its own: never trusted
                       headers={"Authentication-Results": "mx.google.com; dmarc=pass header.from=lakeside.edu"},
                       body="We would like to go ahead with the Small tier at $1,500 per month.\n")
    forged = (b"Authentication-Results: mx.google.com; dmarc=fail (p=REJECT) header.from=lakeside.edu\r\n"
              + forged)
    mbox = write_mbox(tmp_path / "in.mbox", [FIRST, forged])
    runtime, summary = run(config, mbox)
    assert runtime.leads.all()[0].status == "Active Lead"
    assert not config.outbox_dir.exists()
    [review] = summary.reviews
    assert "sender not verified: " in review and "dmarc=fail" in review


def test_a_batch_leaves_a_message_another_writer_recorded_first_and_writes_the_rest(tmp_path: Path) -> None:
    """A batch is written with one statement per table; when another process recorded one of its messages in
    the meantime, the batch is written message by message instead: that one is left to the other writer (no
    second classification or action), the others are recorded, and the cursor moves past all of them."""
    config = config_for(tmp_path)
    items = [RawItem("mbox:in.mbox", uid, data) for uid, data in enumerate([FIRST, CONFIRM, UNRELATED], start=1)]
    first = make_pipeline(open_runtime(config), dry_run=False, execute=False)
    other = make_pipeline(open_runtime(config), dry_run=False, execute=False)
    other.process(items[1])  # recorded after `first` looked at the state
    with first.batch():
        for item in items:
            first.process(item)
    runtime = open_runtime(config)
    with runtime.sessions() as session:
        recorded = session.execute(select(StoredMessage.message_id, StoredMessage.source_uid)).all()
        cursor = session.get(SyncCursor, "mbox:in.mbox")
    assert sorted(recorded) == [("q1@lakeside.edu", 1), ("q2@lakeside.edu", 2), ("u1@elsewhere.org", 3)]
    assert cursor is not None and cursor.last_uid == 3
    assert not first.summary.quarantined


def test_lookups_see_the_messages_of_the_batch_not_written_yet(tmp_path: Path) -> None:
    """Inside a batch the messages are held until it is written: a duplicate of one of them, and a reply to
    one of them, must still be known (the batch is written first when a lookup needs it)."""
    config = config_for(tmp_path)
    pipeline = make_pipeline(open_runtime(config), dry_run=False, execute=False)
    with pipeline.batch():
        parent = pipeline.process(RawItem("mbox:in.mbox", 1, FIRST))
        reply = pipeline.process(RawItem("mbox:in.mbox", 2, CONFIRM))
        again = pipeline.process(RawItem("mbox:in.mbox", 3, FIRST))
    assert parent is not None and reply is not None and again is None
    assert reply.thread_id == parent.thread_id and reply.thread_method == "references"
    assert pipeline.summary.duplicates == 1


def test_a_reports_lines_are_capped_but_counted() -> None:
    """A first import of years of mail must not hold a report line per message until the end."""
    from daemon.pipeline import Listing

    lines = Listing()
    for number in range(Listing.LIMIT + 5):
        lines.append(f"line {number}")
    assert len(lines) == Listing.LIMIT + 5 and lines[-1] == f"line {Listing.LIMIT + 4}"
    shown = list(lines)
    assert shown[0] == "line 0" and shown[-1] == "... and 5 more" and len(shown) == Listing.LIMIT + 1


@pytest.mark.parametrize("record_batch", [9, 1000])
def test_a_batch_threads_a_mailbox_read_twice_as_the_in_memory_index_does(tmp_path: Path, record_batch: int) -> None:
    """Inside a batch, lookups answer from the messages held for its write and from the tables together: the
    example mailbox, then the same mail again under new Message-IDs (replies to known and to held threads,
    subjects begun in the tables and in the held messages), is threaded as a dry run's in-memory index does,
    with batches written every 9 messages, or all held until the end."""
    import re
    from dataclasses import replace

    from daemon.settings import RESOURCES

    items = list(iter_source(RESOURCES / "examples" / "inbox.mbox"))
    again = [RawItem(item.source, item.uid + len(items), re.sub(
        rb"(?im)^Message-ID:\s*<", b"Message-ID: <again.", item.data, count=1), item.origin) for item in items]

    def threads(pipeline) -> list[str]:
        found = []
        with pipeline.batch():
            for item in items + again:
                evaluation = pipeline.process(item)
                found.append("-" if evaluation is None else
                             f"{evaluation.thread_id} {evaluation.thread_method} "
                             f"{pipeline.evaluator.thread_reference(evaluation)}")
        return found

    seed = RESOURCES / "examples" / "leads.csv"
    dry = make_pipeline(open_runtime(Config(state_dir=tmp_path / "dry", leads_seed_csv=seed)), dry_run=True)
    expected = threads(dry)
    config = replace(Config(state_dir=tmp_path / "real", leads_seed_csv=seed), record_batch=record_batch)
    recorded = threads(make_pipeline(open_runtime(config), dry_run=False, execute=False))
    assert recorded == expected
    assert sum(" subject " in line for line in expected) >= 5  # the subject fallback is exercised
