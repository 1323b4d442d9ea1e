"""MANIAC-T evidence: rule files, sentence splitting, extraction per letter, merging and the checklists."""

from __future__ import annotations

import mailbox
from datetime import UTC, datetime
from pathlib import Path

import pytest
from factories import make_message

from daemon.core.maniac import (
    LABELS,
    LETTERS,
    QUOTE_CHARS,
    EvidencePiece,
    ManiacRules,
    checklist,
    checklist_details,
    load_maniac_rules,
    merge,
    split_sentences,
)
from daemon.core.message import parse
from daemon.core.rules import load_rules
from daemon.errors import RuleError

ROOT = Path(__file__).resolve().parents[2]
MANIAC_DIR = ROOT / "rules" / "maniac"
OCT_22 = datetime(2026, 10, 22, 20, 37, 45, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules() -> ManiacRules:
    return load_maniac_rules(MANIAC_DIR)


def evidence(rules: ManiacRules, text: str, letter: str) -> list[EvidencePiece]:
    return [p for p in rules.extract(make_message(new_text=text)) if p.letter == letter]


def piece(letter: str, quote: str, *, detail: str = "", message_id: str = "m1@x.edu", day: int = 1,
          rule: str = "r") -> EvidencePiece:
    return EvidencePiece(letter, rule, quote, detail, message_id, datetime(2026, 10, day, 12, tzinfo=UTC))


# --- rule files ---------------------------------------------------------------------------------


def test_one_rule_file_per_letter_and_every_letter_has_rules(rules: ManiacRules) -> None:
    assert sorted(rules.files) == sorted(f"maniac/{letter}.toml" for letter in LETTERS)
    assert {rule.letter for rule in rules.rules} == set(LETTERS)
    assert [LABELS[letter][0] for letter in LETTERS] == list("MANIACT")


def test_intent_loader_does_not_read_the_maniac_folder() -> None:
    assert not any(name.startswith("maniac") or name in {f"{letter}.toml" for letter in LETTERS}
                   for name in load_rules(ROOT / "rules").files)


def write(directory: Path, body: str, name: str = "money.toml") -> Path:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(body, encoding="utf-8")
    return directory


@pytest.mark.parametrize(("body", "reason", "names_rule"), [
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_regex = ["(unclosed"]\n', "bad regular expression", True),
    ('letter = "money"\ncapture = "[z-a]"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n',
     "capture: bad regular expression", False),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\ncapture = "(?P<"\n', "capture: bad regular", True),
    ('letter = "mony"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n', "letter 'mony' is not one of", False),
    ('[[rule]]\nname = "x"\ntext_any = ["grant"]\n', "letter None is not one of", False),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\nintent = "waiting"\n',
     "unknown key(s): intent", True),
    ('letter = "money"\npriority = 3\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n',
     "unknown top-level key(s): priority", False),
    ('letter = "money"\n[[rule]]\nname = "x"\nunless_text = ["grant"]\n', "at least one positive condition", True),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_any = ["grant", " "]\n', "text_any must be a list", True),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_any = "grant"\n', "text_any must be a list", True),
    ('letter = "money"\n[[rule]]\ntext_any = ["grant"]\n', "every rule needs a non-empty name", False),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_regex = ["{amount} grant"]\n', "{amount} is not defined", True),
    ('letter = "money"\n[define]\nwho = "NSF"\ncapture = "{who}"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n',
     "put it above [define]", False),
    ('letter = "money"\n[define]\nwho = "(NSF"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n',
     "define.who: bad regular expression", False),
    ('letter = "money"\n', "no [[rule]] tables", False),
    ('letter = "money"\n[[rule]\n', "invalid TOML", False),
    ('letter = "money"\n[[rule]]\nname = "x"\ntext_regex = ["(?i)grant"]\ntext_any = ["fund"]\n',
     "do not combine", True),
])
def test_bad_rule_files_name_file_rule_and_reason(tmp_path: Path, body: str, reason: str, names_rule: bool) -> None:
    with pytest.raises(RuleError) as caught:
        load_maniac_rules(write(tmp_path / "maniac", body))
    message = str(caught.value)
    assert message.startswith("maniac/money.toml")
    assert reason in message
    assert ("rule 'x'" in message) == names_rule


