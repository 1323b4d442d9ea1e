"""Hostile input: arbitrary bytes never crash the pure core; template syntax stays literal; odd mail is bounded."""

from __future__ import annotations

import base64
import email
import hashlib
import json
import subprocess
import sys
import textwrap
import time
import tracemalloc
from email import policy
from pathlib import Path
from typing import Any

import pytest
from factories import raw_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from daemon.core.automated import detect_automated
from daemon.core.extract import extract_facts
from daemon.core.message import Attachment, MalformedMessage, parse
from daemon.core.rules import Context, load_rules
from daemon.core.trust import assess_sender
from daemon.io import RawItem
from daemon.pipeline import Pipeline
from daemon.runtime import make_pipeline, open_runtime
from daemon.settings import PROJECT_ROOT, Config, TrustSettings
from daemon.state.models import Quarantined, StoredMessage

CONFIG = Config()
RULES = load_rules(CONFIG.rules_dir)
TIERS = tuple(tier.name for tier in CONFIG.tiers)
MiB = 1024 * 1024
# "Bounded memory": at most 3x the input on top of what was there, with a floor for the parser's
# fixed working set (the email package alone holds ~8x the bytes of an ordinary message).
MEMORY_FLOOR = 64 * MiB
TIME_LIMIT = 30.0  # seconds, under tracemalloc (which slows allocation-heavy code about 2-10x)


def memory_bound(size: int) -> int:
    return max(3 * size, MEMORY_FLOOR)


# --- the pure core never raises ---------------------------------------------------------------------


def core(data: bytes) -> None:
    """parse -> MalformedMessage or a Message; then automated detection, facts, rules and trust, none raising."""
    try:
        message = parse(data)
    except MalformedMessage as exc:
        assert exc.reason
        return
    detect_automated(message, own_id_domain=CONFIG.addresses.daemon_id_domain)
    facts = extract_facts(message.new_text, message.subject, message.date.date() if message.date else None, TIERS)
    for direction, role in (("inbound", "lead_contact"), ("inbound", "unknown"), ("outbound", "team")):
        classification = RULES.classify(message, Context(direction=direction, sender_role=role), facts)
        assert classification.intent
    for outbound in (False, True):
        assert assess_sender(message, TrustSettings(), outbound=outbound).reason


@settings(max_examples=400, deadline=None, database=None)
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    core(data)


NEWLINES = st.sampled_from([b"\r\n", b"\n", b"\r"])
HEADER_NAMES = st.sampled_from([
    b"From", b"To", b"Cc", b"Reply-To", b"Subject", b"Date", b"Message-ID", b"In-Reply-To", b"References",
    b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding", b"Content-Disposition", b"Auto-Submitted",
    b"Precedence", b"List-Id", b"X-Autoreply", b"Return-Path", b"Received", b"Authentication-Results",
    b"X-Partnerships-Daemon", b"Subject  ", b"FROM", b"X-\x00", b"",
]) | st.from_regex(rb"[!-9;-~]{1,12}", fullmatch=True) | st.binary(min_size=1, max_size=12)
CHARSETS = st.sampled_from([
    b"utf-8", b"us-ascii", b"iso-8859-1", b"windows-1252", b"utf-7", b"utf-16", b"utf-32", b"gb2312", b"shift_jis",
    b"iso-2022-jp", b"ks_c_5601-1987", b"x-unknown", b"unknown-8bit", b"base64", b"rot13", b"zlib_codec", b"hex",
    b"idna", b"punycode", b"unicode_escape", b"raw_unicode_escape", b"bogus", b"", b"\"utf-8\"", b"utf-8\x00",
    b"\xff\xfe", b"utf-8'en'",
])
ENCODINGS = st.sampled_from([b"7bit", b"8bit", b"binary", b"base64", b"quoted-printable", b"x-uuencode", b"bogus", b""])
TEXTY = st.binary(max_size=200) | st.text(max_size=120).map(lambda s: s.encode("utf-8", "surrogatepass"))


