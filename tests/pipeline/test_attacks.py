"""Issue 15 as an attacker tries it, through the real pipeline (SQLite state, the example leads, forwards over SMTP
to a real aiosmtpd server): spoofed senders, forged Authentication-Results at non-Google mailboxes, loops and
injected control characters. Each attack must end with no action taken and a review item; `test_attack_figures`
prints the totals (run with -s): attacks tried, wrong actions, loops."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from factories import run_cli
from servers import RecordingSMTPServer
from sqlalchemy import select

from daemon.io import RawItem
from daemon.pipeline import Pipeline
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import PROJECT_ROOT, Config, ServerConfig, SmtpConfig, TrustSettings
from daemon.state.models import ActionRow, ReviewItem

GOOGLE = TrustSettings(authserv_ids=("mx.google.com",), own_relays=("mx.google.com",))
MICROSOFT = TrustSettings(authserv_ids=("protection.outlook.com",), own_relays=())
FASTMAIL = TrustSettings(authserv_ids=("messagingengine.com",), own_relays=())
OPENDMARC = TrustSettings(authserv_ids=("mail.2i2c.org",), own_relays=())
NOBODY = TrustSettings()  # a config file without [trust]
START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
CONFIRM = "Hi Sam,\n\nWe would like to go ahead with the Small tier at $1,500 per month.\n\nRaymond\n"
CANCEL = "Hello,\n\nPlease cancel our hub subscription at the end of this month.\n\nThanks\n"
DECLINE = "Hi Sam,\n\nAfter discussing internally we have decided not to move forward.\n\nBest\n"
WAIT = "Hi Sam,\n\nWe applied for a grant and are waiting on the funding decision; let's revisit then.\n"


# --- the received mail ---------------------------------------------------------------------------


def google_hop(sender_domain: str, verdict: str = "pass") -> list[tuple[str, str]]:
    """Google's layout: its Received line, then its Authentication-Results just below."""
    return [("Received", f"from mail.{sender_domain} (mail.{sender_domain}. [198.51.100.9]) by mx.google.com "
                         f"with ESMTPS id a1; {format_datetime(START)}"),
            ("Authentication-Results", f"mx.google.com; dkim={verdict} header.i=@{sender_domain}; spf={verdict}; "
                                       f"dmarc={verdict} (p=REJECT) header.from={sender_domain}")]


def microsoft_hop(sender_domain: str, verdict: str) -> list[tuple[str, str]]:
    """Microsoft 365: no authserv-id, compauth, above the Received of its protection server."""
    return [("Received", f"from BN8PR.namprd04.prod.outlook.com by SA1PR.namprd04.prod.outlook.com with HTTPS; "
                         f"{format_datetime(START)}"),
            ("Authentication-Results", f"spf={verdict} (sender IP is 198.51.100.9) smtp.mailfrom={sender_domain}; "
                                       f"dkim={verdict} (signature was verified) header.d={sender_domain};"
                                       f"dmarc={verdict} action=none header.from={sender_domain};"
                                       f"compauth={verdict} reason={'100' if verdict == 'pass' else '000'}"),
            ("Received-SPF", f"{verdict.capitalize()} (protection.outlook.com: domain of {sender_domain})"),
            ("Received", f"from mail.{sender_domain} (198.51.100.9) by BN2PEPF0000449F.mail.protection.outlook.com "
                         f"(10.167.243.150) with Microsoft SMTP Server; {format_datetime(START)}")]


def fastmail_hop(sender_domain: str, verdict: str) -> list[tuple[str, str]]:
    return [("Received", f"from compute2.internal (compute2.nyi.internal [10.202.2.42]) by sloti36d2t01 (Cyrus) "
                         f"with LMTPA; {format_datetime(START)}"),
            ("Authentication-Results", f"mx6.messagingengine.com; arc=none (no signatures found); dkim={verdict} "
                                       f"(2048-bit rsa key sha256) header.d={sender_domain} header.s=fm1; "
                                       f"dmarc={verdict} policy.published-domain-policy=reject "
                                       f"header.from={sender_domain}; spf={verdict} smtp.mailfrom={sender_domain}"),
            ("Received", f"from mail.{sender_domain} (mail.{sender_domain} [198.51.100.9]) by "
                         f"mx6.messagingengine.com (Postfix) with ESMTPS id 4F1; {format_datetime(START)}")]