def test_duplicate_rule_names_and_letters_are_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "maniac", 'letter = "money"\n[[rule]]\nname = "x"\ntext_any = ["grant"]\n')
    write(folder, 'letter = "need"\n[[rule]]\nname = "x"\ntext_any = ["crash"]\n', "need.toml")
    with pytest.raises(RuleError, match=r"need\.toml: rule 'x': duplicate rule name \(also in maniac/money\.toml\)"):
        load_maniac_rules(folder)
    write(folder, 'letter = "money"\n[[rule]]\nname = "y"\ntext_any = ["crash"]\n', "need.toml")
    with pytest.raises(RuleError, match=r"letter 'money' already has its rules in maniac/money\.toml"):
        load_maniac_rules(folder)


def test_missing_or_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="does not exist"):
        load_maniac_rules(tmp_path / "nope")
    with pytest.raises(RuleError, match=r"no \*\.toml"):
        load_maniac_rules(tmp_path)


def test_fragments_file_capture_and_rule_capture(tmp_path: Path) -> None:
    folder = write(tmp_path / "maniac", r'''letter = "money"
capture = '\$\d+'
[define]
amount = '\$\d+'
big = '{amount}0{3}'
[[rule]]
name = "big"
text_regex = ['{big}']
capture = 'from (\w+)|{big}'
[[rule]]
name = "any"
text_regex = ['{amount}']
''')
    custom = load_maniac_rules(folder)
    found = custom.extract(make_message(new_text="We have $5000 from NSF and $5 more. Another $7 here."))
    assert [(p.rule, p.detail) for p in found] == [("big", "$5000, NSF"), ("any", "$7")]


# --- sentences ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "sentences"), [
    ("We have a budget. It is $1.5 million! Is that enough? Yes.",
     ["We have a budget.", "It is $1.5 million!", "Is that enough?", "Yes."]),
    ("Other clouds, e.g. AWS or Azure, are options. Dr. Marsh agrees.",
     ["Other clouds, e.g. AWS or Azure, are options.", "Dr. Marsh agrees."]),
    ("Classes start Jan. 19 at U.S. campuses. J. Smith will teach.",
     ["Classes start Jan. 19 at U.S. campuses.", "J. Smith will teach."]),
    ("Visit 2i2c.org. Then write to us... We wait.", ["Visit 2i2c.org.", "Then write to us...", "We wait."]),
    ("The course uses Python, R, etc. and more.", ["The course uses Python, R, etc. and more."]),
    ("A hard-wrapped sentence that goes on\nacross the line break of the client.\n\nA new paragraph",
     ["A hard-wrapped sentence that goes on across the line break of the client.", "A new paragraph"]),
    ("Questions:\n1. Where is it hosted?\n2. Can we use SSO\n- a bullet\n* another",
     ["Questions:", "1. Where is it hosted?", "2. Can we use SSO", "- a bullet", "* another"]),
    ("Cheers,\nLuis\n\nLuis Navarro, PhD\nPrincipal Investigator\nSonoran Desert Research Consortium",
     ["Cheers,", "Luis", "Luis Navarro, PhD", "Principal Investigator", "Sonoran Desert Research Consortium"]),
    ("We have a budget of\n$20,000 for this.\nDear Sam,\nthanks", ["We have a budget of $20,000 for this.",
                                                                 "Dear Sam, thanks"]),
    ('He said "we are in." Then he left (for good.) Done.', ['He said "we are in."', "Then he left (for good.)",
                                                          "Done."]),
    ("Windows\r\nline ends\r\n\r\nwork too.", ["Windows line ends", "work too."]),
    ("", []),
    ("   \n\n  ", []),
])
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


# --- extraction per letter ----------------------------------------------------------------------


