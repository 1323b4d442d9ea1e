"""Deciding actions from a classification and a lead: status transitions, forwards, reviews."""

from __future__ import annotations

from datetime import date

import pytest
from factories import make_message

from daemon.core.decide import Situation, decide, due_activations
from daemon.core.extract import Facts
from daemon.core.lead import Lead
from daemon.core.rules import Classification
from daemon.core.wording import describe
from daemon.settings import Addresses

ADDRESSES = Addresses()


def classified(intent: str, confidence: float = 0.95, **facts: object) -> Classification:
    return Classification(intent, f"{intent}-rule", f"{intent}.toml", confidence, ("phrase",), Facts(**facts),
                          "because")


def lead(status: str) -> Lead:
    return Lead(id="7", name="Westbrook", status=status, contact_emails=("maria.chen@westbrook.edu",),
                domain="westbrook.edu")


def situation(intent: str, status: str | None, *, role: str = "lead_contact", confidence: float = 0.95,
              automated: str | None = None, message=None, **facts: object) -> Situation:
    message = message or make_message()
    return Situation(message=message, classification=classified(intent, confidence, **facts),
                     lead=lead(status) if status else None, externals=("maria.chen@westbrook.edu",),
                     sender_role=role, thread_id="t1", min_confidence=0.8, addresses=ADDRESSES,
                     automated=automated)


def kinds(decision) -> list[str]:
    return [action.kind for action in decision.actions]


def test_confirmation_moves_to_needs_admin_and_forwards() -> None:
    decision = decide(situation("service_confirmation", "Active Lead", tier="medium", price=3000))
    assert kinds(decision) == ["set_status", "set_facts", "record_evidence", "forward"]
    status, facts, _, forward = decision.actions
    assert (facts.payload["tier"], facts.payload["monthly_fee"]) == ("medium", "3000")
    assert (status.payload["from"], status.payload["to"]) == ("Active Lead", "Needs Admin")
    assert forward.key == "forward:m1@westbrook.edu:service_confirmation"
    assert forward.payload["vars"]["tier"] == "medium" and forward.payload["vars"]["price"] == "3000"
    assert decision.review is None


@pytest.mark.parametrize(("intent", "before", "after"), [
    ("waiting", "Active Lead", "Waiting"),
    ("decline", "Waiting", "Inactive Lead"),
    ("service_ended", "Active Service", "Inactive Service"),
])
def test_status_signals(intent: str, before: str, after: str) -> None:
    decision = decide(situation(intent, before))
    assert kinds(decision) == ["set_status"]
    assert decision.actions[0].payload["to"] == after


@pytest.mark.parametrize(("text", "effective"), [
    ("Our hub service ends on December 31.", "2026-12-31"),
    ("We will wind down at the end of November.", "2026-11-30"),
    ("Please stop our service, thanks.", None),
])
def test_service_end_carries_the_stated_date(text: str, effective: str | None) -> None:
    decision = decide(situation("service_ended", "Active Service", message=make_message(new_text=text)))
    [status] = decision.actions
    assert status.payload["effective"] == effective  # the executor holds the move until then
    words = describe("set_status", status.payload, "Westbrook")
    assert words == "move Westbrook from Active Service to Inactive Service" + (f" on {effective}" if effective else "")


def test_service_end_without_a_date_header_leaves_the_date_to_the_executor() -> None:
    message = make_message(new_text="Our hub service ends on December 31.", date=None)
    [status] = decide(situation("service_ended", "Active Service", message=message)).actions
    assert "effective" not in status.payload


def test_illegal_move_becomes_review() -> None:
    decision = decide(situation("decline", "Active Service"))
    assert decision.actions == ()
    assert decision.review is not None
    assert "Active Service -> Inactive Lead is not an allowed move" in decision.review.reason


def test_low_confidence_forwarding_intent_becomes_review_with_proposed_actions() -> None:
    decision = decide(situation("service_confirmation", "Active Lead", confidence=0.5))
    assert decision.actions == ()
    assert [a.kind for a in decision.review.proposed] == ["set_status", "record_evidence", "forward"]
    assert "confidence 0.50 is below 0.80" in decision.review.reason


def test_confirmation_from_non_contact_goes_to_review() -> None:
    decision = decide(situation("service_confirmation", "Active Lead", role="unknown"))
    assert decision.actions == () and "not a known contact" in decision.review.reason


def test_affirmation_without_month_takes_month_before_reply() -> None:
    decision = decide(situation("delivery_affirmation", "Active Service"))
    evidence, forward = decision.actions
    assert (evidence.payload["month"], evidence.payload["month_stated"]) == ("2026-09", False)
    assert forward.payload["vars"]["month"] == "2026-09"
    assert kinds(decision) == ["record_evidence", "forward"]


def test_new_external_thread_creates_active_lead_and_nothing_more_without_review() -> None:
    # Issue 15: the first message of a new lead may create it (Active Lead); a move or forward needs a person.
    decision = decide(situation("service_confirmation", None, tier="small", price=1500))
    assert kinds(decision) == ["create_lead"]
    create = decision.actions[0]
    assert create.key == "create_lead:westbrook.edu"
    assert create.payload["status"] == "Active Lead"
    assert create.payload["contact_emails"] == ["maria.chen@westbrook.edu"]
    assert [a.kind for a in decision.review.proposed] == ["set_status", "set_facts", "record_evidence", "forward"]
    assert decision.review.proposed[0].payload["lead"] == "new:create_lead:westbrook.edu"
    assert decision.review.reason.startswith("first message of the new lead westbrook.edu")


