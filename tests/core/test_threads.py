"""Threading (references, then subject + participants) and matching threads to leads."""

from __future__ import annotations

from factories import make_message

from daemon.core.lead import Lead
from daemon.core.threads import (
    ThreadIndex,
    external_participants,
    match_lead,
    normalize_subject,
    sender_role,
    thread_message_ids,
)
from daemon.settings import Addresses

ADDRESSES = Addresses()


def remember(index: ThreadIndex, message) -> str:
    thread = index.assign(message, ADDRESSES).thread_id
    index.add(thread, thread_message_ids(message), message.subject, message.participants, ADDRESSES)
    return thread


def test_reply_joins_parent_by_in_reply_to() -> None:
    index = ThreadIndex()
    root = remember(index, make_message(message_id="a@x"))
    reply = make_message(message_id="b@x", in_reply_to=("a@x",), references=("a@x",), subject="Re: Other")
    assert index.assign(reply, ADDRESSES).thread_id == root
    assert index.assign(reply, ADDRESSES).method == "references"


def test_reply_to_unseen_parent_starts_thread_that_siblings_join() -> None:
    index = ThreadIndex()
    first = remember(index, make_message(message_id="c@x", in_reply_to=("b@x",), references=("a@x", "b@x")))
    assert first == "a@x"
    sibling = make_message(message_id="d@x", in_reply_to=("a@x",), references=("a@x",), subject="x")
    assert index.assign(sibling, ADDRESSES).thread_id == "a@x"


def test_missing_references_fall_back_to_subject_and_participants() -> None:
    index = ThreadIndex()
    root = remember(index, make_message(message_id="a@x", subject="Hub service for the Lakeside lab"))
    reply = make_message(message_id="z@x", subject="RE: Re: Hub service for the Lakeside lab",
                         from_addr="sam@2i2c.org", to=("maria.chen@westbrook.edu",))
    assignment = index.assign(reply, ADDRESSES)
    assert (assignment.thread_id, assignment.method) == (root, "subject")


def test_same_subject_with_other_people_is_a_new_thread() -> None:
    index = ThreadIndex()
    remember(index, make_message(message_id="a@x", subject="Question"))
    stranger = make_message(message_id="q@y", subject="Re: Question", from_addr="bob@elsewhere.org",
                            to=("partnerships@2i2c.org",), cc=())
    assignment = index.assign(stranger, ADDRESSES)
    assert assignment.method == "new" and assignment.thread_id == "q@y"


def test_normalize_subject_strips_stacked_prefixes() -> None:
    assert normalize_subject("RE: Fwd: AW:  Hub   service ") == "hub service"
    assert normalize_subject("Re[2]: Hub") == "hub"


LEADS = [
    Lead(id="1", name="Westbrook", status="Active Lead", contact_emails=("maria.chen@westbrook.edu",),
         domain="westbrook.edu"),
    Lead(id="2", name="Gmail community", status="Active Lead", contact_emails=("lab.pi@gmail.com",),
         domain="gmail.com"),
    Lead(id="3", name="Podc", status="Active Service", contact_emails=("ana@podc.org",), domain="podc.org"),
]


def test_lead_by_contact_then_domain() -> None:
    assert match_lead(("ana@podc.org",), LEADS).id == "3"
    assert match_lead(("someone.else@westbrook.edu",), LEADS).id == "1"
    # a contact address beats an earlier domain match
    assert match_lead(("x@westbrook.edu", "ana@podc.org"), LEADS).id == "3"


def test_public_mail_domains_match_by_address_only() -> None:
    assert match_lead(("stranger@gmail.com",), LEADS) is None
    assert match_lead(("lab.pi@gmail.com",), LEADS).id == "2"


def test_team_and_operations_are_never_lead_contacts() -> None:
    message = make_message(from_addr="sam@2i2c.org", to=("operations@codeforsociety.org", "ana@podc.org"),
                           cc=("partnerships@2i2c.org", "priya@2i2c.org"))
    assert external_participants(message, ADDRESSES) == ("ana@podc.org",)
    assert sender_role("sam@2i2c.org", LEADS[2], ADDRESSES) == "team"
    assert sender_role("operations@codeforsociety.org", LEADS[2], ADDRESSES) == "operations"
    assert sender_role("ana@podc.org", LEADS[2], ADDRESSES) == "lead_contact"
    assert sender_role("bob@podc.org", LEADS[2], ADDRESSES) == "unknown"


def test_the_stored_index_threads_a_mailbox_as_the_in_memory_one_does(tmp_path) -> None:
    """A recording pipeline keeps the thread index and the threads' leads in tables (memory stays flat over years
    of mail); it must assign every message of the example mailbox to the same thread and lead as the in-memory
    index of a dry run, also
    across a restart in the middle (the second half is threaded from what the first half recorded)."""
    from daemon.io import iter_source
    from daemon.runtime import make_pipeline, open_runtime
    from daemon.settings import RESOURCES, Config
    from daemon.state.ledger import StoredThreadIndex

    items = list(iter_source(RESOURCES / "examples" / "inbox.mbox"))

    def threads(pipeline, part) -> list[str]:
        found = []
        for item in part:
            evaluation = pipeline.process(item)
            if evaluation is None:
                found.append("-")
                continue
            lead = pipeline.evaluator.thread_reference(evaluation)
            found.append(f"{evaluation.thread_id} {evaluation.lead_reference} {lead}")
        return found

    config = Config(state_dir=tmp_path / "dry", leads_seed_csv=RESOURCES / "examples" / "leads.csv")
    dry = make_pipeline(open_runtime(config), dry_run=True)
    assert not isinstance(dry.evaluator.index, StoredThreadIndex)
    expected = threads(dry, items)
    config = Config(state_dir=tmp_path / "real", leads_seed_csv=RESOURCES / "examples" / "leads.csv")
    first = make_pipeline(open_runtime(config), dry_run=False, execute=False)
    assert isinstance(first.evaluator.index, StoredThreadIndex)
    half = len(items) // 2
    with first.batch():
        recorded = threads(first, items[:half])
    second = make_pipeline(open_runtime(config), dry_run=False, execute=False)
    recorded += threads(second, items[half:])
    assert recorded == expected
    assert len(set(expected)) < len(expected) - 10  # the mailbox has real threads, not one per message