@st.composite
def encoded_word(draw: st.DrawFn) -> bytes:
    return b"=?%s?%s?%s?=" % (draw(CHARSETS), draw(st.sampled_from([b"B", b"Q", b"b", b"x"])),
                             draw(st.binary(max_size=40).filter(lambda b: b"?=" not in b)))


HEADER_VALUES = st.one_of(
    TEXTY,
    encoded_word(),
    st.lists(encoded_word() | TEXTY, max_size=4).map(b" ".join),
    st.sampled_from([
        b"Maria Chen <maria.chen@westbrook.edu>", b"\"Osei, Amara\" <grants@x.org>, bob@y.org", b"<a@b> <c@d>",
        b"Tue, 06 Oct 2026 15:00:00 +0000", b"Mon, 99 Foo 99999 99:99:99 +9999", b"auto-replied", b"bulk",
        b"multipart/mixed; boundary=\"b\"", b"text/html; charset=utf-8", b"attachment; filename*=utf-8''%ff%00.pdf",
        b"mx.google.com; dkim=pass header.d=westbrook.edu; dmarc=pass header.from=westbrook.edu",
        b"mx.google.com; (((((", b"\x00\x00", b"=?utf-8?B?////?=", b"=?utf-8?Q?=FF=FE?=",
    ]),
)


@st.composite
def header_block(draw: st.DrawFn, newline: bytes) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        value = draw(HEADER_VALUES)
        if draw(st.booleans()):
            value = value.replace(b" ", newline + b"\t", 1)  # folded
        lines.append(draw(HEADER_NAMES) + b": " + value)
    return newline.join(lines)


@st.composite
def mime_entity(draw: st.DrawFn, depth: int = 0) -> bytes:
    newline = draw(NEWLINES)
    headers = draw(header_block(newline))
    if depth < 3 and draw(st.integers(0, depth + 1)) == 0:
        boundary = draw(st.binary(min_size=0, max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b))
        parts = draw(st.lists(mime_entity(depth + 1), max_size=4))
        content_type = b"Content-Type: multipart/%s; boundary=\"%s\"" % (
            draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"digest"])), boundary)
        body = b"".join(b"--" + boundary + newline + part + newline for part in parts)
        if draw(st.booleans()):
            body += b"--" + boundary + b"--" + newline  # a missing closing boundary is a common defect
        return newline.join([content_type, headers, b"", body])
    content_type = b"Content-Type: %s; charset=%s" % (
        draw(st.sampled_from([b"text/plain", b"text/html", b"message/rfc822", b"message/delivery-status",
                              b"application/pdf", b"text/calendar", b"bogus"])), draw(CHARSETS))
    encoding = b"Content-Transfer-Encoding: " + draw(ENCODINGS)
    body = draw(st.one_of(
        TEXTY,
        st.sampled_from([b"<html><body><p>We would like to go ahead<br>with the Small tier",
                         b"We would like to go ahead with the Medium tier at $3,000 per month.",
                         b"=E2=80=99=\r\n=ZZ", b"////\n====", b"begin 644 x\n`\nend\n",
                         b"> quoted\nOn Mon wrote:\n>x"]),
    ))
    return newline.join([content_type, encoding, headers, b"", body])


@st.composite
def message_bytes(draw: st.DrawFn) -> bytes:
    newline = draw(NEWLINES)
    # The entity's own Content-Type comes right after these, so that its MIME structure is what gets parsed.
    top = newline.join([b"From: " + draw(HEADER_VALUES), b"Message-ID: <" + draw(st.binary(max_size=20)) + b">"])
    return draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"From sender@x Tue Oct  6 15:00:00 2026\n", b"\n\n"])) \
        + top + newline + draw(mime_entity())


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(message_bytes())
def test_mime_shaped_bytes_never_raise(data: bytes) -> None:
    core(data)


# --- through the real pipeline ------------------------------------------------------------------


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    """The real pipeline over a fresh state dir, seeded with the example leads, forwarding into its outbox."""
    config = Config(state_dir=tmp_path / "state", leads_seed_csv=PROJECT_ROOT / "examples" / "leads.csv")
    return make_pipeline(open_runtime(config), dry_run=False)


