"""Tests for daemon.core.automated.detect_automated: hand-made cases and the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import CORPUS

from daemon.core.automated import detect_automated
from daemon.core.message import MalformedMessage, Message, parse

MISSING = (
    f"email corpus not found at {CORPUS}; it lives in ../shared/corpus next to the repository "
    "(see its SOURCES.md) or set PARTNERSHIPS_CORPUS to its path"
)

ENRON_HARD_NEGATIVES = (
    "derrick-j__inbox__63.eml",
    "kaminski-v__inbox__80.eml",
    "kaminski-v__inbox__82.eml",
    "beck-s__inbox__104.eml",
    "motley-m__inbox__ene_portland__middle_market__10.eml",
    "saibi-e__inbox__1073.eml",
)
# Genuine machine mail that reached the SpamAssassin lists and so sits in easy_ham.
EASY_HAM_MACHINE_MAIL = {
    "easy_ham__01542.ed72bf2cd81ccd4c076533fb0af004e5.eml": "bounce",  # a DSN relayed by the list
}
LIST_REASONS = ("mailing list", "precedence: bulk", "precedence: list")


def corpus_files(*folders: str) -> list[Path | None]:
    """Every file under the folders; [None] (a failing sentinel) when the corpus is missing."""
    if not CORPUS.is_dir():
        return [None]
    files = sorted(p for folder in folders for p in (CORPUS / folder).rglob("*") if p.is_file())
    return files or [None]


def corpus_id(path: Path | None) -> str:
    return "corpus-missing" if path is None else str(path.relative_to(CORPUS))


def require(path: Path | None) -> Path:
    if path is None:
        pytest.fail(MISSING if not CORPUS.is_dir() else f"expected corpus files missing under {CORPUS}", pytrace=False)
    return path


def parse_file(path: Path) -> Message | None:
    try:
        return parse(path.read_bytes())
    except MalformedMessage:
        return None


def message(headers: str, body: str = "Hello.\n") -> Message:
    base = "From: Alice <alice@example.com>\nTo: sales@example.org\nMessage-ID: <m1@example.com>\n"
    return parse((base + headers.strip("\n") + "\n\n" + body).encode())


# --- hand-made cases ----------------------------------------------------------------------------


def test_plain_human_message_is_not_automated() -> None:
    assert detect_automated(message("Subject: Quote for 20 seats", "Could you send a quote?\n")) is None


def test_own_marker_header_is_own_message() -> None:
    assert detect_automated(message("Subject: Lead\nX-Partnerships-Daemon: forwarded")) == "own message"


def test_own_message_id_domain_is_own_message() -> None:
    msg = parse(b"From: d@example.org\nMessage-ID: <abc@partnerships-daemon.invalid>\nSubject: x\n\nbody\n")
    assert detect_automated(msg) == "own message"
    assert detect_automated(msg, own_id_domain="other.invalid") is None


def test_custom_marker_header_name() -> None:
    msg = message("Subject: x\nX-Our-Bot: 1")
    assert detect_automated(msg) is None
    assert detect_automated(msg, own_marker_header="x-our-bot") == "own message"


def test_dsn_with_auto_submitted_is_reported_as_bounce_first() -> None:
    raw = (
        "From: MAILER-DAEMON@mx.example.org\nTo: alice@example.com\nSubject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nI'm sorry.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n"
        "Final-Recipient: rfc822; x@y\nAction: failed\nStatus: 5.1.1\n--b--\n"
    )
    assert detect_automated(parse(raw.encode())) == "bounce: delivery-status report"


def test_read_receipt_report() -> None:
    msg = message(
        "Subject: Read: offer\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type="disposition-notification"; boundary="b"',
        "--b\nContent-Type: text/plain\n\nDisplayed.\n--b\nContent-Type: message/disposition-notification\n\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n--b--\n",
    )
    assert detect_automated(msg) == "read receipt"


def test_plain_text_outlook_read_receipt() -> None:
    body = (
        "Your message\n\n  To: Bob\n  Subject: Offer\n  Sent: Monday, March 4, 2024 9:12 AM\n\n"
        "was read on Monday, March 4, 2024 9:30 AM.\n"
    )
    assert detect_automated(message("Subject: Read: Offer", body)) == "read receipt"
    assert detect_automated(message("Subject: Read: the attached offer", "Please read it today.\n")) is None


def test_amazon_ses_bounce_notification() -> None:
    body = '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent"}}\n'
    msg = parse(
        f"From: no-reply@sns.amazonaws.com\nTo: a@example.com\nSubject: AWS Notification Message\n\n{body}".encode()
    )
    assert detect_automated(msg) == "bounce: Amazon SES notification"
    assert detect_automated(message("Subject: our SES setup", body)) is None  # a person quoting the JSON


def test_feedback_report() -> None:
    msg = message(
        'Subject: abuse\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary="b"',
        "--b\nContent-Type: text/plain\n\nComplaint.\n--b\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\n--b--\n",
    )
    assert detect_automated(msg) == "feedback report"


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@example.org", "postmaster@example.org", "Mail Delivery Subsystem <x@example.org>"],
)
def test_mail_system_sender_is_bounce(sender: str) -> None:
    msg = parse(f"From: {sender}\nTo: a@example.com\nSubject: problem\n\nbody\n".encode())
    assert detect_automated(msg) == "bounce: mail system sender"


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: Quote",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Returned mail: see transcript for details",
        "failure notice",
    ],
)
def test_bounce_subjects(subject: str) -> None:
    assert detect_automated(message(f"Subject: {subject}")) == "bounce: subject"


def test_forwarded_bounce_subject_from_a_person_is_not_a_bounce() -> None:
    msg = message("Subject: Fw: Returned mail: see transcript for details", "I tried to send this earlier.\n")
    assert detect_automated(msg) is None


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "auto-notified; owner-email=x@y"])
def test_auto_submitted(value: str) -> None:
    assert detect_automated(message(f"Subject: hi\nAuto-Submitted: {value}")) == (
        f"auto-submitted: {value.split(';')[0]}"
    )


def test_auto_submitted_no_is_human() -> None:
    assert detect_automated(message("Subject: hi\nAuto-Submitted: no")) is None


@pytest.mark.parametrize("value", ["bulk", "list", "junk"])
def test_precedence(value: str) -> None:
    assert detect_automated(message(f"Subject: news\nPrecedence: {value}")) == f"precedence: {value}"


def test_list_id_and_list_unsubscribe() -> None:
    assert detect_automated(message("Subject: x\nList-Id: Sales news <news.example.com>")) == "mailing list (List-Id)"
    assert detect_automated(message("Subject: x\nList-Unsubscribe: <mailto:u@example.com>")) == (
        "mailing list (List-Unsubscribe)"
    )


@pytest.mark.parametrize("name", ["X-Autoreply", "X-Autorespond"])
def test_autoreply_headers(name: str) -> None:
    assert detect_automated(message(f"Subject: Re: hi\n{name}: yes")) == f"auto-reply header ({name.lower()})"


def test_auto_response_suppress_counts_on_any_message() -> None:
    # Issue 15: ticket systems stamp it on new acknowledgements too; Outlook never sets it on a person's mail.
    assert detect_automated(message("Subject: Re: offer\nIn-Reply-To: <o@x>\nX-Auto-Response-Suppress: All"))
    assert detect_automated(message("Subject: Quarterly report\nX-Auto-Response-Suppress: OOF"))
    assert detect_automated(message("Subject: Quarterly report\nX-Auto-Response-Suppress: DR, RN")) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office AutoReply: Pricing",
        "Automatic reply: Pricing",
        "Auto reply: Pricing",
        "Autoreply: Pricing",
        "Out of Office: Pricing",
        "Abwesenheitsnotiz: Preise",
        "Jane Doe/Sales/Example is out of the office.",
        "[sales-list] Jane Doe/Sales/Example is out of the office.",
        "Vacation: back on Monday",
        "Absence: until 12 May",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert detect_automated(message(f"Subject: {subject}")) == "out-of-office: subject"


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Out of Office AutoReply: Outsourcing deal lawyer",
        "RE: Out of Office AutoReply: SEC Letter",
        "Fw: Automatic reply: Pricing",
        "[ILUG-Social] Re: [ILUG] Dermot Beirne/Dublin/IE/Exel is out of the office.",
        "Out of Office",
        "Out of the Office",
        "Vacation 11/05",
        "CPA Exam Vacation/Comp Days",
    ],
)
def test_human_subjects_mentioning_absence_are_not_automated(subject: str) -> None:
    assert detect_automated(message(f"Subject: {subject}", "I will be out Monday and Tuesday.\n")) is None


LOTUS_BODY = (
    "I will be out of the office starting  07/20/2002 and will not return until\n07/29/2002.\n\n"
    "I will respond to your message when I return.\n"
)


def test_lotus_notes_body_without_reply_subject_is_out_of_office() -> None:
    assert detect_automated(message("Subject: Pricing question", LOTUS_BODY)) == "out-of-office: body"


def test_lotus_notes_body_quoted_in_a_human_reply_is_not_out_of_office() -> None:
    body = "On Fri, Aug 02, 2002, Dermot wrote:\n" + "".join(f"> {line}\n" for line in LOTUS_BODY.splitlines())
    body += "\nan automated message to the list. is this a record?\n"
    msg = message("Subject: Re: [ILUG] Dermot Beirne/Dublin/IE/Exel is out of the office.", body)
    assert detect_automated(msg) is None


def test_lotus_notes_body_in_a_reply_without_absence_subject_is_ignored() -> None:
    assert detect_automated(message("Subject: Re: Pricing question", LOTUS_BODY)) is None


def test_hand_written_absence_notice_is_human() -> None:
    body = "I will be out of the office starting Monday and will not return until Friday. Call Heather.\n"
    assert detect_automated(message("Subject: Out of the Office", body)) is None


# --- corpus -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus_files("autoreply", "bounce"), ids=corpus_id)
def test_every_autoreply_and_bounce_is_detected(path: Path | None) -> None:
    msg = parse_file(require(path))
    if msg is None:
        return  # quarantined by parse(): handled, and test_corpus_parse limits how many may be
    assert detect_automated(msg) is not None, f"not detected: subject={msg.subject!r} from={msg.from_addr!r}"


def test_corpus_autoreplies_and_bounces_are_not_quarantined() -> None:
    files = [require(path) for path in corpus_files("autoreply", "bounce")]
    assert len(files) > 600
    quarantined = [str(path.relative_to(CORPUS)) for path in files if parse_file(path) is None]
    assert quarantined == []


def test_bounces_are_reported_as_bounces_not_auto_replies() -> None:
    files = [require(path) for path in corpus_files("bounce")]
    auto_replies = []
    for path in files:
        msg = parse_file(path)
        reason = detect_automated(msg) if msg else None
        if reason and reason.startswith(("auto-submitted", "out-of-office")):
            auto_replies.append(f"{path.relative_to(CORPUS)}: {reason}")
    # DSNs carry Auto-Submitted: auto-replied; the bounce checks must win for nearly all of them.
    assert len(auto_replies) <= len(files) // 100, "\n".join(auto_replies)


def test_no_enron_ham_is_flagged() -> None:
    files = [require(path) for path in corpus_files("ham/enron")]
    assert len(files) > 900
    flagged = []
    for path in files:
        msg = parse_file(path)
        assert msg is not None, f"ham quarantined: {path.name}"
        reason = detect_automated(msg)
        if reason is not None:
            flagged.append(f"{path.name}: {reason} (subject {msg.subject!r})")
    assert not flagged, "ham flagged as automated:\n" + "\n".join(flagged)


@pytest.mark.parametrize("name", ENRON_HARD_NEGATIVES)
def test_enron_hard_negatives_are_human(name: str) -> None:
    require(corpus_files("ham/enron")[0])
    path = CORPUS / "ham" / "enron" / name
    assert path.is_file(), f"hard negative missing from corpus: {path}"
    msg = parse_file(path)
    assert msg is not None
    assert detect_automated(msg) is None


def test_easy_ham_is_flagged_only_as_list_mail() -> None:
    files = [require(path) for path in corpus_files("ham/spamassassin-easy_ham")]
    assert len(files) > 500
    wrong = []
    for path in files:
        msg = parse_file(path)
        assert msg is not None, f"ham quarantined: {path.name}"
        reason = detect_automated(msg)
        expected = EASY_HAM_MACHINE_MAIL.get(path.name)
        if expected is not None:
            if not (reason or "").startswith(expected):
                wrong.append(f"{path.name}: expected {expected}, got {reason}")
        elif reason is not None and not reason.startswith(LIST_REASONS):
            wrong.append(f"{path.name}: {reason} (subject {msg.subject!r})")
    assert not wrong, "easy_ham flagged for more than list mail:\n" + "\n".join(wrong)


def test_easy_ham_replies_to_an_out_of_office_are_not_out_of_office() -> None:
    require(corpus_files("ham/spamassassin-easy_ham")[0])
    paths = sorted((CORPUS / "ham" / "spamassassin-easy_ham").glob("easy_ham_2__0004[4-7].*"))
    assert len(paths) == 4, f"expected 4 hard negatives, found {[p.name for p in paths]}"
    for path in paths:
        msg = parse_file(path)
        assert msg is not None
        reason = detect_automated(msg)
        assert reason is None or reason.startswith(LIST_REASONS), f"{path.name}: {reason}"
