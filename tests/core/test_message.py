"""Unit tests for daemon.core.message.parse on hand-written messages."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.core.message import Attachment, MalformedMessage, Message, parse

BASE_HEADERS = (
    "From: Alice Example <alice@example.com>\n"
    "To: sales@example.org\n"
    "Subject: Hello\n"
    "Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
    "Message-ID: <base-1@example.com>\n"
)


def raw_message(headers: str = BASE_HEADERS, body: str = "Hello.\n", *, encoding: str = "utf-8") -> bytes:
    return (headers.rstrip("\n") + "\n\n" + body).encode(encoding)


def with_header(name: str, value: str, body: str = "Hello.\n") -> bytes:
    """BASE_HEADERS with header `name` replaced by `name: value`."""
    kept = [line for line in BASE_HEADERS.splitlines() if not line.lower().startswith(name.lower() + ":")]
    return raw_message("\n".join([*kept, f"{name}: {value}"]), body)


def multipart(parts: list[str], *, subtype: str = "mixed", extra_headers: str = "") -> bytes:
    boundary = "==BOUNDARY=="
    headers = (
        BASE_HEADERS + extra_headers + f'MIME-Version: 1.0\nContent-Type: multipart/{subtype}; boundary="{boundary}"\n'
    )
    body = "".join(f"--{boundary}\n{part.rstrip(chr(10))}\n" for part in parts) + f"--{boundary}--\n"
    return raw_message(headers, body)


# --- headers ------------------------------------------------------------------------------------


def test_rfc2047_utf8_base64_subject() -> None:
    encoded = base64.b64encode("Angebot für Müller".encode()).decode()
    msg = parse(with_header("Subject", f"=?utf-8?B?{encoded}?="))
    assert msg.subject == "Angebot für Müller"


def test_rfc2047_latin1_quoted_printable_subject() -> None:
    msg = parse(with_header("Subject", "=?iso-8859-1?Q?Pr=E9sentation_de_l'offre?="))
    assert msg.subject == "Présentation de l'offre"


def test_rfc2047_latin1_base64_and_utf8_q_mixed_with_plain_text() -> None:
    latin = base64.b64encode("Größe".encode("iso-8859-1")).decode()
    msg = parse(with_header("Subject", f"Re: =?ISO-8859-1?B?{latin}?= und =?UTF-8?q?K=C3=A4se?= heute"))
    assert msg.subject == "Re: Größe und Käse heute"


def test_rfc2047_adjacent_words_join_and_split_multibyte_char_survives() -> None:
    data = "日本語".encode()
    first, second = base64.b64encode(data[:4]).decode(), base64.b64encode(data[4:]).decode()
    msg = parse(with_header("Subject", f"=?utf-8?b?{first}?=\n =?utf-8?b?{second}?="))
    assert msg.subject == "日本語"


def test_subject_is_unfolded_and_whitespace_folded() -> None:
    msg = parse(with_header("Subject", "Quarterly   review\n\tof the\n  contract"))
    assert msg.subject == "Quarterly review of the contract"


def test_missing_subject_is_empty_string() -> None:
    raw = raw_message("From: a@example.com\nTo: b@example.com\nMessage-ID: <x@y>\n")
    assert parse(raw).subject == ""


def test_quoted_display_name_with_comma_is_one_address() -> None:
    raw = with_header("From", '"Smith, John" <J.Smith@Example.org>')
    msg = parse(raw)
    assert msg.from_name == "Smith, John"
    assert msg.from_addr == "j.smith@example.org"


def test_to_list_with_quoted_commas_splits_on_real_separators_only() -> None:
    msg = parse(with_header("To", '"Doe, Jane" <jane@EXAMPLE.com>, bob@example.net, "Roe, R." <R@x.io>'))
    assert msg.to == ("jane@example.com", "bob@example.net", "r@x.io")


def test_encoded_display_name_with_encoded_comma_is_not_split() -> None:
    msg = parse(with_header("From", "=?utf-8?q?M=C3=BCller=2C_Hans?= <Hans@Example.DE>"))
    assert msg.from_name == "Müller, Hans"
    assert msg.from_addr == "hans@example.de"


def test_upper_case_addresses_are_lower_cased_everywhere() -> None:
    headers = (
        "From: BOSS@EXAMPLE.COM\nTo: Sales <SALES@Example.Org>\nCc: A@B.C, d@E.F\n"
        "Reply-To: Replies <REPLY@Example.Com>\nMessage-ID: <Case-ID@Example.Com>\nSubject: x\n"
    )
    msg = parse(raw_message(headers))
    assert msg.from_addr == "boss@example.com"
    assert msg.to == ("sales@example.org",)
    assert msg.cc == ("a@b.c", "d@e.f")
    assert msg.reply_to == ("reply@example.com",)
    assert msg.participants == frozenset(
        {"boss@example.com", "sales@example.org", "a@b.c", "d@e.f", "reply@example.com"}
    )
    assert msg.message_id == "Case-ID@Example.Com"  # ids are case-sensitive: left alone


def test_from_without_address_gives_name_only() -> None:
    msg = parse(with_header("From", "Mail Delivery Subsystem"))
    assert msg.from_addr is None
    assert msg.from_name == "Mail Delivery Subsystem"


def test_bare_mailer_daemon_from_is_kept_as_address() -> None:
    assert parse(with_header("From", "MAILER-DAEMON")).from_addr == "mailer-daemon"


def test_missing_message_id_is_synthesized_deterministically() -> None:
    raw = raw_message("From: a@example.com\nTo: b@example.com\nSubject: no id\n")
    first, second = parse(raw), parse(raw)
    expected = f"sha256-{hashlib.sha256(raw).hexdigest()[:32]}@synthetic.invalid"
    assert first.message_id == second.message_id == expected
    other = parse(raw_message("From: a@example.com\nTo: b@example.com\nSubject: other\n"))
    assert other.message_id != first.message_id
    assert other.message_id.endswith("@synthetic.invalid")


def test_empty_message_id_is_synthesized() -> None:
    raw = with_header("Message-ID", "   ")
    assert parse(raw).message_id == f"sha256-{hashlib.sha256(raw).hexdigest()[:32]}@synthetic.invalid"


def test_message_id_brackets_and_whitespace_are_stripped() -> None:
    assert parse(with_header("Message-ID", "  < abc.123@mail.example.com >  ")).message_id == (
        "abc.123@mail.example.com"
    )


def test_message_id_without_brackets_is_used_as_is() -> None:
    assert parse(with_header("Message-ID", "abc.123@mail.example.com")).message_id == "abc.123@mail.example.com"


def test_broken_references_yield_every_recognisable_id_in_order() -> None:
    headers = BASE_HEADERS + "References: <first@x.org> junk<second@y.org><third@z.org> <unterminated@w\n"
    msg = parse(raw_message(headers))
    assert msg.references == ("first@x.org", "second@y.org", "third@z.org")


def test_references_without_brackets_fall_back_to_tokens_with_at_sign() -> None:
    headers = BASE_HEADERS + "References: first@x.org, not-an-id second@y.org\n"
    assert parse(raw_message(headers)).references == ("first@x.org", "second@y.org")


def test_in_reply_to_with_trailing_comment_and_folding() -> None:
    headers = BASE_HEADERS + "In-Reply-To: <orig@x.org>\n (John's message of Mon, 4 Mar 2024)\n"
    assert parse(raw_message(headers)).in_reply_to == ("orig@x.org",)


def test_empty_in_reply_to_is_empty_tuple() -> None:
    assert parse(raw_message(BASE_HEADERS + "In-Reply-To:\n")).in_reply_to == ()


def test_date_with_zone_is_kept_aware() -> None:
    msg = parse(BASE_HEADERS.encode() + b"\nbody\n")
    assert msg.date == datetime(2024, 3, 5, 10, 15, tzinfo=timezone(timedelta(hours=1)))


@pytest.mark.parametrize("value", ["Tue, 05 Mar 2024 10:15:00 -0000", "Tue, 05 Mar 2024 10:15:00"])
def test_date_without_zone_is_utc(value: str) -> None:
    msg = parse(with_header("Date", value))
    assert msg.date == datetime(2024, 3, 5, 10, 15, tzinfo=UTC)
    assert msg.date is not None and msg.date.tzinfo is not None


@pytest.mark.parametrize("value", ["not a date", "Tue, 35 Foo 2024 99:99:99 +0100", "", "Mon, 1 Jan 0 0:0:0 +9999"])
def test_bad_date_is_none(value: str) -> None:
    assert parse(with_header("Date", value)).date is None


def test_headers_are_all_kept_in_order_lower_cased_and_decoded() -> None:
    headers = BASE_HEADERS + "X-Custom: =?utf-8?q?caf=C3=A9?=\nReceived: from a\nReceived: from b\n"
    msg = parse(raw_message(headers))
    names = [name for name, _ in msg.headers]
    assert names == ["from", "to", "subject", "date", "message-id", "x-custom", "received", "received"]
    assert msg.header("X-CUSTOM") == ("café",)
    assert msg.header("received") == ("from a", "from b")


def test_raw_8bit_headers_decode_as_utf8_or_latin1() -> None:
    raw = (
        b"From: =?utf-8?q?x?= <a@example.com>\nTo: b@example.com\nMessage-ID: <8bit@x>\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe\nX-Latin: Gr\xfc\xdfe\n\nbody\n"
    )
    msg = parse(raw)
    assert msg.subject == "Grüße"
    assert msg.header("x-latin") == ("Grüße",)


def test_obsolete_space_before_header_colon_is_accepted() -> None:
    raw = b"From  : John Doe <jdoe@example.net>\nSubject     : Saying Hello\nMessage-ID  : <1234@local>\n\nHi.\n"
    msg = parse(raw)
    assert (msg.from_addr, msg.subject, msg.message_id) == ("jdoe@example.net", "Saying Hello", "1234@local")


def test_leading_whitespace_line_before_headers_is_skipped() -> None:
    raw = b" " * 255 + b"\n" + raw_message()
    msg = parse(raw)
    assert msg.subject == "Hello"
    assert msg.from_addr == "alice@example.com"
    assert msg.size == len(raw)


def test_bare_cr_line_endings_are_normalised() -> None:
    raw = raw_message(body="Line one.\nLine two.\n").replace(b"\n", b"\r")
    msg = parse(raw)
    assert msg.subject == "Hello"
    assert msg.message_id == "base-1@example.com"
    assert msg.full_text == "Line one.\nLine two.\n"


def test_crlf_message_parses_and_body_uses_lf() -> None:
    raw = raw_message(body="Line one.\nLine two.\n").replace(b"\n", b"\r\n")
    msg = parse(raw)
    assert msg.subject == "Hello"
    assert msg.full_text == "Line one.\nLine two.\n"


# --- body ---------------------------------------------------------------------------------------


def test_plain_body_and_size() -> None:
    raw = raw_message(body="We would like a quote for 50 licences.\n")
    msg = parse(raw)
    assert msg.full_text == "We would like a quote for 50 licences.\n"
    assert msg.new_text == "We would like a quote for 50 licences."
    assert msg.content_type == "text/plain"
    assert msg.size == len(raw)
    assert msg.attachments == ()


def test_html_only_body_is_converted_to_text() -> None:
    html = "<html><body><p>Hello <b>team</b>,</p><p>Please send the <a href='x'>proposal</a>.</p></body></html>"
    raw = raw_message(BASE_HEADERS + "MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n", html)
    msg = parse(raw)
    assert "<" not in msg.full_text
    assert "Hello team," in msg.full_text
    assert "Please send the proposal." in msg.new_text
    assert msg.content_type == "text/html"


def test_html_beyond_1_mb_is_cut_after_a_tag_and_the_full_text_says_so() -> None:
    first = "<p>Please send the proposal.</p>\n" + ("<p>" + "x" * 80 + "</p>\n") * 12_000  # ~1.06 MB
    second = "<p>Never converted.</p>\n"
    raw = multipart(
        [f"Content-Type: text/html; charset=utf-8\n\n{first}", f"Content-Type: text/html; charset=utf-8\n\n{second}"]
    )
    msg = parse(raw)
    assert msg.new_text.startswith("Please send the proposal.\n")
    assert "HTML cut" not in msg.new_text  # the note is not something the sender wrote
    assert "Never converted" not in msg.full_text
    # Cut at the last ">" within the first 1,000,000 characters, whatever the part boundaries.
    total = len(first.rstrip("\n")) + len(second.rstrip("\n"))
    converted = first.rfind(">", 0, 1_000_000) + 1
    assert msg.full_text.endswith(
        f"\n[HTML cut: only the first {converted} of {total} characters were converted to text]"
    )


def test_alternative_prefers_plain_over_html() -> None:
    raw = multipart(
        [
            "Content-Type: text/plain; charset=utf-8\n\nPlain version.",
            "Content-Type: text/html; charset=utf-8\n\n<p>HTML version.</p>",
        ],
        subtype="alternative",
    )
    msg = parse(raw)
    assert msg.full_text.strip() == "Plain version."


def test_quoted_printable_and_base64_bodies_are_decoded() -> None:
    encoded = base64.b64encode("Prix: 100 €".encode()).decode()
    raw = multipart(
        [
            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
            "Caf=E9 cr=E8me",
            f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n{encoded}",
        ]
    )
    text = parse(raw).full_text
    assert "Café crème" in text
    assert "Prix: 100 €" in text


def test_unknown_charset_falls_back_to_utf8_then_latin1() -> None:
    utf8 = raw_message(BASE_HEADERS + 'Content-Type: text/plain; charset="x-bogus-charset"\n', "Grüße aus Köln\n")
    assert parse(utf8).full_text == "Grüße aus Köln\n"
    latin = raw_message(
        BASE_HEADERS + "Content-Type: text/plain; charset=unknown-8bit\n", "Grüße\n", encoding="latin-1"
    )
    assert parse(latin).full_text == "Grüße\n"


def test_unknown_charset_in_encoded_word_survives() -> None:
    msg = parse(with_header("Subject", "=?x-nonsense?q?caf=C3=A9?="))
    assert msg.subject == "café"


def test_mislabelled_utf8_body_is_recovered() -> None:
    raw = raw_message(BASE_HEADERS + 'Content-Type: text/plain; charset="iso-2022-jp"\n', "メール 送信\n")
    assert parse(raw).full_text == "メール 送信\n"


def test_attachments_are_listed_with_decoded_size() -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    raw = multipart(
        [
            "Content-Type: text/plain\n\nSee the attached offer.",
            "Content-Type: application/pdf; name=offer.pdf\nContent-Transfer-Encoding: base64\n"
            f'Content-Disposition: attachment; filename="offer.pdf"\n\n{base64.b64encode(pdf).decode()}',
            "Content-Type: text/csv\nContent-Disposition: attachment; filename=prices.csv\n\na,b\n1,2",
            "Content-Type: image/png\nContent-Disposition: inline; filename=logo.png\n"
            "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=",
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAw==",
        ]
    )
    msg = parse(raw)
    assert msg.attachments == (
        Attachment("offer.pdf", "application/pdf", len(pdf)),
        Attachment("prices.csv", "text/csv", len(b"a,b\n1,2")),
        Attachment(None, "application/octet-stream", 4),
    )
    assert msg.full_text.strip() == "See the attached offer."


def test_encoded_attachment_filename_is_decoded() -> None:
    raw = multipart(
        [
            "Content-Type: text/plain\n\nBody",
            "Content-Type: application/pdf\n"
            'Content-Disposition: attachment; filename="=?utf-8?q?Angebot_M=C3=BCller.pdf?="\n\nxx',
            "Content-Type: application/pdf\n"
            "Content-Disposition: attachment; filename*=utf-8''Pr%C3%A9sentation.pdf\n\nyy",
        ]
    )
    assert [a.filename for a in parse(raw).attachments] == ["Angebot Müller.pdf", "Présentation.pdf"]


def test_attached_message_counts_as_attachment_and_its_text_is_not_body() -> None:
    inner = "From: x@example.com\nSubject: inner\n\nInner secret text.\n"
    raw = multipart(
        [
            "Content-Type: text/plain\n\nForwarding this as an attachment.",
            f"Content-Type: message/rfc822\nContent-Disposition: attachment; filename=fwd.eml\n\n{inner}",
        ]
    )
    msg = parse(raw)
    assert [(a.filename, a.content_type) for a in msg.attachments] == [("fwd.eml", "message/rfc822")]
    assert msg.attachments[0].size > len("Inner secret text.")
    assert "Inner secret text" not in msg.full_text


def test_three_hundred_attachments() -> None:
    parts = ["Content-Type: text/plain\n\nMany files."] + [
        f"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=f{i}.bin\n\n{'x' * i}"
        for i in range(1, 351)
    ]
    msg = parse(multipart(parts))
    assert len(msg.attachments) == 350
    assert msg.attachments[-1] == Attachment("f350.bin", "application/octet-stream", 350)


def test_defects_are_reported_by_class_name() -> None:
    raw = raw_message(BASE_HEADERS + "Content-Type: multipart/mixed\n", "no boundary here\n")
    msg = parse(raw)
    assert "NoBoundaryInMultipartDefect" in msg.defects
    assert "no boundary here" in msg.full_text


def test_message_is_frozen() -> None:
    msg = parse(raw_message())
    assert isinstance(msg, Message)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.subject = "changed"  # type: ignore[misc]


# --- new_text -----------------------------------------------------------------------------------


def new_text(body: str) -> str:
    return parse(raw_message(body=body)).new_text


def test_gmail_on_wrote_quote_is_removed() -> None:
    body = (
        "Yes, Thursday works for the demo.\n\n"
        "On Mon, Mar 4, 2024 at 9:12 AM Bob Buyer <bob@example.net> wrote:\n"
        "> Can we meet on Thursday?\n> Bob\n"
    )
    assert new_text(body) == "Yes, Thursday works for the demo."


def test_gmail_on_wrote_wrapped_over_two_lines_is_removed() -> None:
    body = "Sounds good.\n\nOn Mon, Mar 4, 2024 at 9:12 AM Bob Buyer <\nbob@example.net> wrote:\n\n> earlier text\n"
    assert new_text(body) == "Sounds good."


def test_outlook_original_message_block_is_removed() -> None:
    body = (
        "Please find the signed contract attached.\n\n"
        "-----Original Message-----\nFrom: Bob Buyer [mailto:bob@example.net]\n"
        "Sent: Monday, March 04, 2024 9:12 AM\nTo: Alice\nSubject: contract\n\nCan you sign it?\n"
    )
    assert new_text(body) == "Please find the signed contract attached."


def test_outlook_from_sent_block_without_separator_is_removed() -> None:
    body = (
        "Approved on our side.\n\n"
        "From: Bob Buyer <bob@example.net>\nSent: Monday, March 4, 2024 9:12 AM\n"
        "To: Alice <alice@example.com>\nSubject: RE: pricing\n\nOld pricing discussion.\n"
    )
    assert new_text(body) == "Approved on our side."


def test_german_am_schrieb_quote_is_removed() -> None:
    body = (
        "Vielen Dank, wir nehmen das Angebot an.\n\n"
        "Am 04.03.2024 um 09:12 schrieb Bob Käufer <bob@example.de>:\n> Hier ist unser Angebot.\n"
    )
    assert new_text(body) == "Vielen Dank, wir nehmen das Angebot an."


def test_plain_attribution_followed_by_quotes_is_removed() -> None:
    # The library only knows "On ... wrote:"; Enron-era clients wrote "<address> wrote:".
    body = "Might you need another lawyer?\n\nJames.Derrick@enron.com wrote:\n\n> I will be out until May 16.\n"
    assert new_text(body) == "Might you need another lawyer?"


def test_interleaved_reply_keeps_answers_and_drops_quotes() -> None:
    body = (
        "On Mon, 5 Aug 2002, Ray wrote:\n\n> Which version do you run?\n"
        "Version 2.1.\n> And the licence count?\nFifty seats.\n"
    )
    assert new_text(body) == "Version 2.1.\nFifty seats."


def test_quoted_lines_without_attribution_are_removed() -> None:
    assert new_text("> what about pricing?\n\nPricing is per seat.\n") == "Pricing is per seat."


def test_gmail_forwarded_history_is_removed() -> None:
    body = (
        "FYI, a lead from the fair.\n\n---------- Forwarded message ---------\n"
        "From: Lead <lead@example.com>\nDate: Mon, 4 Mar 2024\nSubject: Interested\n\nWe want a demo.\n"
    )
    assert new_text(body) == "FYI, a lead from the fair."


def test_apple_begin_forwarded_message_is_removed() -> None:
    body = "See below.\n\nBegin forwarded message:\n\nFrom: Lead <lead@example.com>\nSubject: Hi\n\nOld.\n"
    assert new_text(body) == "See below."


def test_lotus_forwarded_by_is_removed() -> None:
    body = (
        "Please handle.\n\n---------------------- Forwarded by Jane Doe/HOU/ECT on 05/10/2001 08:13 AM "
        "---------------------------\n\nOriginal text.\n"
    )
    assert new_text(body) == "Please handle."


def test_forward_without_comment_has_empty_new_text() -> None:
    body = "---------- Forwarded message ---------\nFrom: Lead <lead@example.com>\nSubject: Hi\n\nOld.\n"
    assert new_text(body) == ""


def test_dash_dash_space_signature_is_removed() -> None:
    body = "The invoice is paid.\n\n-- \nAlice Example\nHead of Sales, Example Ltd\n+1 555 0100\n"
    assert new_text(body) == "The invoice is paid."


def test_sign_off_and_name_are_removed_by_the_library() -> None:
    assert new_text("Confirmed for Friday.\n\nThanks,\nKim\n713-555-0100\n") == "Confirmed for Friday."


def test_sign_off_word_starting_a_sentence_does_not_cut_the_message() -> None:
    body = "Hi Bob,\n\nThanks, I will sign the contract today and send it over.\n\nAnn\n"
    assert "I will sign the contract today" in new_text(body)


def test_hyphen_bullet_list_is_not_taken_for_a_signature() -> None:
    body = "We need:\n- 20 seats\n- onboarding\n\nPlease quote.\n"
    assert new_text(body) == "We need:\n- 20 seats\n- onboarding\n\nPlease quote."


def test_mailing_list_footer_is_removed() -> None:
    body = (
        "Works for me.\n\n_______________________________________________\n"
        "Razor-users mailing list\nhttps://lists.example.net/listinfo/razor-users\n"
    )
    assert new_text(body) == "Works for me."


def test_new_text_only_looks_at_the_first_100k_but_full_text_is_whole() -> None:
    body = ("word " * 20 + "\n") * 2000 + "TAIL MARKER\n"
    msg = parse(raw_message(body=body))
    assert msg.full_text.endswith("TAIL MARKER\n")
    assert "TAIL MARKER" not in msg.new_text
    assert len(msg.new_text) <= 100_000


def test_pathological_paragraph_starting_with_on_is_fast() -> None:
    # The library's own "On ... wrote:" regex is quadratic here (110 s for this input).
    body = "On " + "x" * 100_000 + "\n" + ("On " + "word " * 400 + "\n") * 50
    start = time.perf_counter()
    msg = parse(raw_message(body=body))
    assert time.perf_counter() - start < 2.0
    assert msg.new_text.startswith("On xxx")


# --- quarantine and robustness ------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\t \n"])
def test_empty_input_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse(raw)
    assert info.value.reason == "empty message"


def test_oversized_input_is_malformed_and_names_size_and_limit() -> None:
    raw = raw_message(body="x" * 5000)
    with pytest.raises(MalformedMessage) as info:
        parse(raw, max_size=1000)
    assert str(len(raw)) in info.value.reason
    assert "1000" in info.value.reason


def test_size_at_limit_is_accepted() -> None:
    raw = raw_message()
    assert parse(raw, max_size=len(raw)).size == len(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x78\x9f\x3e\x22\x00\x01binary tnef blob",
        b"Just some text that someone pasted.\nNo headers here.\n",
        b"Hello world: this looks like a header\n\nbut nothing email-like is present\n",
    ],
)
def test_input_without_a_header_block_is_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage) as info:
        parse(raw)
    assert info.value.reason.startswith("not an email")


def test_mime_entity_without_address_headers_still_parses() -> None:
    msg = parse(b"Content-Type: text/plain\nMIME-Version: 1.0\n\nbare entity\n")
    assert msg.full_text == "bare entity\n"
    assert msg.message_id.endswith("@synthetic.invalid")


def test_mbox_from_line_is_tolerated() -> None:
    msg = parse(b"From alice@example.com Mon Mar  4 09:00:00 2024\n" + raw_message())
    assert msg.subject == "Hello"


def test_huge_obsolete_address_header_does_not_crash() -> None:
    # email.utils.getaddresses recurses per "." in obsolete phrases and overflows the stack.
    value = ", ".join(["=?utf-8?Q?date=3E2017.08.20T10.08.28.617?="] * 3000) + ", real@example.com"
    msg = parse(with_header("To", value))
    assert "real@example.com" in msg.to


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_malformed(raw: bytes) -> None:
    try:
        msg = parse(raw)
    except MalformedMessage as e:
        assert e.reason
    else:
        assert msg.message_id


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_messages_never_raise_anything_but_malformed(data: st.DataObject) -> None:
    base = bytearray(
        multipart(
            [
                "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nHi=20there",
                "Content-Type: application/pdf; name=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK",
            ]
        )
    )
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(base) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        chunk = data.draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\n", b"=?", b"--", b":", b"<"]))
        if action == "replace":
            base[position : position + len(chunk)] = chunk
        elif action == "insert":
            base[position:position] = chunk
        else:
            del base[position : position + len(chunk)]
    try:
        msg = parse(bytes(base))
    except MalformedMessage as e:
        assert e.reason
    else:
        assert msg.message_id


def test_python_escape_codecs_are_not_mail_charsets() -> None:
    import warnings

    raw = (b"From: a@b.org\nSubject: x\nContent-Type: text/plain; charset=unicode_escape\n"
           b"Content-Transfer-Encoding: 8bit\n\nHello \\h \\x41 there\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = parse(raw)
    # the bytes are text as written, not Python string escapes
    assert message.full_text == "Hello \\h \\x41 there\n"