TEMPLATE_SYNTAX = ("{{ 7*7 }}", "{% for x in y %}{% endfor %}", "{{ ''.__class__ }}")


def test_template_syntax_in_a_confirmation_stays_literal_in_the_forward(pipeline: Pipeline) -> None:
    body = ("Hi Sam,\n\nWe would like to go ahead with the Small tier at $1,500 per month.\n\n"
            "Our welcome page shows {{ 7*7 }} and {% for x in y %}{% endfor %} and {{ ''.__class__ }} "
            "literally.\n\nRaymond\n")
    raw = raw_email(sender="Raymond Ortiz <rortiz@pinecrest.edu>", subject="Re: Small tier {{ 7*7 }}", body=body,
                    message_id="tmpl1@pinecrest.edu",
                    headers={"Authentication-Results": "mx.google.com; dkim=pass header.i=@pinecrest.edu; "
                                                       "dmarc=pass header.from=pinecrest.edu"})
    evaluation = pipeline.process(RawItem(source="test", uid=1, data=raw))
    assert evaluation is not None and evaluation.classification.intent == "service_confirmation"
    forwards = sorted((pipeline.config.outbox_dir).glob("*.eml"))
    assert len(forwards) == 1
    forward = email.message_from_bytes(forwards[0].read_bytes(), policy=policy.default)
    assert forward["Subject"].endswith("Re: Small tier {{ 7*7 }}")
    note = next(part for part in forward.walk() if part.get_content_type() == "text/plain").get_content()
    for snippet in TEMPLATE_SYNTAX:
        assert snippet in note
    assert "49" not in note and "<class" not in note
    original = next(part for part in forward.walk() if part.get_content_type() == "message/rfc822")
    attached = original.get_payload()[0].get_content()
    assert all(snippet in attached for snippet in TEMPLATE_SYNTAX)


def recorded(pipeline: Pipeline, data: bytes) -> str:
    """'stored' or 'quarantined: <reason>' for `data`, from the database."""
    digest = hashlib.sha256(data).hexdigest()
    with pipeline.sessions() as session:
        quarantined = session.scalar(select(Quarantined).where(Quarantined.sha256 == digest))
        if quarantined is not None:
            assert quarantined.reason.strip()
            return f"quarantined: {quarantined.reason}"
        assert session.scalar(select(StoredMessage.id).where(StoredMessage.sha256 == digest)) is not None
        return "stored"


def process_bounded(pipeline: Pipeline, data: bytes, uid: int = 1) -> tuple[str, float, int]:
    """Process one item; (what was recorded, seconds, peak bytes allocated meanwhile)."""
    item = RawItem(source="hostile", uid=uid, data=data)
    tracemalloc.start()
    try:
        started = time.perf_counter()
        pipeline.process(item)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return recorded(pipeline, data), elapsed, peak


def head(*extra: bytes, message_id: bytes = b"<odd1@lakeside.edu>") -> bytes:
    return b"\r\n".join([
        b"From: Ada Park <ada@lakeside.edu>", b"To: partnerships@2i2c.org", b"Subject: Managed hub for our lab?",
        b"Date: Tue, 06 Oct 2026 15:00:00 +0000", b"Message-ID: " + message_id, *extra]) + b"\r\n"