def opendmarc_hop(sender_domain: str, verdict: str | None) -> list[tuple[str, str]]:
    """Postfix with OpenDMARC; verdict None: the milter did not run, the server wrote no header at all."""
    results = [("Authentication-Results", f"mail.2i2c.org; dmarc={verdict} (p=reject dis=none) "
                                          f"header.from={sender_domain}")] if verdict else []
    return [*results, ("Received", f"from mail.{sender_domain} (mail.{sender_domain} [198.51.100.9]) by "
                                   f"mail.2i2c.org (Postfix) with ESMTPS id 9A; {format_datetime(START)}")]


SENDER_FORGED = ("Authentication-Results", "mx.google.com; dkim=pass header.i=@pinecrest.edu; spf=pass; "
                                           "dmarc=pass (p=NONE) header.from=pinecrest.edu")

_ids = iter(range(1, 1_000_000))


def mail(sender: str, body: str, *, hop: list[tuple[str, str]] | None = None, subject: str = "Re: Hub service",
         to: str = "sam@2i2c.org", cc: str = "partnerships@2i2c.org", extra: list[tuple[str, str]] = (),
         message_id: str | None = None, attach: tuple[str, bytes] | None = None, when: datetime = START) -> bytes:
    """A message as delivered: the receiving side's `hop` headers on top (default: Google saying pass for the From
    domain), then whatever the sender wrote (`extra` included)."""
    domain = sender.rpartition("@")[2].rstrip(">").lower()
    message = EmailMessage()
    for name, value in (google_hop(domain) if hop is None else hop):
        message[name] = value
    for name, value in extra:
        message[name] = value
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{message_id or f'a{next(_ids)}@{domain}'}>"
    message.set_content(body)
    if attach is not None:
        name, data = attach
        message.add_attachment(data, maintype="message", subtype="rfc822", filename=name) if name.endswith(
            ".eml") else message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message.as_bytes()


# --- the world the attacks land in ---------------------------------------------------------------