def test_no_lead_without_partnerships_involved() -> None:
    message = make_message(cc=())
    decision = decide(situation("first_contact", None, message=message))
    assert decision.actions == () and decision.review is None


def test_automated_and_operations_mail_do_nothing() -> None:
    assert decide(situation("service_confirmation", "Active Lead", automated="auto-submitted")).actions == ()
    assert decide(situation("delivery_affirmation", "Active Service", role="operations")).actions == ()


def test_same_status_is_not_a_move() -> None:
    decision = decide(situation("waiting", "Waiting"))
    assert decision.actions == () and decision.review is None


def test_activation_on_service_start_date() -> None:
    leads = [Lead(id="1", name="A", status="Needs Admin", service_start=date(2026, 11, 1)),
             Lead(id="2", name="B", status="Needs Admin", service_start=date(2026, 12, 1)),
             Lead(id="3", name="C", status="Active Lead", service_start=date(2026, 1, 1))]
    actions = due_activations(leads, date(2026, 11, 23))
    assert [(a.payload["lead"], a.payload["to"]) for a in actions] == [("1", "Active Service")]


def test_unverified_sender_sends_every_action_to_review() -> None:
    from dataclasses import replace

    from daemon.core.trust import TrustVerdict

    unverified = replace(situation("service_confirmation", None, tier="small", price=1500),
                         trust=TrustVerdict(False, "dmarc=fail (header.from=westbrook.edu) by mx.google.com", None))
    decision = decide(unverified)
    assert decision.actions == ()
    assert [a.kind for a in decision.review.proposed] == ["create_lead", "set_status", "set_facts", "record_evidence",
                                                           "forward"]
    assert decision.review.reason.startswith("sender not verified: dmarc=fail")
    trusted = replace(unverified, trust=TrustVerdict(True, "dmarc=pass", "dmarc"))
    assert kinds(decide(trusted)) == ["create_lead"]  # the rest waits: first message of a new lead


def test_stated_facts_become_a_recorded_action_and_the_start_only_where_none_is_on_file() -> None:
    from dataclasses import replace

    confirmed = situation("service_confirmation", "Active Lead", tier="large", price=6000, currency="EUR",
                          start_date=date(2027, 1, 1))
    [facts] = [a for a in decide(confirmed).actions if a.kind == "set_facts"]
    assert facts.key == "facts:m1@westbrook.edu"
    assert (facts.payload["tier"], facts.payload["monthly_fee"], facts.payload["currency"],
            facts.payload["service_start"]) == ("large", "6000", "EUR", "2027-01-01")
    started = replace(confirmed, lead=replace(confirmed.lead, service_start=date(2026, 6, 1)))
    [facts] = [a for a in decide(started).actions if a.kind == "set_facts"]
    assert "service_start" not in facts.payload  # the table's date wins
    nothing = situation("service_confirmation", "Active Lead")
    assert "set_facts" not in kinds(decide(nothing))


def test_a_first_affirmation_records_the_start_of_a_service_not_yet_running_only() -> None:
    for status in ("Needs Admin", "Active Lead"):  # Active Lead: the confirmation's move may be on its way
        [facts] = [a for a in decide(situation("delivery_affirmation", status)).actions if a.kind == "set_facts"]
        assert facts.payload["service_start"] == "2026-09-01"  # the affirmed month (the one before the reply)
    for status in ("Active Service", "Inactive Service"):  # running or ended without a date: not guessed
        assert "set_facts" not in kinds(decide(situation("delivery_affirmation", status)))


def test_operations_saying_the_hub_is_set_up_records_the_start_of_a_lead_in_needs_admin() -> None:
    live = make_message(from_addr="ops@codeforsociety.org", new_text="Hi all, the hub is now live at https://w.org.")
    [facts] = decide(situation("other", "Needs Admin", role="operations", message=live)).actions
    assert facts.kind == "set_facts" and facts.payload["service_start"] == live.date.date().isoformat()
    for status, text in [("Active Lead", "The hub is now live."), ("Needs Admin", "The hub will be ready next week."),
                         ("Needs Admin", "Is the hub ready?"), ("Needs Admin", "The hub is not ready yet.")]:
        message = make_message(from_addr="ops@codeforsociety.org", new_text=text)
        assert decide(situation("other", status, role="operations", message=message)).actions == (), text


def test_forward_log_counts_the_day_before_whatever_order_forwards_were_added() -> None:
    from datetime import UTC, datetime, timedelta

    from daemon.core.decide import ForwardLog

    log = ForwardLog()
    noon = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    for hours in (30, 1, 23, 25, -1, 0):  # out of order, as a replay of several folders adds them
        log.add("L1", "a@x.org", noon - timedelta(hours=hours))
    limits = log.limits("L1", "b@y.org", noon, per_lead=3, per_sender=3)
    # within (noon - 24 h, noon + 5 min]: 1, 23 and 0 hours before noon (one hour after noon is out)
    assert (limits.lead_count, limits.sender_count) == (3, 0)
    assert log.limits("L1", "a@x.org", None, per_lead=3, per_sender=3).sender_count == 6
