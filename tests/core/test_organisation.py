"""The organisation a new lead is named after: found in the sender's own signature (or display name), never in a
quoted message, a job title, a contact line or anything hostile; the domain otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import make_message, raw_email, run_cli

from daemon.core.decide import Situation, decide
from daemon.core.extract import Facts
from daemon.core.lookalike import skeleton
from daemon.core.message import parse
from daemon.core.organisation import organisation
from daemon.core.rules import Classification
from daemon.settings import Addresses


def found(body: str, *, from_name: str = "Claire Dubois", sender: str = "claire@cds.org") -> str | None:
    """What `organisation` makes of a message with this body, parsed as the daemon parses mail."""
    return organisation(parse(raw_email(sender=f"{from_name} <{sender}>", body=body)))


@pytest.mark.parametrize(("body", "expected"), [
    # a signature without a sign-off, French contact line below it
    ("Bonjour,\n\nNous confirmons le service.\n\nClaire Dubois\nCollectif Données Sahel\nTél. +221 33 555 01 00\n",
     "Collectif Données Sahel"),
    # name, department and organisation on one line
    ("Hi,\n\nWe confirm the Medium tier.\n\nBest,\nClaire Dubois | Research Computing, Universidad de Los Andes\n",
     "Universidad de Los Andes"),
    # the "-- " delimiter, a job title line first
    ("Hi Sam,\n\nYes, please go ahead.\n\n--\nClaire Dubois\nData Science Lead\nWestbrook University\n",
     "Westbrook University"),
    ("Thanks!\n\nKind regards,\nClaire Dubois\nDirector of Research Computing, Nairobi Climate Lab\n"
     "https://www.nclab.ac.ke\n", "Nairobi Climate Lab"),
    ("Hallo,\n\nalles erledigt.\n\nViele Grüße\nClaire Dubois\n\n--\nClaire Dubois\nForschungszentrum Alpenrand\n"
     "Tel.: +49 40 5555 0100\n", "Forschungszentrum Alpenrand"),
    ("Listo.\n\nSaludos,\nClaire Dubois\nRed Clima Latinoamericana\n", "Red Clima Latinoamericana"),
    ("Fine by us.\n\nYours sincerely,\nClaire Dubois\nProgram Manager at Prairie Genomics Consortium\n",
     "Prairie Genomics Consortium"),
    ("OK.\n\n--\nClaire Dubois\nEnron Net Works, LLC\n", "Enron Net Works LLC"),
    ("OK.\n\n--\nClaire Dubois\nKing's College London\n", "King's College London"),
    ("OK.\n\n--\nClaire Dubois\nUniversity at Buffalo\n", "University at Buffalo"),
    ("OK.\n\nBest,\nClaire Dubois\nMax-Planck-Institut für Meteorologie\n", "Max-Planck-Institut für Meteorologie"),
])
def test_organisation_in_the_signature(body: str, expected: str) -> None:
    assert found(body) == expected


@pytest.mark.parametrize("body", [
    # a job title only, a phone line, a link, an address
    "Yes.\n\nYours sincerely,\nClaire Dubois\nHead of IT Services\n",
    "Yes.\n\n--\nClaire Dubois\nTel. +57 1 555 0100\n",
    "Yes.\n\n--\nClaire Dubois\nhttps://www.westbrook.edu\n",
    "Yes.\n\n--\nClaire Dubois\n77 Massachusetts Avenue, Cambridge MA 02139\n",
    # a quotation under the name, a disclaimer
    '--\nClaire Dubois\n"Science is a way of thinking."            Carl Sagan, Cornell University\n',
    "Yes.\n\n--\nClaire Dubois\nThis email and any attachments are confidential to the Westbrook University.\n",
    # hostile: template syntax, a bidi override, an over-long line
    "Yes.\n\n--\nClaire Dubois\n{{ config }} University\n",
    "Yes.\n\n--\nClaire Dubois\n{% for x in y %}Institute{% endfor %}\n",
    "Yes.\n\n--\nClaire Dubois\nWestbrook \u202eUniversity\n",
    "Yes.\n\n--\nClaire Dubois\n" + "Very " * 50 + "Long University\n",
    # a lookalike spelled with Cyrillic letters
    "Yes.\n\n--\nClaire Dubois\nWestbr\u043e\u043ek University\n",
    # an organisation only in the message's sentences, not its signature
    "On behalf of Kerala Data Science Society, I confirm the Small tier.\n\nRegards,\nClaire Dubois\n",
    # a sign-off alone, then a sentence naming an institution
    "Thanks!\nWe also work with people at the Westbrook University physics department every week.\n",
    # a bare legal form or organisation word
    "Yes.\n\n--\nClaire Dubois\nLLC\n",
    "Yes.\n\n--\nClaire Dubois\nThe University\n",
])
def test_no_organisation(body: str) -> None:
    assert found(body) is None


def test_a_quoted_replys_signature_is_not_the_senders() -> None:
    body = ("Sounds good, thanks.\n\nOn Mon, Oct 5, 2026 at 9:00 AM Sam <sam@2i2c.org> wrote:\n> Hi Claire,\n>\n"
            "> the Medium tier is USD 3,000.\n>\n> --\n> Sam Rivera\n> Open Science Collective\n")
    assert found(body) is None
    outlook = ("Sounds good.\n\n________________________________\nFrom: Sam <sam@2i2c.org>\n"
               "Sent: Monday, October 5, 2026 9:00 AM\nTo: Claire Dubois\nSubject: Proposal\n\nHi Claire,\n\n"
               "--\nSam Rivera\nOpen Science Collective\n")
    assert found(outlook) is None


def test_display_name_states_the_organisation() -> None:
    assert found("Yes, go ahead.", from_name="Ocean Data Collective") == "Ocean Data Collective"
    assert found("Yes, go ahead.", from_name='"Claire Dubois (Universität Nordheide)"') == "Universität Nordheide"
    assert found("Yes, go ahead.", from_name='"Claire Dubois | Westbrook University"') == "Westbrook University"
    assert found("Yes, go ahead.", from_name="Claire Dubois") is None


def situation(message, *, externals=("claire@cds.org",), taken: frozenset[str] = frozenset()) -> Situation:
    return Situation(message=message, classification=Classification("first_contact", "r", "r.toml", 0.9, (),
                                                                     Facts(), "because"),
                     lead=None, externals=externals, sender_role="lead_contact", thread_id="t1",
                     min_confidence=0.8, addresses=Addresses(), taken_names=taken)


def test_new_lead_named_by_organisation_else_domain() -> None:
    signed = make_message(from_addr="claire@cds.org", from_name="Claire Dubois", new_text="Hello",
                          full_text="Hello\n\n--\nClaire Dubois\nCollectif Données Sahel\n")
    [create] = decide(situation(signed)).actions
    assert create.payload["name"] == "Collectif Données Sahel"
    assert create.key == "create_lead:cds.org" and create.payload["domain"] == "cds.org"
    unsigned = make_message(from_addr="claire@cds.org", from_name="Claire Dubois", new_text="Hello")
    assert decide(situation(unsigned)).actions[0].payload["name"] == "cds.org"
    # Another lead's name (or a lookalike of it) is never taken: the domain names the new lead.
    taken = frozenset({skeleton("Collectif Donnees Sahel")})
    assert decide(situation(signed, taken=taken)).actions[0].payload["name"] == "cds.org"
    # ... nor one that holds another lead's name, which a stranger would use to pass for that community
    taken = frozenset({skeleton("Collectif Données")})
    assert decide(situation(signed, taken=taken)).actions[0].payload["name"] == "cds.org"
    assert decide(situation(signed, taken=frozenset({skeleton("Sahel")}))).actions[0].payload["name"] == (
        "Collectif Données Sahel")  # a short name is no claim on every name that holds it


def test_the_teams_own_signature_never_names_a_lead() -> None:
    ours = make_message(from_addr="sam@2i2c.org", from_name="Sam Rivera", to=("claire@cds.org",),
                        new_text="Great to meet you.",
                        full_text="Great to meet you.\n\n--\nSam Rivera\n2i2c Foundation\n")
    create = decide(situation(ours)).actions[0]
    assert create.payload["name"] == "cds.org"


TRUSTED = ('[trust]\nauthserv_ids = ["mx.google.com"]\n[daemon]\nstate_dir = "state"\n'
           '[source]\nkind = "mbox"\npath = "inbox.mbox"\n')


def test_run_once_names_the_new_lead_after_the_signature(tmp_path: Path) -> None:
    mail = raw_email(message_id="hello1@cds.org", sender="Claire Dubois <claire@cds.org>", to="partnerships@2i2c.org",
                     cc="", subject="Hub for our workshops",
                     body="Bonjour,\n\nWe are interested in a managed hub for our data workshops. What would it "
                          "cost?\n\nMerci,\nClaire Dubois\nCollectif Données Sahel\nTél. +221 33 555 01 00\n")
    # A stranger elsewhere signs with the same organisation: their lead is named by their own domain.
    copycat = raw_email(message_id="hello2@mallory.example", sender="Mallory <m@mallory.example>",
                        to="partnerships@2i2c.org", cc="", subject="Hub",
                        body="Hello,\n\nWe need a hub.\n\nBest,\nMallory\nCollectif Données Sahel Network\n")
    (tmp_path / "inbox.mbox").write_bytes(b"From x Tue Oct 06 15:00:00 2026\n" + mail + b"\n"
                                          b"From x Tue Oct 06 16:00:00 2026\n" + copycat + b"\n")
    config = tmp_path / "partnerships.toml"
    config.write_text(TRUSTED)
    code, out, _ = run_cli("run", "--once", "--config", str(config))
    assert code == 0 and "name=Collectif Données Sahel" in out
    leads = json.loads(run_cli("leads", "--json", "--config", str(config))[1])
    assert [(lead["name"], lead["domain"], lead["contacts"]) for lead in leads] == [
        ("Collectif Données Sahel", "cds.org", ["claire@cds.org"]),
        ("mallory.example", "mallory.example", ["m@mallory.example"])]
    code, out, _ = run_cli("lead", "show", "Collectif Données Sahel", "--config", str(config))
    assert code == 0 and out.startswith("Collectif Données Sahel  [Active Lead]")