POSITIVE = [
    ("money", "We've applied to the NSF CyberTraining program for $480,000 over three years, and the proposal "
              "includes the hub costs.", ["NSF CyberTraining", "$480,000"]),
    ("money", "We have a budget of about €20k for this from the department.", ["€20k"]),
    ("money", "Our Moore Foundation grant covers research computing through 2027.", ["Moore Foundation"]),
    ("money", "Our startup funds could cover up to $2,000 a month.", ["$2,000 a month"]),
    ("money", "The honest answer is that we can't fund the hub from our current budget.", []),
    ("money", "Our NIH R01 pays for the computing.", ["NIH R01"]),
    ("authority", "I'm the PI on the grant, so I can sign off on this myself.", ["PI"]),
    ("authority", "As department chair, I can approve the purchase.", ["department chair"]),
    ("authority", "We need approval from the dean before we can commit to anything.", ["dean"]),
    ("authority", "Please copy our procurement office on the quote.", ["procurement office"]),
    ("authority", "I've discussed it with our department chair and we'd like to go ahead.", ["department chair"]),
    ("need", "Our current server keeps crashing when 80 students log in at the same time.", []),
    ("need", "Half of our students can't install Python on their laptops.", []),
    ("need", "We don't have staff to maintain a JupyterHub ourselves.", []),
    ("need", "We run TLJH on a departmental server, but it struggles at the start of every lab session.", []),
    ("need", "We're looking for a hosted environment so participants don't have to install anything.", []),
    ("impending_event", "We're running a two-day workshop in March for 40 participants.", ["workshop", "March"]),
    ("impending_event", "Could it be ready for the spring semester (classes start on January 19)?",
     ["spring semester", "January 19"]),
    ("impending_event", "The deadline for the course materials is February 15.", ["deadline", "February 15"]),
    ("impending_event", "Our course begins in two weeks and we still have no hub.", []),
    ("impending_event", "We are planning an upcoming hackathon for our graduate students.", ["hackathon"]),
    ("application", "We teach about 300 undergraduates a year in our introductory geoscience sequence.",
     ["300 undergraduates", "geoscience"]),
    ("application", "The remote-sensing course needs GPUs and about 2 TB of satellite imagery.",
     ["remote-sensing", "GPUs", "2 TB"]),
    ("application", "We need R and Python environments for the statistics courses.", ["R and Python", "statistics"]),
    ("application", "We'd like a hub for our intro CS and data science courses.", ["data science"]),
    ("competition", "We're still comparing this with running our own hub on campus.",
     ["running our own hub on campus"]),
    ("competition", "Our university partner has offered us access to their JupyterHub at no cost.",
     ["Our university partner", "access to their JupyterHub"]),
    ("competition", "Honestly we could also just run it on AWS directly.", ["AWS directly"]),
    ("competition", "Another vendor quoted us a lower price.", ["Another vendor"]),
    ("competition", "Some colleagues use Google Colab for this already.", ["Google Colab"]),
    ("competition", "We might just keep using our lab server and do nothing for now.", ["do nothing"]),
    ("timeline", "We'd like to go ahead, starting in January for the spring semester.", ["January", "spring"]),
    ("timeline", "We expect a decision in the spring, probably in April.", ["decision", "spring", "April"]),
    ("timeline", "Our purchasing office will issue the PO next week.", ["PO"]),
    ("timeline", "The funds would reach you as a sub-award from the university.", ["sub-award"]),
    ("timeline", "We need the contract signed by the end of our fiscal year in June.", ["contract", "June"]),
]


@pytest.mark.parametrize(("letter", "text", "details"), POSITIVE)
def test_positive_evidence(rules: ManiacRules, letter: str, text: str, details: list[str]) -> None:
    found = evidence(rules, text, letter)
    assert len(found) == 1, [p.rule for p in rules.extract(make_message(new_text=text))]
    assert found[0].quote == text
    for expected in details:
        assert expected in found[0].detail


NEGATIVE = [
    ("money", "Thanks for the call yesterday; the slides were very helpful."),
    ("money", "Each user gets a 10 GB home directory and we have 300 students."),
    ("money", "A colleague at Carnegie Mellon suggested we talk to you."),
    ("money", "Dr. Moore will join the call on Tuesday."),
    ("authority", "I'm the teaching assistant for the course and will help set things up."),
    ("authority", "I'm the one who emailed you last week about the hub."),
    ("authority", "The hub looks great, thanks for the demo."),
    ("need", "The current hub is working well for the course."),
    ("need", "Our server has never crashed since you set it up."),
    ("need", "Thanks for the quick answer about storage."),
    ("impending_event", "Apologies for the slow reply; I was at a conference last week."),
    ("impending_event", "It was great to meet you at the workshop in March."),
    ("impending_event", "There's no deadline on our side, no rush at all."),
    ("impending_event", "We run a series of text-analysis workshops for students."),
    ("application", "Thanks, that would be helpful."),
    ("application", "Please send the invoice to our finance office."),
    ("application", "Submit a 300-word abstract to the committee."),
    ("competition", "Let me know if you need anything else from us."),
    ("competition", "We're not considering any other options; you are the only option for us."),
    ("competition", "We'd like our own hub for the course rather than sharing one."),
    ("timeline", "Could we have a call on Tuesday, October 6 at 10am?"),
    ("timeline", "Would Tuesday, September 1 or Wednesday, September 2 in the afternoon work for you?"),
    ("timeline", "I confirm that the services for October 2026 were delivered as expected."),
    ("timeline", "Thanks again for your help."),
]