def test_50_mb_message_is_quarantined_at_once(pipeline: Pipeline) -> None:
    data = head(b"") + b"We would like to go ahead with the Small tier.\r\n" * (50 * MiB // 48)
    assert len(data) > 50 * MiB
    outcome, elapsed, peak = process_bounded(pipeline, data)
    assert outcome == f"quarantined: message too large: {len(data)} bytes exceeds the limit of {25 * MiB} bytes"
    # The size is checked before any parsing: no copy of the input, no time spent on it.
    assert peak < 4 * MiB, peak
    assert elapsed < 2.0, elapsed
    started = time.perf_counter()
    with pytest.raises(MalformedMessage, match="too large"):
        parse(data)
    assert time.perf_counter() - started < 0.5


def many_parts(count: int) -> bytes:
    parts = [head(b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=\"part\"", b"")]
    part = b"--part\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPart %d of many.\r\n"
    parts += [part % i for i in range(count)]
    parts.append(b"--part--\r\n")
    return b"".join(parts)


def nul_headers() -> bytes:
    return head(b"X-Null: a\x00b", b"Cc: bob\x00@lakeside.edu, \x00", b"X-\x00\x00: value", b"",
                message_id=b"<nul\x00@lakeside.edu>").replace(b"Subject: Managed", b"Subject: Man\x00aged") \
        + b"Hello\x00 there, we would like to go ahead.\r\n"


def invalid_charsets() -> bytes:
    return head(
        b"Cc: =?x-bogus?B?Ym9i?= <bob@lakeside.edu>, =?utf-8?B?////?= <carol@lakeside.edu>",
        b"X-Words: =?utf-7?B?K/v/?= =?utf-8?Q?=FF=FE=00?= =?iso-2022-jp?B?GyRCJCIbKEI?= =?base64?B?QUJD?=",
        b"MIME-Version: 1.0", b"Content-Type: multipart/alternative; boundary=b", b"",
    ).replace(b"Subject: Managed hub", b"Subject: =?rot13?Q?Znantrq?= =?utf-16?B?2D3YPQ==?= hub") + b"\r\n".join([
        b"--b", b"Content-Type: text/plain; charset=\"x-does-not-exist\"", b"", b"caf\xe9 \xff\xfe",
        b"--b", b"Content-Type: text/plain; charset=utf-16", b"Content-Transfer-Encoding: base64", b"", b"2D3YPQ==",
        b"--b", b"Content-Type: text/html; charset=zlib_codec", b"", b"<p>\x80\x81\x82</p>",
        b"--b", b"Content-Type: text/plain; charset=unicode_escape", b"", b"\\N{BOGUS} \\x",
        b"--b--", b""])


def eight_bit_headers() -> bytes:
    return head(b"X-Latin1: caf\xe9 cr\xe8me", b"Cc: J\xc3\xb6rg M\xc3\xbcller <joerg@lakeside.edu>", b"",
                message_id=b"<\xc3\xa9t\xe9@lakeside.edu>").replace(
        b"From: Ada Park", b"From: \xc3\x81da P\xe1rk").replace(b"Subject: Managed", b"Subject: \xff\xfe Managed") \
        + b"Hello\r\n"


def long_header(name: bytes, value: bytes) -> bytes:
    data = head(name + b": " + value, b"") + b"Hello, could you tell us more?\r\n"
    return data.replace(b"Subject: Managed hub for our lab?\r\n", b"") if name == b"Subject" else data


ODD_INPUTS = {
    "10,000 MIME parts": many_parts(10_000),
    "NUL bytes in headers": nul_headers(),
    "invalid charsets in headers and bodies": invalid_charsets(),
    "8-bit headers": eight_bit_headers(),
    "1 MB X- header line": long_header(b"X-Long", b"a" * MiB),
    "1 MB Subject line": long_header(b"Subject", b"word " * (MiB // 5)),
    "1 MB From display name": head(b"").replace(b"Ada Park", b"a.b " * (MiB // 4)) + b"Hello\r\n",
    "1 MB To line": head(b"").replace(b"partnerships@2i2c.org",
                                      b", ".join(b"u%d@lakeside.edu" % i for i in range(MiB // 18))) + b"Hello\r\n",
    "1 MB References line": long_header(b"References", b" ".join(b"<r%d@lakeside.edu>" % i for i in range(MiB // 18))),
    "1 MB Authentication-Results": long_header(b"Authentication-Results",
                                               b"mx.google.com; " + b"dkim=pass header.d=lakeside.edu; " * (MiB // 33)),
    "header block without a body": head().rstrip(b"\r\n"),
}


@pytest.mark.parametrize("name", list(ODD_INPUTS))
def test_odd_input_is_recorded_within_bounds(pipeline: Pipeline, name: str) -> None:
    data = ODD_INPUTS[name]
    outcome, elapsed, peak = process_bounded(pipeline, data)
    assert outcome == "stored" or outcome.startswith("quarantined: ")
    assert elapsed < TIME_LIMIT, (name, elapsed)
    assert peak < memory_bound(len(data)), (name, peak, len(data))


def test_deeply_nested_multiparts_are_recorded(pipeline: Pipeline) -> None:
    # Deeper than the email package's recursion goes: quarantined as unparseable (RecursionError), not a crash.
    # Timed without tracemalloc: the parser checks every line against every enclosing boundary, and tracing
    # those allocations turns 0.4 s into 15 s.
    data = head(b"Content-Type: multipart/mixed; boundary=b0", b"") + b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1) for i in range(2000))
    started = time.perf_counter()
    pipeline.process(RawItem(source="hostile", uid=1, data=data))
    assert time.perf_counter() - started < 10.0
    outcome = recorded(pipeline, data)
    assert outcome == "stored" or outcome.startswith("quarantined: ")


def test_many_odd_inputs_in_one_run_keep_going(pipeline: Pipeline) -> None:
    # One bad message never stops the ones after it, and the cursor covers all of them.
    # Distinct Message-IDs: a repeated one would (rightly) count as a duplicate and not be stored again.
    odd = [data.replace(b"<odd1@", b"<odd%d@" % i) for i, data in enumerate(ODD_INPUTS.values())]
    items = [*odd, b"", b"\x00" * 100, b"not an email", head(b"", message_id=b"<last@lakeside.edu>")]
    for uid, data in enumerate(items, start=1):
        pipeline.process(RawItem(source="hostile", uid=uid, data=data))
    assert all(recorded(pipeline, data) for data in items)
    assert pipeline.cursor("hostile") == (None, len(items))


# --- shape limits: memory stays bounded for messages well under max_message_bytes ---------------------

_RSS_PROBE = textwrap.dedent("""
    import gc, json, re, sys, time
    from daemon.core.message import MalformedMessage, parse

    def peak_rss():
        # VmHWM belongs to this address space; ru_maxrss would carry over the parent's peak across fork + exec.
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\\s*(\\d+) kB", status.read()).group(1)) * 1024

    kind, size = sys.argv[1], int(sys.argv[2])
    head = b"From: a@lakeside.edu\\r\\nTo: partnerships@2i2c.org\\r\\nSubject: x\\r\\n"
    if kind == "html":
        data = head + b"Content-Type: text/html\\r\\n\\r\\n" + b"<p>Hello <b>there</b> text.</p>\\r\\n" * (size // 34)
    elif kind == "parts":
        data = head + b"Content-Type: multipart/mixed; boundary=b\\r\\n\\r\\n" + b"--b\\r\\n\\r\\n" * (size // 7)
    else:
        data = head + b"\\r\\n" + b"\\r\\n" * (size // 2)
    gc.collect()
    before = peak_rss()
    started = time.perf_counter()
    try:
        message = parse(data)
        outcome, full_text = "parsed", message.full_text
    except MalformedMessage as exc:
        outcome, full_text = f"quarantined: {exc.reason}", ""
    elapsed = time.perf_counter() - started
    grown = peak_rss() - before
    print(json.dumps({"size": len(data), "grown": grown, "seconds": elapsed, "outcome": outcome,
                      "text_head": full_text[:200], "text_tail": full_text[-200:]}))
""")


def rss_growth(kind: str, size: int) -> dict[str, Any]:
    """Peak RSS growth of parse() in a fresh interpreter: C allocations (lxml) count too, no tracemalloc slowdown."""
    result = subprocess.run([sys.executable, "-c", _RSS_PROBE, kind, str(size)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout)


def test_large_html_body_is_bounded() -> None:
    # At most 1 MB of HTML goes to inscriptis (~30x its input in memory); the text says where it was cut.
    measured = rss_growth("html", 6 * MiB)
    assert measured["outcome"] == "parsed", measured
    assert measured["text_head"].startswith("Hello there text."), measured
    assert measured["text_tail"].endswith(" characters were converted to text]"), measured
    assert "[HTML cut: only the first 999" in measured["text_tail"], measured
    assert measured["grown"] < memory_bound(int(measured["size"])), measured
    assert measured["seconds"] < 10.0, measured


def test_hundreds_of_thousands_of_mime_parts_are_bounded() -> None:
    # Counted on the raw bytes before the email package builds a Message per part.
    measured = rss_growth("parts", 3 * MiB)
    assert measured["outcome"] == "quarantined: too many MIME parts: 449389 lines start with '--' (limit 20000)", \
        measured
    assert measured["grown"] < memory_bound(int(measured["size"])), measured
    assert measured["seconds"] < 1.0, measured


def test_millions_of_empty_lines_are_bounded() -> None:
    measured = rss_growth("lines", 5 * MiB)
    assert measured["outcome"] == "quarantined: too many lines: 2621444 (limit 500000)", measured
    assert measured["grown"] < memory_bound(int(measured["size"])), measured
    assert measured["seconds"] < 1.0, measured


def quarantine_reason(data: bytes) -> str | None:
    try:
        parse(data)
    except MalformedMessage as exc:
        return exc.reason
    return None


def test_mime_part_limit_counts_every_line_that_starts_a_part() -> None:
    # 10,000 parts and their closing delimiter parse; 25,000 do not.
    message = parse(many_parts(10_000))
    assert message.full_text.count("of many.") == 10_000
    assert quarantine_reason(many_parts(25_000)) == "too many MIME parts: 25001 lines start with '--' (limit 20000)"
    # The email package also ends lines at a lone CR: delimiters after one count too.
    bare_cr = head(b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=b", b"") + b"--b\r\r" * 30_000
    assert quarantine_reason(bare_cr) == "too many MIME parts: 30000 lines start with '--' (limit 20000)"


def test_line_limit_counts_crlf_lf_and_lone_cr() -> None:
    body = b"x\r\n" * 200_000 + b"y\n" * 200_000 + b"z\r" * 200_000
    assert quarantine_reason(head(b"") + body) == "too many lines: 600006 (limit 500000)"
    assert quarantine_reason(head(b"") + body[: -200_000 * 2]) is None


def test_a_25_mb_base64_attachment_is_within_the_limits() -> None:
    # ~340,000 base64 lines of 76 characters: well under the line limit, and no line starts with "--".
    payload = bytes(range(256)) * (18_500_000 // 256)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    data = head(b"MIME-Version: 1.0", b"Content-Type: multipart/mixed; boundary=b", b"") + b"\r\n".join([
        b"--b", b"Content-Type: text/plain", b"", b"The signed contract is attached.",
        b"--b", b"Content-Type: application/pdf; name=contract.pdf", b"Content-Transfer-Encoding: base64", b"",
        encoded + b"--b--", b""])
    assert 24 * MiB < len(data) < 25 * MiB
    message = parse(data)
    assert message.attachments[0].size == len(payload)
    assert message.new_text == "The signed contract is attached."


# --- a charset label Python half-knows is ignored, not fatal -------------------------------------------

_ODD_LABEL_HEAD = b"From: Ada Park <ada@lakeside.edu>\r\nTo: partnerships@2i2c.org\r\nSubject: Re: Hub\r\n" \
                  b"Message-ID: <label@lakeside.edu>\r\nMIME-Version: 1.0\r\n"


# The stdlib raised for these (get_payload() decoding an 8-bit part with the label, codecs.lookup() on a NUL,
# idna/punycode rejecting errors="replace"), and the whole message was quarantined as "unparseable".
@pytest.mark.parametrize(("part", "text", "attachments"), [
    (b"Content-Type: text/csv; charset=punycode\r\nContent-Disposition: attachment; filename=a.csv\r\n\r\n\xe9",
     "", (Attachment("a.csv", "text/csv", 1),)),
    (b"Content-Type: text/plain; charset=idna\r\n\r\ncaf\xc3\xa9", "\ncaf\u00e9", ()),
    (b"Content-Type: text/plain; charset=\"utf-8\x00\"\r\nContent-Transfer-Encoding: base64\r\n\r\nY2Fmw6k=",
     "\ncaf\u00e9", ()),
    (b"Content-Type: text/plain; charset=punycode\r\nContent-Transfer-Encoding: base64\r\n\r\n6Q==", "\n\u00e9", ()),
], ids=["8-bit attachment labelled punycode", "8-bit text labelled idna", "label with a NUL",
        "base64 text labelled punycode"])
def test_an_unusable_charset_label_is_ignored_not_fatal(part: bytes, text: str, attachments: tuple) -> None:
    data = _ODD_LABEL_HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" \
        b"Content-Type: text/plain\r\n\r\nWe would like to go ahead with the Small tier at $1,500 per month.\r\n" \
        b"--b\r\n" + part + b"\r\n--b--\r\n"
    message = parse(data)
    # Decoded as if unlabelled: UTF-8 when it is valid, Latin-1 otherwise.
    assert message.full_text == "We would like to go ahead with the Small tier at $1,500 per month." + text
    assert "go ahead with the Small tier" in message.new_text
    assert message.attachments == attachments


# --- issue 15: one cleaning function, lookalikes, private state files --------------------------------------


def test_clean_strips_controls_bidi_and_caps() -> None:
    from daemon.core.sanitize import clean, csv_cell, for_terminal

    assert clean("Raymond\r\nCommunity: Evil\x1b[31m\u202eX\u200b", 300) == "Raymond Community: Evil [31m X"
    assert len(clean("x" * 200_000, 200)) == 200
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert for_terminal("a\x1b]0;t\x07\nb\u202e") == "a?]0;t?\nb?"


@pytest.mark.parametrize(("domain", "imitates"), [
    ("pinecrest-edu.com", True), ("pinecrrest.edu", True), ("plnecrest.edu", True), ("pinecrest.com", True),
    ("pinecrest.edu.evil.example", True), ("xn--pincrest-4jg.edu", True), ("p1necrest.edu", True),
    ("pinecrest.edu", False), ("cs.pinecrest.edu", False), ("lakeside.edu", False), ("riverbend.edu", False),
])
def test_lookalike_domains(domain: str, imitates: bool) -> None:
    from daemon.core.lookalike import imitated_domain

    assert (imitated_domain(domain, ["pinecrest.edu", "lakeside.edu"]) == "pinecrest.edu") is imitates


@pytest.mark.sqlite_only("the modes of the SQLite file and its -wal and -shm files")
def test_state_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    from sqlalchemy import text

    from daemon.filemodes import too_open
    from daemon.io.send import OutboxDirSender, Outgoing
    from daemon.service.lock import RunLock
    from daemon.state.models import make_engine

    old = os.umask(0o022)
    try:
        state = tmp_path / "state"
        state.mkdir(mode=0o755)  # as git checks out the repository's state/: narrowed to 0700
        engine = make_engine(state / "partnerships.sqlite3")
        with engine.begin() as connection:  # a write while open: SQLite has its -wal and -shm files now
            connection.execute(text("CREATE TABLE t (x)"))
            connection.execute(text("INSERT INTO t VALUES (1)"))
            files = sorted(p.name for p in state.iterdir())
            assert {"partnerships.sqlite3", "partnerships.sqlite3-wal", "partnerships.sqlite3-shm"} <= set(files)
            OutboxDirSender(state / "outbox").send(Outgoing("forward:k", "a@b", ("c@d",), b"x"))
            lock = RunLock(state).acquire()
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in state.rglob("*")}
            assert stat.S_IMODE(state.stat().st_mode) == 0o700
            assert all(mode == (0o700 if mode & 0o100 else 0o600) for mode in modes.values()), modes
            assert too_open(state) == []
            lock.release()
        engine.dispose()
    finally:
        os.umask(old)
    (state / "run.lock").chmod(0o644)
    assert [line.split(" is ")[1] for line in too_open(state)] == ["0644 (want 0600)"]
