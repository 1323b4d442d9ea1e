"""The rule engine: loading and validating rules/*.toml, evaluating conditions and explaining decisions."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_message, pdf

from daemon.core.extract import extract_facts
from daemon.core.rules import INTENTS, Context, RuleSet, load_rules
from daemon.errors import RuleError
from daemon.settings import Config

CONFIG = Config()
INBOUND_CONTACT = Context(direction="inbound", sender_role="lead_contact")


def classify(rules: RuleSet, text: str, *, subject: str = "Re: Hub service", context: Context = INBOUND_CONTACT,
             **fields: object):
    message = make_message(new_text=text, subject=subject, **fields)
    facts = extract_facts(text, subject, message.date.date(), [t.name for t in CONFIG.tiers])
    return rules.classify(message, context, facts)


def test_one_rule_file_per_intent(rules: RuleSet) -> None:
    assert sorted(rules.files) == sorted(f"{intent}.toml" for intent in INTENTS)
    assert {rule.intent for rule in rules.rules} == set(INTENTS)


@pytest.mark.parametrize(("text", "intent", "rule"), [
    ("We would like to go ahead with the Medium tier at $3,000 per month.", "service_confirmation",
     "confirm-tier-at-price"),
    ("Happy to confirm: small hub service ($1,500/mo) starting January.", "service_confirmation",
     "confirm-tier-at-price"),
    ("We'd like to go ahead with the large tier.", "service_confirmation", "confirm-tier"),
    ("I confirm that the services for October were delivered as expected.", "delivery_affirmation",
     "services-delivered"),
    ("We applied for an NSF CSSI grant of $250k; the decision is expected in March. Can we revisit then?",
     "waiting", "funding-pending"),
    ("After a lot of discussion we have decided not to move forward this year.", "decline", "not-moving-forward"),
    ("Our grant ended, so we will end our hub service at the end of December.", "service_ended", "end-of-service"),
    ("We're interested in a managed JupyterHub for our course. Could you tell us more?", "first_contact",
     "interest-in-service"),
    ("Can we schedule a call next Tuesday?", "other", None),
])
def test_intents(rules: RuleSet, text: str, intent: str, rule: str | None) -> None:
    result = classify(rules, text)
    assert (result.intent, result.rule) == (intent, rule), result.explanation


def test_explanation_names_rule_phrases_and_confidence(rules: RuleSet) -> None:
    result = classify(rules, "We would like to go ahead with the Medium tier at $3,000 per month.")
    assert result.rule_file == "service_confirmation.toml"
    assert "go ahead with" in result.matched
    assert result.confidence == pytest.approx(0.95)
    assert result.facts.tier == "medium" and str(result.facts.price) == "3000"
    assert "confirm-tier-at-price" in result.explanation


@pytest.mark.parametrize("text", [
    "We can't confirm the Medium tier at $3,000 yet, the budget is not final.",
    "We can\u2019t confirm yet whether we go ahead with the small tier ($1,500/month).",
    "We hope to confirm the Small tier at $1,500 per month next month once the budget is approved.",
    "If we decide to go ahead with the medium tier at $3,000, when could you start?",
])
def test_hedged_confirmation_is_not_a_confirmation(rules: RuleSet, text: str) -> None:
    assert classify(rules, text).intent != "service_confirmation"


def test_confirmation_only_in_quoted_text_does_not_count(rules: RuleSet) -> None:
    quoted = "> We would like to go ahead with the Medium tier at $3,000 per month."
    result = classify(rules, "Thanks, let me check with our finance office.", full_text="Thanks\n" + quoted)
    assert result.intent == "other"


def test_casual_yes_is_a_low_confidence_confirmation(rules: RuleSet) -> None:
    result = classify(rules, "Sounds good, let's do it!", subject="Re: Small tier offer")
    assert result.intent == "service_confirmation"
    assert result.confidence < CONFIG.min_confidence


def test_confirmation_needs_an_inbound_sender(rules: RuleSet) -> None:
    text = "We would like to go ahead with the Medium tier at $3,000 per month."
    result = classify(rules, text, context=Context(direction="outbound", sender_role="team"))
    assert result.intent != "service_confirmation"


def test_contract_needs_the_document(rules: RuleSet) -> None:
    text = "Please find attached the signed services agreement."
    with_pdf = classify(rules, text, attachments=(pdf("2i2c-services-agreement-signed.pdf"),))
    assert (with_pdf.intent, with_pdf.rule) == ("contract", "signed-agreement-attached")
    without = classify(rules, "Our legal office has signed the agreement.")
    assert without.intent == "contract" and without.confidence < CONFIG.min_confidence


def test_affirmation_reply_to_certification(rules: RuleSet) -> None:
    result = classify(rules, "Yes, all good - everything was fine, thank you!",
                      subject="Re: Certification of services for October 2026")
    assert result.intent == "delivery_affirmation"
    assert result.facts.month == "2026-10"


def write_rule(tmp_path: Path, body: str, name: str = "decline.toml") -> Path:
    (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("body", "reason"), [
    ('intent = "decline"\n[[rule]]\nname = "x"\ntext_regex = ["(unclosed"]\n', "bad regular expression"),
    ('intent = "maybe"\n[[rule]]\nname = "x"\ntext_any = ["a"]\n', "intent 'maybe'"),
    ('intent = "decline"\n[[rule]]\nname = "x"\ntext_any = ["a"]\nsender_role = ["boss"]\n', "sender_role 'boss'"),
    ('intent = "decline"\n[[rule]]\nname = "x"\ntext_anyy = ["a"]\n', "unknown key(s): text_anyy"),
    ('intent = "decline"\n[[rule]]\nname = "x"\ndirection = "inbound"\n', "at least one positive condition"),
    ('intent = "decline"\n[[rule]]\nname = "x"\ntext_any = ["a"]\nconfidence = 2\n', "confidence"),
    ('intent = "decline"\n[[rule\n', "invalid TOML"),
])
def test_bad_rule_file_names_file_rule_and_reason(tmp_path: Path, body: str, reason: str) -> None:
    with pytest.raises(RuleError) as caught:
        load_rules(write_rule(tmp_path, body))
    message = str(caught.value)
    assert message.startswith("decline.toml")
    assert reason in message
    if "TOML" not in reason and "intent" not in reason:
        assert "rule 'x'" in message


def test_duplicate_rule_names_are_rejected(tmp_path: Path) -> None:
    write_rule(tmp_path, 'intent = "decline"\n[[rule]]\nname = "x"\ntext_any = ["a"]\n')
    write_rule(tmp_path, 'intent = "waiting"\n[[rule]]\nname = "x"\ntext_any = ["b"]\n', "waiting.toml")
    with pytest.raises(RuleError, match="duplicate rule name"):
        load_rules(tmp_path)


def test_ambiguous_match_halves_confidence(tmp_path: Path) -> None:
    write_rule(tmp_path, 'intent = "decline"\n[[rule]]\nname = "d"\npriority = 60\ntext_any = ["pass"]\n')
    write_rule(tmp_path, 'intent = "waiting"\n[[rule]]\nname = "w"\npriority = 60\ntext_any = ["later"]\n',
               "waiting.toml")
    result = load_rules(tmp_path).classify(make_message(new_text="We pass for now, later maybe"),
                                           INBOUND_CONTACT, extract_facts("", "", None, []))
    assert result.ambiguous and result.confidence == pytest.approx(0.45)
    assert "also matched" in result.explanation


def test_phrases_are_word_bounded(tmp_path: Path) -> None:
    write_rule(tmp_path, 'intent = "decline"\n[[rule]]\nname = "d"\ntext_any = ["pass"]\n')
    rules = load_rules(tmp_path)
    facts = extract_facts("", "", None, [])
    assert rules.classify(make_message(new_text="Please send the password"), INBOUND_CONTACT, facts).intent == "other"
    assert rules.classify(make_message(new_text="We will PASS."), INBOUND_CONTACT, facts).intent == "decline"