@pytest.mark.parametrize(("letter", "text"), NEGATIVE)
def test_negative_evidence(rules: ManiacRules, letter: str, text: str) -> None:
    assert evidence(rules, text, letter) == []


def test_quoted_history_is_ignored(rules: ManiacRules) -> None:
    full = ("Thanks, talk soon.\n\nOn Tue, Oct 20, 2026 at 10:05 AM Sam <sam@2i2c.org> wrote:\n"
            "> We have a budget of $50,000 from the NSF and I'm the PI.\n> Our server keeps crashing.\n")
    assert rules.extract(make_message(new_text="Thanks, talk soon.", full_text=full)) == []


def test_piece_fields(rules: ManiacRules) -> None:
    message = make_message(new_text="Hi Sam,\n\nThanks for the recap. We've applied to the NSF CyberTraining "
                                     "program\nfor $480,000 over three years.\n\nCheers,\nLuis",
                           message_id="t05m2.593a@sonoran-research.org", date=OCT_22)
    [found] = [p for p in rules.extract(message) if p.letter == "money"]
    assert found == EvidencePiece("money", "amount-for-funding",
                                  "We've applied to the NSF CyberTraining program for $480,000 over three years.",
                                  "NSF CyberTraining, $480,000 over three years", "t05m2.593a@sonoran-research.org",
                                  OCT_22)


def test_one_piece_per_letter_and_sentence_and_unless_per_sentence(rules: ManiacRules) -> None:
    text = ("Our old server never crashes. The lab cluster keeps crashing and students can't install anything. "
            "We have a budget of $5,000 from our grant and NSF funding.")
    found = rules.extract(make_message(new_text=text))
    need = [p for p in found if p.letter == "need"]
    assert [p.quote for p in need] == ["The lab cluster keeps crashing and students can't install anything."]
    assert len([p for p in found if p.letter == "money"]) == 1


def test_long_sentence_is_trimmed_around_the_match(rules: ManiacRules) -> None:
    text = "We " + "really " * 80 + "have a budget of $9,000 for the hub" + " and more" * 40 + "."
    [found] = evidence(rules, text, "money")
    assert len(found.quote) <= QUOTE_CHARS + 2
    assert found.quote.startswith("…") and found.quote.endswith("…")
    assert "$9,000" in found.quote


def test_typographic_apostrophes_match_plain_phrases(rules: ManiacRules) -> None:
    assert evidence(rules, "We don’t have staff to maintain it.", "need")


# --- merging and rendering ----------------------------------------------------------------------


def test_merge_dedups_on_letter_and_quote() -> None:
    a = piece("money", "We have $5k.", detail="$5k")
    b = piece("authority", "I'm the PI.")
    same_quote_other_message = piece("money", "We have $5k.", detail="$5k", message_id="m2@x.edu", day=5)
    merged, changed = merge([a], [b, same_quote_other_message, b])
    assert merged == [a, b] and changed
    merged_again, changed_again = merge(merged, [same_quote_other_message, a])
    assert merged_again == [a, b] and not changed_again
    assert merge([], []) == ([], False)


def test_checklist_empty() -> None:
    assert checklist([]) == "MANIAC-T 0/7: M ? · A ? · N ? · I ? · A ? · C ? · T ?"


def test_checklist_uses_the_newest_detail_in_letter_order() -> None:
    pieces = [
        piece("competition", "We're comparing this with running our own hub on campus.",
              detail="running our own hub on campus", day=3),
        piece("money", "We applied to NSF for $480,000.", detail="NSF, $480,000", day=2),
        piece("money", "We can't fund it from our budget.", day=9),
        piece("money", "Old budget: $1,000.", detail="$1,000", day=1),
        piece("application", "A hub for our courses."),
        piece("renamed_letter", "ignored"),
    ]
    line = checklist(pieces)
    assert line == ("MANIAC-T 3/7: M ✓ (NSF, $480,000) · A ? · N ? · I ? · A ✓ · "
                    "C ✓ (running our own hub on campus) · T ?")
    assert "\n" not in line


def test_checklist_clips_long_details() -> None:
    line = checklist([piece("application", "q", detail="300 undergraduates, geoscience, remote sensing, GPUs")])
    assert "A ✓ (300 undergraduates, geoscience, remote…)" in line