@dataclass
class World:
    pipeline: Pipeline
    smtp: RecordingSMTPServer
    before: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    def deliver(self, raw: bytes) -> None:
        self.pipeline.process(RawItem("imap:INBOX", self.pipeline.summary.read + 1, raw))

    def statuses(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        return {lead.name: (lead.status, lead.contact_emails) for lead in self.pipeline.lead_store.all()}

    def done(self, *kinds: str) -> list[str]:
        with self.pipeline.sessions() as session:
            return list(session.scalars(select(ActionRow.key).where(ActionRow.kind.in_(kinds))))

    def reviews(self) -> list[str]:
        with self.pipeline.sessions() as session:
            return list(session.scalars(select(ReviewItem.reason)))

    def wrong_actions(self, allowed_new_leads: int = 0) -> list[str]:
        """What happened that no person approved: moves, forwards, evidence, mail out, changed leads."""
        wrong = [f"action {key}" for key in self.done("set_status", "forward", "record_evidence")]
        wrong += [f"smtp message {i}" for i, _ in enumerate(self.smtp.messages)]
        now = self.statuses()
        wrong += [f"lead {name} changed: {was} -> {now[name]}" for name, was in self.before.items()
                  if now.get(name) != was]
        created = [name for name in now if name not in self.before]
        if len(created) > allowed_new_leads:
            wrong += [f"lead created: {name}" for name in created]
        return wrong


@pytest.fixture
def world_for(tmp_path: Path, smtp_server: Callable[..., RecordingSMTPServer]) -> Iterator[Callable[..., World]]:
    made: list[World] = []

    def make(trust: TrustSettings = GOOGLE) -> World:
        smtp = smtp_server()
        config = Config(state_dir=tmp_path / f"state{len(made)}", trust=trust,
                        leads_seed_csv=PROJECT_ROOT / "examples" / "leads.csv", send_kind="smtp",
                        smtp=SmtpConfig(ServerConfig("127.0.0.1", smtp.port, "none"), "partnerships@2i2c.org"))
        world = World(make_pipeline(open_runtime(config), dry_run=False), smtp)
        world.before = world.statuses()
        made.append(world)
        return world

    yield make


# --- the attacks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    name: str
    trust: TrustSettings
    messages: Callable[[], list[bytes]]
    new_leads: int = 0  # a new sender's own (Active Lead) lead is allowed: the rule says so
    review_says: str = ""


RAYMOND = "Raymond Ortiz <rortiz@pinecrest.edu>"  # a recorded contact of Pinecrest Community College (Active Lead)
AMEHTA = "amehta@riverbend.edu"  # Riverbend University Hydrology Lab, Active Service


def _lookalike(domain: str) -> Attack:
    return Attack(f"lookalike {domain}", GOOGLE, lambda: [mail(f"Raymond Ortiz <rortiz@{domain}>", CONFIRM)],
                  review_says="looks like the lead domain pinecrest.edu")


ATTACKS = [
    Attack("Reply-To names a real contact (cancel an Active Service)", GOOGLE,
           lambda: [mail("Ann Mehta <attacker@evil.example>", CANCEL, extra=[("Reply-To", AMEHTA)])], new_leads=1),
    Attack("Cc names a real contact (decline)", GOOGLE,
           lambda: [mail("attacker@evil.example", DECLINE, cc=f"partnerships@2i2c.org, {AMEHTA}")], new_leads=1),
    Attack("To names a real contact (waiting)", GOOGLE,
           lambda: [mail("attacker@evil.example", WAIT, to="sam@2i2c.org, rortiz@pinecrest.edu")], new_leads=1),
    Attack("Reply-To real contact, confirmation", GOOGLE,
           lambda: [mail("attacker@evil.example", CONFIRM, extra=[("Reply-To", "rortiz@pinecrest.edu")])],
           new_leads=1),
    Attack("display name carries a real address", GOOGLE,
           lambda: [mail('"Raymond Ortiz <rortiz@pinecrest.edu>" <attacker@evil.example>', CONFIRM)],
           review_says="display name carries the address rortiz@pinecrest.edu"),
    Attack("display name is a real address", GOOGLE,
           lambda: [mail('"rortiz@pinecrest.edu" <raymond.o@gmail.com>', CONFIRM)],
           review_says="display name carries"),
    _lookalike("pinecrest-edu.com"),
    _lookalike("pinecrest.edu.evil.example"),
    _lookalike("pinecrrest.edu"),
    _lookalike("plnecrest.edu"),
    _lookalike("pinecrest.com"),
    _lookalike("xn--pincrest-4jg.edu"),  # Cyrillic "е"
    Attack("same-domain stranger cancels an Active Service", GOOGLE,
           lambda: [mail("grants@riverbend.edu", CANCEL)], review_says="not a known contact of Riverbend"),
    Attack("same-domain stranger confirms", GOOGLE,
           lambda: [mail("intern@pinecrest.edu", CONFIRM)], review_says="same domain, but not a recorded contact"),
    Attack("new sender confirms with their first message", GOOGLE,
           lambda: [mail("dean@newcollege.edu", CONFIRM)], new_leads=1, review_says="first message of the new lead"),
    Attack("forged From of a real contact, our server says fail", GOOGLE,
           lambda: [mail(RAYMOND, CONFIRM, hop=google_hop("pinecrest.edu", "fail"), extra=[SENDER_FORGED])],
           review_says="sender not verified"),
    Attack("Microsoft 365: real compauth=fail, sender-added mx.google.com pass", MICROSOFT,
           lambda: [mail(RAYMOND, CONFIRM, hop=microsoft_hop("pinecrest.edu", "fail"), extra=[SENDER_FORGED])],
           review_says="sender not verified"),
    Attack("Fastmail: real dmarc=fail, sender-added pass", FASTMAIL,
           lambda: [mail(RAYMOND, CONFIRM, hop=fastmail_hop("pinecrest.edu", "fail"), extra=[
               ("Authentication-Results", "mx6.messagingengine.com; dmarc=pass header.from=pinecrest.edu")])],
           review_says="sender not verified"),
    Attack("OpenDMARC: real dmarc=fail, sender-added pass", OPENDMARC,
           lambda: [mail(RAYMOND, CONFIRM, hop=opendmarc_hop("pinecrest.edu", "fail"), extra=[
               ("Authentication-Results", "mail.2i2c.org; dmarc=pass header.from=pinecrest.edu")])],
           review_says="sender not verified"),
    Attack("OpenDMARC wrote no header; the sender's own one names our server", OPENDMARC,
           lambda: [mail(f"Ann Mehta <{AMEHTA}>", CANCEL, hop=opendmarc_hop("riverbend.edu", None), extra=[
               ("Received", "from laptop (unknown [203.0.113.5]) by mail.evil.example (Postfix)"),
               ("Authentication-Results", "mail.2i2c.org; dmarc=pass header.from=riverbend.edu")])],
           review_says="sender not verified"),
    Attack("Microsoft 365 mailbox with the old Google default", NOBODY,
           lambda: [mail(RAYMOND, CONFIRM, hop=microsoft_hop("pinecrest.edu", "fail"), extra=[SENDER_FORGED])],
           review_says="no trusted receiving server configured"),
    Attack("no [trust] at all, a genuine-looking pass", NOBODY,
           lambda: [mail(RAYMOND, CONFIRM)], review_says="no trusted receiving server configured"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_takes_no_action_without_review(attack: Attack, world_for: Callable[..., World]) -> None:
    world = world_for(attack.trust)
    for raw in attack.messages():
        world.deliver(raw)
    assert world.wrong_actions(attack.new_leads) == []
    reviews = world.reviews()
    assert reviews, "nothing acted, but nobody was asked either"
    assert attack.review_says in " | ".join(reviews)


def test_the_real_contact_still_acts(world_for: Callable[..., World]) -> None:
    """The control: the same confirmation from the recorded contact, authenticated, is forwarded at once, at each
    provider's header format."""
    for trust, hop in ((GOOGLE, google_hop("pinecrest.edu")), (MICROSOFT, microsoft_hop("pinecrest.edu", "pass")),
                       (FASTMAIL, fastmail_hop("pinecrest.edu", "pass")),
                       (OPENDMARC, opendmarc_hop("pinecrest.edu", "pass"))):
        world = world_for(trust)
        world.deliver(mail(RAYMOND, CONFIRM, hop=hop))
        assert len(world.smtp.messages) == 1 and world.reviews() == []
        assert world.statuses()["Pinecrest Community College"][0] == "Needs Admin"


# --- loops -----------------------------------------------------------------------------------------


def ticket_ack(forward: bytes, style: str) -> bytes:
    """A helpdesk's acknowledgement of our forward, without Auto-Submitted, in three shapes."""
    subject = email.message_from_bytes(forward, policy=policy.default)["Subject"]
    quoted = "\n".join("> " + line for line in forward.decode("utf-8", "replace").splitlines()[:60])
    if style == "quotes":
        return mail(RAYMOND, f"Thanks, we have your message.\n\n{quoted}\n", subject=f"Re: {subject}")
    if style == "attaches":
        return mail(RAYMOND, "We would like to go ahead with the Small tier at $1,500 per month (see attached).\n",
                    subject="Re: Hub service", attach=("forwarded.eml", forward))
    return mail("support@helpdesk-vendor.example", "This is an automated response. We would like to go ahead "
                "and let you know that your request has been received.\n", subject="Request received: Hub service")


@pytest.mark.parametrize("style", ["quotes", "attaches", "notice"])
def test_ticket_acknowledgements_never_loop(style: str, world_for: Callable[..., World]) -> None:
    world = world_for(GOOGLE)
    world.deliver(mail(RAYMOND, CONFIRM))
    [first] = world.smtp.messages
    for _ in range(3):  # three rounds: each acknowledgement answers the newest forward
        world.deliver(ticket_ack(world.smtp.messages[-1].data, style))
    assert len(world.smtp.messages) == 1, "a forward answered a forward"
    assert world.done("forward") == [f"forward:{email.message_from_bytes(first.data)['References'].strip('<>')}"
                                     ":service_confirmation"]
    assert all(name in world.before for name in world.statuses())  # the notice created no lead


def test_forwards_per_lead_are_capped_per_day(world_for: Callable[..., World]) -> None:
    world = world_for(GOOGLE)
    for hour in range(5):
        world.deliver(mail(RAYMOND, "Attached is our signed services agreement.\n", subject=f"Contract {hour}",
                           attach=("signed-agreement.pdf", b"%PDF-1.4 x"), when=START + timedelta(hours=hour)))
    assert len(world.smtp.messages) == 3
    assert sum("rate limit: 3 forwards for Pinecrest" in reason for reason in world.reviews()) == 2


# --- injection --------------------------------------------------------------------------------------


def test_injected_newlines_and_escapes_stay_inert(world_for: Callable[..., World]) -> None:
    world = world_for(GOOGLE)
    message = EmailMessage()
    for name, value in google_hop("pinecrest.edu"):
        message[name] = value
    message["To"] = "sam@2i2c.org"
    message["Cc"] = "partnerships@2i2c.org"
    message["Date"] = format_datetime(START)
    message["Message-ID"] = "<inject\x1b[2J\u202e1@pinecrest.edu>"
    message.set_content(CONFIRM)
    message.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="tier.pdf")
    # Written as bytes: the email package itself refuses to build such headers, a sender's client need not.
    hostile = (b"From: \"=?utf-8?q?Raymond=0D=0ACommunity:_Evil_Corp=1B[31m?=\" <rortiz@pinecrest.edu>\r\n"
               b"Subject: =?utf-8?q?Small_tier=0A=0DBcc:_x@evil.example=1B]0;pwned=07=E2=80=AE?=" + b" x" * 100_000
               + b"\r\n")
    raw = message.as_bytes().replace(b'filename="tier.pdf"',
                                     b'filename*=utf-8\'\'tier.pdf%0D%0ACommunity%3A%20Evil%20Corp%1B%5B2J')
    world.deliver(hostile + raw)
    [sent] = world.smtp.messages
    head = sent.data.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) < 1000  # the 200 KB subject was capped
    assert b"\x1b" not in sent.data.split(b"Content-Type: message/rfc822")[0]
    forward = email.message_from_bytes(sent.data, policy=policy.default)
    assert "Bcc" not in forward and "\n" not in forward["Subject"]
    note = next(part for part in forward.walk() if part.get_content_type() == "text/plain").get_content()
    note = note.replace("\r\n", "\n")
    assert [line for line in note.splitlines() if line.startswith("Community:")] == [
        "Community:      Pinecrest Community College"]
    assert "Original from:  rortiz@pinecrest.edu\n" in note  # the address, and apart from it the name
    assert re.search(r"\nDisplay name: +\"Raymond Community: Evil Corp \[31m\" \(written by the sender", note)
    assert "Attachments:    tier.pdf Community: Evil Corp [2J\n" in note
    assert "\x1b" not in note and "\u202e" not in note
    notes = next(lead.notes for lead in world.pipeline.lead_store.all() if lead.name == "Pinecrest Community College")
    assert "Needs Admin" in notes and "\x1b" not in notes and "\u202e" not in notes


def test_review_list_and_replay_print_no_escapes(world_for: Callable[..., World], tmp_path: Path) -> None:
    world = world_for(GOOGLE)
    world.deliver(mail("=?utf-8?q?x=1B[2J=1B]0;t=07=E2=80=AE?= <stranger@pinecrest.edu>", CONFIRM,
                       subject="=?utf-8?q?Re:_=1B[31mred?="))
    code, out, _ = run_cli("review", "list", "--state", str(world.pipeline.config.state_dir))
    assert code == 0 and "stranger@pinecrest.edu" in out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    mbox = tmp_path / "in.mbox"
    mbox.write_bytes(b"From x Mon Nov  2 15:00:00 2026\n" + mail(
        "=?utf-8?q?=1B[2J?= <attacker@evil.example>", "Please cancel our hub subscription.\n",
        subject="=?utf-8?q?=1B]0;pwned=07_cancel?="))
    code, out, _ = run_cli("replay", str(mbox), "--state", str(tmp_path / "other"))
    assert "messages read: 1" in out and "\x1b" not in out and "\x07" not in out


# --- the figures -------------------------------------------------------------------------------------


def test_attack_figures(world_for: Callable[..., World], capsys: pytest.CaptureFixture[str]) -> None:
    """Every attack above once more, counted; loops counted over three rounds of each acknowledgement."""
    wrong: list[str] = []
    for attack in ATTACKS:
        world = world_for(attack.trust)
        for raw in attack.messages():
            world.deliver(raw)
        wrong += [f"{attack.name}: {w}" for w in world.wrong_actions(attack.new_leads)]
    loops = 0
    for style in ("quotes", "attaches", "notice"):
        world = world_for(GOOGLE)
        world.deliver(mail(RAYMOND, CONFIRM))
        for _ in range(3):
            world.deliver(ticket_ack(world.smtp.messages[-1].data, style))
        loops += len(world.smtp.messages) - 1
    with capsys.disabled():
        print(f"\nattacks tried: {len(ATTACKS) + 3}, wrong actions: {len(wrong)}, loops: {loops} "
              f"(3 acknowledgement styles x 3 rounds)")
    assert wrong == [] and loops == 0


def test_a_contact_is_added_only_when_a_person_approves(world_for: Callable[..., World]) -> None:
    world = world_for(GOOGLE)
    world.deliver(mail("intern@pinecrest.edu", CONFIRM))
    assert "intern@pinecrest.edu" not in world.statuses()["Pinecrest Community College"][1]
    code, out, _ = run_cli("review", "approve", "1", "--state", str(world.pipeline.config.state_dir))
    assert code == 0 and "done: add_contact contact:1:intern@pinecrest.edu" in out
    assert world.statuses()["Pinecrest Community College"] == (
        "Needs Admin", ("rortiz@pinecrest.edu", "intern@pinecrest.edu"))
    world.pipeline.refresh_leads()  # the running daemon reads the leads again each cycle
    world.deliver(mail("intern@pinecrest.edu", "Attached is our signed services agreement.\n", subject="Contract",
                       attach=("signed-agreement.pdf", b"%PDF-1.4 x")))
    assert [m.message["Subject"] for m in world.smtp.messages] == [
        "[partnerships] Contract: Pinecrest Community College - Contract"]
