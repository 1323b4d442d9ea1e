"""Sentence-level classification: scopes (negation, hedge, condition, question), five languages, contracts by
their document, the explanation, and the lexicon files (rules/lexicon/*.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import make_message, pdf

from daemon.core.extract import extract_facts
from daemon.core.language import detect
from daemon.core.lexicon import load_language
from daemon.core.message import Attachment
from daemon.core.rules import INTENTS, Context, RuleSet
from daemon.core.sentences import split_sentences
from daemon.errors import RuleError
from daemon.settings import Config

CONFIG = Config()
CONTACT = Context(direction="inbound", sender_role="lead_contact")


def classify(rules: RuleSet, text: str, *, subject: str = "Re: Hub proposal", context: Context = CONTACT,
             tiers: tuple[str, ...] = ("small", "medium", "large"), **fields: object):
    message = make_message(new_text=text, subject=subject, **fields)
    facts = extract_facts(text, subject, message.date.date(), tiers)
    return rules.classify(message, context, facts)


@pytest.mark.parametrize(("text", "intent"), [
    # paraphrase: none of these is in a phrase rule
    ("Our dean approved it, so we are moving forward with the Research plan at $2,500 per month.",
     "service_confirmation"),
    ("Please consider this our acceptance of the Essentials package (USD 1,200 monthly).", "service_confirmation"),
    ("We have decided to discontinue the hub service at the end of the term.", "service_ended"),
    ("Thanks, but we will not be going ahead with a managed hub this year.", "decline"),
    ("We need to put this on hold until our next budget year starts.", "waiting"),
    # Spanish, Portuguese, French, German
    ("Queremos confirmar que vamos a contratar el plan Estándar por 3.000 USD al mes.", "service_confirmation"),
    ("Confirmo que os serviços de outubro foram prestados conforme o combinado.", "delivery_affirmation"),
    ("Merci, mais nous avons décidé de ne pas donner suite à votre proposition.", "decline"),
    ("Wir warten noch auf die Förderzusage für das Hub-Projekt. Können wir im März wieder sprechen?", "waiting"),
])
def test_paraphrases_and_languages_act(rules: RuleSet, text: str, intent: str) -> None:
    result = classify(rules, text)
    assert result.intent == intent, result.explanation
    assert result.confidence >= CONFIG.min_confidence, result.explanation


@pytest.mark.parametrize(("text", "scope"), [
    ("If the board approves the budget, we would like to go ahead with the Medium tier at $3,000 per month.",
     "conditional"),
    ("We might go with the Medium tier, but we're still comparing options.", "hedge"),
    ("I can't confirm the Medium tier yet, our budget isn't approved.", "negation"),
    ("Would it be possible to go ahead with the Medium tier at $2,000 a month?", "question"),
    ("Si el consejo aprueba el presupuesto, contrataríamos el plan Mediano.", "conditional"),
    ("Vielleicht nehmen wir das Paket Basis, aber wir vergleichen noch.", "hedge"),
])
def test_a_confirmation_out_of_scope_is_not_one(rules: RuleSet, text: str, scope: str) -> None:
    result = classify(rules, text)
    assert result.intent != "service_confirmation" or result.confidence < CONFIG.min_confidence, result.explanation


def test_a_refusal_in_the_same_sentence_outranks_a_configured_tier_confirmation(rules: RuleSet) -> None:
    result = classify(rules, "I can confirm that we will not move forward with the Medium tier at $3,000.")
    assert result.intent == "decline", result.explanation
    assert "vetoed" not in result.explanation or result.rule != "confirm-tier-at-price"


def test_any_stated_tier_name_is_a_tier_without_configuration(rules: RuleSet) -> None:
    result = classify(rules, "We'd like to go ahead with the Essentials plan at 2.500,00 € per month.", tiers=())
    assert (result.intent, result.facts.tier, str(result.facts.price), result.facts.currency) == (
        "service_confirmation", "essentials", "2500.00", "EUR")
    assert result.confidence >= CONFIG.min_confidence


def test_affirmation_as_a_full_sentence_outside_a_certification_thread(rules: RuleSet) -> None:
    result = classify(rules, "Just to say the hub was provided as agreed throughout October.", subject="Hello")
    assert (result.intent, result.facts.month) == ("delivery_affirmation", "2026-10")
    assert result.confidence >= CONFIG.min_confidence


@pytest.mark.parametrize(("body", "subject", "attachment"), [
    ("Signed.", "Countersigned MSA", Attachment("MSA_countersigned.pdf", "application/octet-stream", 900)),
    ("see attached", "Signed contract", Attachment("scan_contract.pdf", "application/octet-stream", 900)),
    ("Attached is the executed agreement.", "Re: paperwork", pdf("agreement.pdf")),
])
def test_contract_by_file_name_extension_subject_and_body(rules: RuleSet, body: str, subject: str,
                                                          attachment: Attachment) -> None:
    result = classify(rules, body, subject=subject, attachments=(attachment,))
    assert result.intent == "contract" and result.confidence >= CONFIG.min_confidence, result.explanation


def test_a_draft_contract_is_not_a_contract(rules: RuleSet) -> None:
    result = classify(rules, "Here is the draft agreement for your review; we have not signed anything yet.",
                      subject="Draft agreement", attachments=(pdf("agreement_DRAFT.pdf"),))
    assert result.intent != "contract" or result.confidence < CONFIG.min_confidence


@pytest.mark.parametrize("role", ["team", "operations"])
def test_mail_from_the_team_or_operations_is_not_evidence(rules: RuleSet, role: str) -> None:
    context = Context(direction="outbound" if role == "team" else "inbound", sender_role=role)
    result = classify(rules, "We confirm the Medium tier at $3,000 per month as discussed.", context=context)
    assert result.intent not in ("service_confirmation",), result.explanation


def test_ordinary_mail_with_agreement_words_is_not_an_action(rules: RuleSet) -> None:
    for text in ("I agree with Rod Lee.", "We will take care of the donation forms.",
                 "I'm not going to make it this weekend.", "We can't wait for another meeting - we are in front "
                 "of the board on Monday."):
        assert classify(rules, text, subject="Friday").intent == "other", text


def test_the_decision_names_its_sentence_cue_and_language(rules: RuleSet) -> None:
    result = classify(rules, "Hola. Hemos decidido seguir adelante con el plan Básico por 1.500 USD al mes.")
    assert result.intent == "service_confirmation"
    assert result.language == "es" and "plan Básico" in result.sentence
    assert result.matched and result.rule_file and result.explanation.startswith(("sentence", "rule"))


def test_sentences_join_wrapped_lines_and_keep_abbreviations() -> None:
    text = "We're still comparing this with running our\nown hub on campus. Start is the 1. Juli.\n\nBest,\nMaria"
    assert split_sentences(text) == ["We're still comparing this with running our own hub on campus.",
                                     "Start is the 1. Juli.", "Best,", "Maria"]


@pytest.mark.parametrize(("text", "language"), [
    ("Hola, estamos interesados en un JupyterHub gestionado para nuestra universidad.", "es"),
    ("Olá, temos interesse em um JupyterHub gerenciado. Poderiam enviar mais informações?", "pt"),
    ("Bonjour, combien coûterait votre service pour une équipe de vingt chercheurs ?", "fr"),
    ("Hallo, was würde Ihr Service für einen Kurs mit 60 Studierenden kosten?", "de"),
    ("see attached", "en"),
])
def test_language(text: str, language: str) -> None:
    assert detect(text) == language


def test_lexicon_errors_name_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "en.toml"
    bad.write_text('language = "en"\n[intent.decline]\nstrong = ["(unclosed"]\n', encoding="utf-8")
    with pytest.raises(RuleError) as error:
        load_language(bad, INTENTS)
    assert "en.toml" in str(error.value) and "intent.decline.strong" in str(error.value)
    bad.write_text('language = "xx"\n', encoding="utf-8")
    with pytest.raises(RuleError, match="language"):
        load_language(bad, INTENTS)


def test_every_shipped_lexicon_loads(rules: RuleSet) -> None:
    assert rules.lexicon is not None
    assert set(rules.lexicon.languages) == {"en", "es", "pt", "fr", "de"}


@pytest.mark.parametrize(("text", "intent"), [
    # refusals in words the phrase lists did not hold before (a person may confirm the weak ones)
    ("Appreciate the quote. Our finance office has frozen new spending, so let's reconnect in July.", "waiting"),
    ("Unfortunately the proposal doesn't fit our budget and we have to say no this time.", "decline"),
    ("We will be going with our university's central IT for hosting instead.", "decline"),
    ("We'd like to terminate the arrangement effective 31 December.", "service_ended"),
    ("We won't be renewing.", "service_ended"),  # the whole of a short reply, no topic word
    ("Once the semester is over we'd like the hub switched off for good.", "service_ended"),  # "once" dates it
    ("The committee voted to go with a commercial provider.", "decline"),
    ("Hola, el proyecto termina en junio y ya no necesitaremos el hub.", "service_ended"),
])
def test_refusals_beyond_the_lists_are_at_least_proposed(rules: RuleSet, text: str, intent: str) -> None:
    result = classify(rules, text, subject="Re: hub")
    assert result.intent == intent, result.explanation


@pytest.mark.parametrize("text", [
    "We're not declining, just need a couple more days to read it.",  # a refusal cue, negated
    "Nobody here wants to go with another vendor.",
    "I wouldn't say the answer is no. We need to discuss internally.",  # a double negative
    "We can't wait to take this forward with you!",  # a negation that negates nothing
    "Our other vendor ended their contract with us, so we're keen to move quickly with you.",
    "It's a no-brainer for us. Can you send the contract?",
])
def test_negated_refusals_and_negations_that_negate_nothing_do_not_refuse(rules: RuleSet, text: str) -> None:
    result = classify(rules, text)
    assert result.intent not in ("decline", "waiting", "service_ended"), result.explanation


def test_once_is_no_agreement_yet(rules: RuleSet) -> None:
    result = classify(rules, "Once our grant comes through we will go ahead with the Medium tier at $3,000 a month.")
    assert not (result.intent == "service_confirmation" and result.confidence >= CONFIG.min_confidence)