def test_checklist_details() -> None:
    pieces = [
        piece("money", "We have applied to NSF for $480,000.", detail="NSF, $480,000", message_id="t05m2@s.org",
              day=22, rule="amount-for-funding"),
        piece("money", "Our budget is zero.", message_id="t05m1@s.org", day=20, rule="funding-situation"),
        EvidencePiece("competition", "run-it-ourselves", "We run TLJH ourselves.", "TLJH", "t01@w.edu", None),
    ]
    assert checklist_details(pieces) == "\n".join([
        "MANIAC-T: 2 of 7 known; still unknown: Authority, Need, Impending event, Application, Timeline",
        "M — Money",
        '  - "Our budget is zero."',
        "    2026-10-20 · <t05m1@s.org> · rule funding-situation",
        '  - "We have applied to NSF for $480,000."',
        "    NSF, $480,000 · 2026-10-22 · <t05m2@s.org> · rule amount-for-funding",
        "A — Authority: still unknown",
        "N — Need: still unknown",
        "I — Impending event: still unknown",
        "A — Application: still unknown",
        "C — Competition",
        '  - "We run TLJH ourselves."',
        "    TLJH · undated · <t01@w.edu> · rule run-it-ourselves",
        "T — Timeline: still unknown",
    ])


def test_checklist_details_all_known() -> None:
    text = checklist_details([piece(letter, f"{letter} quote.") for letter in LETTERS])
    assert text.splitlines()[0] == "MANIAC-T: 7 of 7 known"
    assert "still unknown" not in text


# --- the example mailbox ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mailbox_evidence(rules: ManiacRules) -> dict[str, list[EvidencePiece]]:
    box = mailbox.mbox(str(ROOT / "examples" / "inbox.mbox"), create=False)
    try:
        messages = [parse(box.get_bytes(key)) for key in box.iterkeys()]  # iterating a mailbox yields messages
    finally:
        box.close()
    assert len(messages) == 63
    return {m.message_id.split(".", 1)[0]: rules.extract(m) for m in messages}


def letters_of(found: list[EvidencePiece], letter: str) -> list[EvidencePiece]:
    return [p for p in found if p.letter == letter]


def test_example_sonoran_grant(mailbox_evidence: dict[str, list[EvidencePiece]]) -> None:
    money = letters_of(mailbox_evidence["t05m2"], "money")
    grant = next(p for p in money if "$480,000" in p.quote)
    assert "$480,000" in grant.detail and "NSF CyberTraining" in grant.detail
    assert grant.message_id == "t05m2.593a@sonoran-research.org"
    assert grant.date == datetime(2026, 10, 22, 20, 37, 45, tzinfo=UTC)
    assert any("April" in p.detail for p in letters_of(mailbox_evidence["t05m2"], "timeline"))
    assert any(p.detail == "Principal Investigator" for p in letters_of(mailbox_evidence["t05m2"], "authority"))


def test_example_northbay_campus_hub(mailbox_evidence: dict[str, list[EvidencePiece]]) -> None:
    [competition] = letters_of(mailbox_evidence["t08m4"], "competition")
    assert competition.quote == "We're still comparing this with running our own hub on campus."
    assert competition.detail == "running our own hub on campus"


def test_example_other_leads(mailbox_evidence: dict[str, list[EvidencePiece]]) -> None:
    westbrook = mailbox_evidence["t01m1"]
    assert any("January 19" in p.detail for p in letters_of(westbrook, "impending_event"))
    assert letters_of(westbrook, "need") and letters_of(westbrook, "application")
    assert any(p.detail == "The Littlest JupyterHub" for p in letters_of(westbrook, "competition"))
    assert [p.detail for p in letters_of(mailbox_evidence["t01m5"], "authority")] == ["department chair",
                                                                                       "grants administrator"]
    assert any(p.detail == "dean's office" for p in letters_of(mailbox_evidence["t03m2"], "authority"))
    brightwater = letters_of(mailbox_evidence["t06m2"], "competition")
    assert brightwater and "our university partner" in brightwater[0].detail
    assert letters_of(mailbox_evidence["t22m1"], "need")  # "so participants don't have to install anything"
    # "The current hub is working well": no pain point; an auto-reply says nothing about the lead.
    assert letters_of(mailbox_evidence["t17m2"], "need") == []
    assert mailbox_evidence["t07m2"] == []


def test_example_checklist_for_sonoran(mailbox_evidence: dict[str, list[EvidencePiece]]) -> None:
    merged, changed = merge([], mailbox_evidence["t05m2"])
    assert changed
    line = checklist(merged)
    assert line.startswith("MANIAC-T 3/7: M ✓ (NSF CyberTraining, $480,000 over three…) · A ✓ (Principal")
    assert line.endswith("T ✓ (decision, spring, April)")
