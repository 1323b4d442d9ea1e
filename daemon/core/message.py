"""Parse raw RFC 5322 bytes into a plain, immutable Message value (pure; no I/O)."""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email.parser
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as _EmailMessage
from functools import cached_property, lru_cache

from inscriptis import get_text as _html_to_text
from mailparser_reply.constants import (
    GENERIC_MAIL_SEPARATOR,
    MAIL_LANGUAGES,
    OUTLOOK_MAIL_SEPARATOR,
    QUOTED_MATCH_INCLUDE,
)
from mailparser_reply.parser import EmailMessage as _ReplyMessage
from mailparser_reply.parser import EmailReply as _ReplyPart


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str  # lower-case "type/subtype"
    size: int  # decoded payload size in bytes


@dataclass(frozen=True)
class Body:
    """A message's text parts as decoded, or its texts as given. What is derived from them (HTML converted to
    text, the sender's new text) is worked out on first use: half of a real mailbox is skipped (bounces, list
    mail) before anything reads it."""

    plain: tuple[str, ...] = ()
    html: tuple[str, ...] = ()
    full_text: str | None = None  # given instead of parts (a message built by hand)
    new_text: str | None = None

    @classmethod
    def of(cls, new_text: str, full_text: str | None = None) -> Body:
        """A body whose texts are given: `full_text` defaults to `new_text`."""
        return cls(full_text=new_text if full_text is None else full_text, new_text=new_text)


@dataclass(frozen=True)
class Message:
    message_id: str  # without angle brackets; synthesized "sha256-<hex>@synthetic.invalid" when missing
    subject: str  # RFC 2047-decoded, whitespace folded, "" when missing
    from_addr: str | None  # lower-cased addr-spec of the first From address
    from_name: str  # display name of the first From address, "" when none
    to: tuple[str, ...]  # lower-cased addr-specs
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None  # timezone-aware (UTC when the header has no zone); None when missing/invalid
    in_reply_to: tuple[str, ...]  # message ids without brackets
    references: tuple[str, ...]  # message ids without brackets, oldest first
    headers: tuple[tuple[str, str], ...]  # (lower-case name, decoded value) for every header, in order
    content_type: str  # top-level "type/subtype", lower-case
    body: Body  # its texts: see full_text and new_text
    attachments: tuple[Attachment, ...] = ()
    size: int = 0  # raw byte size
    defects: tuple[str, ...] = field(default=())  # names of email-package defects seen

    @cached_property
    def _text(self) -> tuple[str, str]:
        """(the whole text body, HTML converted to text; a note saying where a long HTML body was cut, or "")."""
        body = self.body
        if body.full_text is not None:
            return body.full_text, ""
        if body.plain:
            text, note = "\n".join(body.plain), ""
        elif body.html:
            text, note = _html_texts(list(body.html))
        else:
            text, note = "", ""
        return _LINE_ENDINGS.sub("\n", text), note

    @cached_property
    def full_text(self) -> str:
        """The whole text body (HTML converted to text)."""
        text, note = self._text
        return f"{text}\n{note}" if note else text  # the note is in the full text only: not the sender's words

    @cached_property
    def new_text(self) -> str:
        """What the sender wrote in this message: no quotes, forwarded history or signature."""
        if self.body.new_text is not None:
            return self.body.new_text
        return _new_text(self._text[0])

    def header(self, name: str) -> tuple[str, ...]:
        """All values of header `name` (case-insensitive), in order."""
        return self._by_name.get(name.lower(), ())

    @cached_property
    def _by_name(self) -> dict[str, tuple[str, ...]]:
        """Header values by lower-case name: a message is asked for some twenty headers, most of them absent."""
        grouped: dict[str, list[str]] = {}
        for key, value in self.headers:
            grouped.setdefault(key, []).append(value)
        return {key: tuple(values) for key, values in grouped.items()}

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.to + self.cc

    @property
    def participants(self) -> frozenset[str]:
        senders = (self.from_addr,) if self.from_addr else ()
        return frozenset(senders + self.to + self.cc + self.reply_to)


class MalformedMessage(Exception):
    """Raised by `parse` for input that cannot be treated as an email; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- module-level state: built once, shared by every parse() call -------------------------------

# compat32 never raises on header access and skips the (slow) header registry; headers are
# decoded below with code that tolerates every malformation seen in the corpus.
_PARSER = email.parser.BytesParser(policy=email.policy.compat32)

# Reply parsing is the costly part of a parse; cap its input (requirement: ~100 KB).
_REPLY_TEXT_LIMIT = 100_000
# inscriptis (lxml) needs ~30x its input in memory and ~0.7 s per MB: convert at most this many
# characters of HTML per message; the text says where it was cut.
_HTML_TEXT_LIMIT = 1_000_000

# Shape limits, checked on the raw bytes before the email package builds anything: it keeps one
# str per line (~80 bytes for an empty CRLF line) and one Message object per MIME part (~370 bytes
# for an empty one), so a few MB of either would cost GBs.  500,000 lines is 1.5x a 25 MB base64
# body (~340,000 lines of 76 characters) and 10x the longest message in the corpus; 20,000
# delimiter lines is 6x the most in the corpus (3,043), and ~10,000 parts cost ~4 MB.
_LINE_LIMIT = 500_000
_MIME_PART_LIMIT = 20_000  # must not exceed _LINE_LIMIT: _check_shape relies on it

# Headers whose presence marks the input as an email (or a MIME entity, which bounces and
# forwarded parts can be); without any of them the input is quarantined.
_KEY_HEADERS = frozenset(
    {
        "from",
        "date",
        "message-id",
        "subject",
        "to",
        "received",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)

_LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*(?:\r\n|\n|\r))+")
# A header field name (printable ASCII except ':'), or an mbox "From " separator line.
_FIRST_HEADER_LINE = re.compile(rb">?From |[!-9;-~]+[ \t]*:")

_OBSOLETE_HEADER_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_FOLDING = re.compile(r"[ \t]*(?:\r\n|\r|\n)[ \t]*")
_WHITESPACE = re.compile(r"\s+")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/]")
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_ADDR_SPEC = re.compile(r"[^\s<>,;:\"()\[\]]+@[^\s<>,;:\"()\[\]]+")
_ATEXT = r"[\w.!#$%&'*+/=?^`{|}~-]+"
_SIMPLE_ADDR_LIST = re.compile(
    rf"[ \t]*(?:{_ATEXT}@{_ATEXT}(?:[ \t]*,[ \t]*{_ATEXT}@{_ATEXT})*"
    rf"|([\w!#$%&'*+/=?^`{{|}}~ \t-]*)<({_ATEXT}@{_ATEXT})>)[ \t]*"
)
_ID_STRIP = "<>\"'()[],;: \t\r\n"

# Charset labels that Python does not know, or knows only as a narrower codec than mail uses.
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-e": "iso-8859-6",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-2022-jp": "iso2022_jp_ext",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
# Labels that promise ASCII but in practice carry UTF-8 or Latin-1: decode them by sniffing.
_SNIFF_CHARSETS = frozenset({"us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "x-unknown", "default"})
# Python text codecs that no mail is written in (domain-name encodings, and one that always raises):
# a part labelled with one of them is decoded as if unlabelled.
# Python codecs that are no mail charset: they reject "replace", or interpret the bytes as Python source escapes.
_NOT_MAIL_CODECS = frozenset({"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape",
                              "unicode_escape", "raw_unicode_escape"})

_HTML_TAG = re.compile(r"<(?:script|style)\b.*?</(?:script|style)\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_BLANK_RUNS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
# Long whitespace runs make the reply library's `\s*^...` patterns quadratic; a bounded run
# keeps the text readable and the regexes linear.
_LONG_SPACE_RUNS = re.compile(r"[ \t\u00a0]{33,}")
_LINE_ENDINGS = re.compile(r"\r\n?")

# --- reply/signature stripping ------------------------------------------------------------------


def _build_header_regex() -> re.Pattern[str]:
    r"""The library's reply-header regex with linear-time "On ... wrote:" / "Am ... schrieb" parts.

    The library's versions (`On\s(?:.+?\s?.+?)\s?wrote:`) backtrack quadratically: a single
    100 KB paragraph that starts with "On" took 110 s.  These match the same one- or two-line
    attributions in linear time; the Outlook "From:/Sent:" and "Original Message" parts are the
    library's own.
    """
    quote = QUOTED_MATCH_INCLUDE
    line = r"[^\n]*(?:\n[^\n]*)?"  # the rest of this line, optionally wrapped onto one more line
    wrote = [
        rf"^(?!On[.\s]*On\s)({quote}On\s{line}wrote:)$",
        # A lookahead for "schrieb" keeps this linear when a line holds many of them.
        rf"^({quote}Am\s(?={line}schrieb\s){line}:)$",
    ]
    from_headers = [MAIL_LANGUAGES[lang]["from_header"] for lang in _REPLY_LANGUAGES]
    return re.compile(
        "|".join([*wrote, *from_headers, f"({GENERIC_MAIL_SEPARATOR})"]),
        flags=re.MULTILINE | re.IGNORECASE,
    )


def _build_signature_regex() -> re.Pattern[str]:
    r"""The library's signature regex, except that a sign-off must fill its line.

    The library cuts at any line that merely starts with "Thanks," / "Best," / "regards," and so
    drops "Thanks, I will sign the contract today." and everything after it; here the sign-off
    may only be followed by punctuation and a name of at most three words.  Like the library's
    keep_hyphen_lists mode, "- item" lines are not signatures (the default would swallow
    bulleted lists).  The library's leading `\s*` (whitespace before the signature, stripped
    afterwards anyway) and `(.|\s)*` tail are dropped or replaced: they halve the search time.
    """
    languages = [MAIL_LANGUAGES[lang] for lang in _REPLY_LANGUAGES]
    sent_from = "|".join(language["sent_from"] for language in languages if language.get("sent_from"))
    signoffs = "|".join(p for language in languages for p in language.get("signatures", []))
    quote = QUOTED_MATCH_INCLUDE
    name = r"[\w.'’&-]+"
    return re.compile(
        rf"((^{quote}[-_]{{2}}\n.*|{OUTLOOK_MAIL_SEPARATOR}|"
        rf"^{quote}(?:{sent_from}) ?(?:(?:[\w.<>:// ]+)|(?:\w+ ){{1,3}})$|"
        rf"(?<!\A)^{quote}(?:{signoffs})(?!\w)[,.!:;-]*"
        rf"(?:[ \t]*{name}(?:[ \t]+{name}){{0,2}})?[ \t]*$)[\s\S]*)",
        flags=re.MULTILINE | re.IGNORECASE,
    )


_REPLY_LANGUAGES = ["de", "en"]  # contains "en" so the library does not mutate it per call
# The library compiles its regexes per message; build them once and hand them to every instance.
_REPLY_HEADER_RE = _build_header_regex()
_REPLY_SIGNATURE_RE = _build_signature_regex()
_REPLY_DISCLAIMER_RE = _ReplyMessage(text="", languages=list(_REPLY_LANGUAGES)).DISCLAIMERS_REGEX

# Markers the library does not split on: forwarded history, Lotus Notes forwards, and
# "<anyone> wrote:" attributions that are not in its "On ... wrote:" form.
_FORWARD_MARKER = re.compile(
    r"^[ \t>]*(?:"
    r"-{2,}[ \t]*(?:Forwarded message|Weitergeleitete Nachricht|Message transféré|Mensaje reenviado)"
    r"|-{2,}[ \t]*Original Message[ \t]*-{2,}"
    r"|-{2,}[ \t]*Urspr(?:ü|ue)ngliche Nachricht[ \t]*-{2,}"
    r"|Begin forwarded message:"
    r"|Anfang der weitergeleiteten Nachricht:"
    r"|-{3,}[ \t]*Forwarded by\b"
    r"|-{3,}[ \t]*Weitergeleitet von\b"
    r")",
    re.MULTILINE | re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r"^(?:[^\n>]{0,300}\b(?:wrote|writes|schrieb|escribió|a écrit|ha scritto|schreef):?"
    r"|From:[^\n]{1,300})[ \t]*\n(?:[ \t]*\n)*[ \t]*>",
    re.MULTILINE | re.IGNORECASE,
)
# Mailing-list footers: a rule line followed within a few lines by list boilerplate.
_LIST_FOOTER = re.compile(
    r"^[ \t]*[-_=*]{20,}[ \t]*\n(?:[^\n]*\n){0,3}?[^\n]*"
    r"(?:mailing list|unsubscribe|listinfo|sponsored by|list-request)",
    re.MULTILINE | re.IGNORECASE,
)
_QUOTED_LINE_START = re.compile(r"\n[ \t]*>")
_QUOTED_LINE = re.compile(r"^[ \t]*>.*(?:\n|$)", re.MULTILINE)
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
# Lotus Notes reply headers start with "Name@Org" / "Name/Org/..." and a date line before the
# "To: / cc: / Subject:" block that the library cuts at; those two lines would otherwise remain.
_LOTUS_DATE_LINE = re.compile(r"\d{1,2}/\d{1,2}/\d{2,4}[ \t]+\d{1,2}:\d{2}(?::\d{2})?[ \t]*(?:[AP]M)?", re.IGNORECASE)


def parse(raw: bytes, *, max_size: int = 25 * 1024 * 1024) -> Message:
    """Parse raw bytes into a Message; raise MalformedMessage (and nothing else) for unusable input."""
    try:
        return _parse(raw, max_size)
    except MalformedMessage:
        raise
    except Exception as e:  # the contract is that nothing but MalformedMessage escapes
        raise MalformedMessage(f"unparseable: {type(e).__name__}: {e}") from e


def _parse(raw: bytes, max_size: int) -> Message:
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    size = len(raw)
    if size > max_size:
        raise MalformedMessage(f"message too large: {size} bytes exceeds the limit of {max_size} bytes")
    if not raw.strip():
        raise MalformedMessage("empty message")

    data = raw
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # old Mac line endings
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    blank = _LEADING_BLANK_LINES.match(data)
    if blank:
        data = data[blank.end() :]
    if not _FIRST_HEADER_LINE.match(data):
        raise MalformedMessage("not an email: no header block")
    data = _fix_obsolete_header_names(data)
    _check_shape(data)

    msg = _PARSER.parsebytes(data)
    headers: list[tuple[str, str]] = []
    # Undecoded (but unfolded, 8-bit-decoded) values: addresses must be split before RFC 2047
    # decoding, or an encoded comma in a display name would split one address in two.
    raw_by_name: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        key = str(name).strip().lower()
        text, decoded = _decode_header(value)
        headers.append((key, decoded))
        raw_by_name.setdefault(key, []).append(text)
    if not raw_by_name.keys() & _KEY_HEADERS:
        raise MalformedMessage("not an email: no From, Date, Message-ID, Subject, To, Received or MIME header")

    message_ids = _message_ids(raw_by_name.get("message-id", ()), bare_token_ok=True)
    message_id = message_ids[0] if message_ids else _synthetic_id(raw)

    from_pairs = _addresses(raw_by_name.get("from", ())[:1])
    from_name, from_addr = from_pairs[0] if from_pairs else ("", "")

    subject = next((value for name, value in headers if name == "subject"), "")
    subject = _WHITESPACE.sub(" ", subject).strip()

    plain, html, attachments, defects = _walk(msg)
    return Message(
        message_id=message_id,
        subject=subject,
        from_addr=from_addr or None,
        from_name=from_name,
        to=tuple(addr for _, addr in _addresses(raw_by_name.get("to", ())) if addr),
        cc=tuple(addr for _, addr in _addresses(raw_by_name.get("cc", ())) if addr),
        reply_to=tuple(addr for _, addr in _addresses(raw_by_name.get("reply-to", ())) if addr),
        date=_parse_date(raw_by_name.get("date", ())),
        in_reply_to=_message_ids(raw_by_name.get("in-reply-to", ())),
        references=_message_ids(raw_by_name.get("references", ())),
        headers=tuple(headers),
        content_type=msg.get_content_type(),
        body=Body(tuple(plain), tuple(html)),
        attachments=tuple(attachments),
        size=size,
        defects=tuple(defects),
    )


def _check_shape(data: bytes) -> None:
    """Quarantine input whose MIME part or line count would make the email package's parse huge.

    Counted with bytes.count (no copies, a few ms per MB): every line that starts with "--" (an
    upper bound on the parts: the parser looks for delimiters only at the start of a line), and
    every line the parser splits off at CRLF, LF or a lone CR.
    """
    lf = data.count(b"\n")
    cr = data.count(b"\r")
    if lf + cr <= _MIME_PART_LIMIT:  # the common case: neither count can be over its limit
        return
    delimiters = data.count(b"\n--") + data.count(b"\r--")  # "\r\n--" counts once
    if delimiters > _MIME_PART_LIMIT:
        raise MalformedMessage(f"too many MIME parts: {delimiters} lines start with '--' (limit {_MIME_PART_LIMIT})")
    if lf + cr > _LINE_LIMIT:
        lines = lf + cr - data.count(b"\r\n")
        if lines > _LINE_LIMIT:
            raise MalformedMessage(f"too many lines: {lines} (limit {_LINE_LIMIT})")


def _fix_obsolete_header_names(data: bytes) -> bytes:
    """Remove the whitespace RFC 5322 obs-syntax allows before a header colon ("Subject  : x").

    The email package would otherwise end the header block at such a line.
    """
    end = data.find(b"\n\n")
    # Only a CRLF blank line before the LF one counts: no need to look past it.
    crlf_end = data.find(b"\r\n\r\n", 0, len(data) if end < 0 else end + 3)
    if end < 0 or 0 <= crlf_end < end:
        end = crlf_end
    head = data if end < 0 else data[:end]
    if (b" :" not in head and b"\t:" not in head) or not _OBSOLETE_HEADER_NAME.search(head):
        return data
    return _OBSOLETE_HEADER_NAME.sub(rb"\1:", head) + (b"" if end < 0 else data[end:])


def _synthetic_id(raw: bytes) -> str:
    return f"sha256-{hashlib.sha256(raw).hexdigest()[:32]}@synthetic.invalid"


# --- headers ------------------------------------------------------------------------------------


def _header_text(value: object) -> str:
    """A raw header value as str: 8-bit bytes decoded as UTF-8 (RFC 6532) or Latin-1, unfolded."""
    text = value if isinstance(value, str) else str(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # compat32 smuggles undecodable 8-bit bytes through as surrogate escapes.
            data = text.encode("utf-8", "surrogateescape")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("latin-1")
    if "\n" in text or "\r" in text:
        text = _FOLDING.sub(" ", text)
    return text.strip()


def _decode_header(value: object) -> tuple[str, str]:
    """(unfolded raw text, RFC 2047-decoded text) of one header value."""
    if isinstance(value, str) and value.isascii() and "\n" not in value and "\r" not in value \
            and "=?" not in value:
        text = value.strip()  # most headers: nothing to unfold or decode
        return text, text
    try:
        text = _header_text(value)
        return text, _decode_words(text)
    except Exception:  # a bad header must not cost the whole message
        text = str(value).encode("utf-8", "replace").decode("utf-8", "replace")
        return text, text


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded-words, joining adjacent words so split multi-byte chars survive."""
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        charset = match.group(1).split("*", 1)[0].lower()
        word = _decode_word_bytes(match.group(2), match.group(3))
        if word is None:  # undecodable: keep it literally
            if pending:
                out.append(_decode_bytes(bytes(pending), pending_charset))
                pending.clear()
            out.append(between + match.group(0))
            pos = match.end()
            continue
        # Whitespace between two encoded-words is not part of the text (RFC 2047 section 6.2).
        if not (pending and (not between or between.isspace())):
            if pending:
                out.append(_decode_bytes(bytes(pending), pending_charset))
                pending.clear()
            out.append(between)
        elif charset != pending_charset:
            out.append(_decode_bytes(bytes(pending), pending_charset))
            pending.clear()
        pending_charset = charset
        pending += word
        pos = match.end()
    if pending:
        out.append(_decode_bytes(bytes(pending), pending_charset))
    out.append(text[pos:])
    return "".join(out)


def _decode_word_bytes(encoding: str, payload: str) -> bytes | None:
    if encoding in "qQ":
        return binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"), header=True)
    cleaned = _BASE64_JUNK.sub("", payload)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return None


def _addresses(values: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(decoded display name, lower-cased addr-spec) pairs; bare display names get an empty addr."""
    result: list[tuple[str, str]] = []
    for value in values:
        if not value:
            continue
        if "@" not in value and "<" not in value and len(value.split()) > 1:
            # "From: Mail Delivery Subsystem": getaddresses would return "mail" as the address.
            result.append((_decode_words(value).strip(), ""))
            continue
        simple = _SIMPLE_ADDR_LIST.fullmatch(value)
        if simple:
            # Fast path for the common "a@b, c@d" and "Name <a@b>" forms (same result, 10x faster).
            if simple.group(2):
                pairs = [(" ".join(simple.group(1).split()), simple.group(2))]
            else:
                pairs = [("", addr.strip()) for addr in value.split(",") if addr.strip()]
            for name, addr in pairs:
                result.append((_decode_words(name) if name else "", addr.lower()))
            continue
        try:
            pairs = email.utils.getaddresses([value])
        except Exception:
            # _parseaddr recurses once per "." in obsolete phrases and overflows the stack on
            # huge headers (mimekit stack-overflow.eml); fall back to bare addr-specs.
            pairs = [("", addr) for addr in _ADDR_SPEC.findall(value)]
        for name, addr in pairs:
            addr = addr.strip().lower()
            name = _decode_words(name).strip() if name else ""
            if addr or name:
                result.append((name, addr))
    return result


def _message_ids(values: list[str] | tuple[str, ...], *, bare_token_ok: bool = False) -> tuple[str, ...]:
    ids: list[str] = []
    for value in values:
        found = [token.strip() for token in _ANGLE_ID.findall(value)]
        found = [token for token in found if token and not any(c.isspace() for c in token)]
        if not found:
            tokens = [token.strip(_ID_STRIP) for token in value.split()]
            found = [token for token in tokens if "@" in token]
            if not found and bare_token_ok and len(tokens) == 1 and tokens[0]:
                found = tokens  # a Message-ID without "@" is still what others will reference
        ids.extend(found)
    return tuple(dict.fromkeys(ids))


def _parse_date(values: list[str] | tuple[str, ...]) -> datetime | None:
    if not values:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(values[0])
    except Exception:  # TypeError/ValueError/OverflowError/IndexError all occur
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- body ---------------------------------------------------------------------------------------


def _walk(msg: _EmailMessage) -> tuple[list[str], list[str], list[Attachment], list[str]]:
    """Collect plain and HTML body texts, attachments and defect names, without recursion."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    defects: dict[str, None] = {}
    # (part, enclosed): enclosed parts belong to an attached message and only add defects.
    stack: list[tuple[_EmailMessage, bool]] = [(msg, False)]
    while stack:
        part, enclosed = stack.pop()
        for defect in getattr(part, "defects", ()):
            defects[type(defect).__name__] = None
        ctype = part.get_content_type()
        if part.is_multipart():
            # Only a multipart's payload (its list of parts) is fetched here: for a leaf part,
            # get_payload() would decode 8-bit text with the part's charset label, only to throw
            # the copy away, and raise for labels such as "idna" or "utf-8\x00".
            children = [(child, enclosed) for child in part.get_payload() if isinstance(child, _EmailMessage)]
            if ctype.startswith("message/"):
                if not enclosed:
                    size = _enclosed_size(children)
                    attachments.append(Attachment(_filename(part), ctype, size))
                children = [(child, True) for child, _ in children]
            stack.extend(reversed(children))
            continue
        if enclosed:
            continue
        disposition = _disposition(part)
        filename = _filename(part)
        maintype = ctype.split("/", 1)[0]
        if disposition == "attachment" or (
            disposition != "inline" and (filename or maintype not in ("text", "multipart"))
        ):
            attachments.append(Attachment(filename, ctype, _payload_size(part)))
        elif ctype == "text/html":
            html.append(_part_text(part))
        elif ctype == "text/plain" or maintype == "multipart":
            # A multipart without a usable boundary arrives as one text blob; keep its text.
            plain.append(_part_text(part))
    return plain, html, attachments, list(defects)


def _enclosed_size(children: list[tuple[_EmailMessage, bool]]) -> int:
    """The size of an attached message as it arrived, from its parts' lengths: serialising it again just to
    measure it cost a sixth of the parse time."""
    total = 0
    stack = [child for child, _ in children]
    while stack:
        part = stack.pop()
        total += sum(len(name) + len(str(value)) + 3 for name, value in part._headers)
        payload = part._payload  # as stored: never decoded or re-folded here
        if isinstance(payload, list):
            stack.extend(child for child in payload if isinstance(child, _EmailMessage))
        elif isinstance(payload, str | bytes):
            total += len(payload)
    return total


# Every ASCII byte that is not of the base64 alphabet (non-ASCII characters are dropped when encoding).
_BASE64_NOISE = bytes(b for b in range(128)
                      if not (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "+/")))


def _payload_size(part: _EmailMessage) -> int:
    """The decoded size of an attachment without decoding it: exact for base64 (the common case), the stored
    length otherwise."""
    payload = part._payload
    if not isinstance(payload, str):
        return len(payload) if isinstance(payload, bytes) else 0
    if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
        # bytes.translate deletes in one C loop: a regex substitution over megabytes of base64 cost a tenth of
        # the parse of mail with attachments
        return len(payload.encode("ascii", "ignore").translate(None, _BASE64_NOISE)) * 3 // 4
    return len(payload)


def _disposition(part: _EmailMessage) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: _EmailMessage) -> str | None:
    # get_filename parses every parameter of two headers; most parts have neither filename= nor name=.
    if not any("name" in str(value).lower() for key, value in part._headers
               if key.lower() in ("content-disposition", "content-type")):
        return None
    try:
        name = part.get_filename()
    except Exception:  # malformed RFC 2231 parameters
        return None
    if not name:
        return None
    return _decode_words(_header_text(name)) or None


def _part_text(part: _EmailMessage) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return _decode_bytes(data, charset)


def _decode_bytes(data: bytes, charset: str | None) -> str:
    codec = _codec(charset) if charset else None
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            # Mislabelled UTF-8 is the most common cause; it decodes cleanly or not at all.
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                pass
            # Outside the handler above: a codec may reject errors="replace" too (punycode does).
            with contextlib.suppress(Exception):
                return data.decode(codec, errors="replace")
            return data.decode("latin-1")
        except Exception:  # some codecs raise other errors on junk (e.g. utf-7)
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@lru_cache(maxsize=256)
def _codec(charset: str) -> str | None:
    """Python codec name for a MIME charset label, or None when the label is unknown or unusable."""
    label = charset.strip().strip("\"'").lower()
    if label in _SNIFF_CHARSETS:
        return None
    label = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    # bytes.decode() refuses non-text codecs such as base64_codec or rot13.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_MAIL_CODECS:
        return None
    return info.name


def _html_texts(parts: list[str]) -> tuple[str, str]:
    """(text of the HTML parts, a note saying where it was cut or ""), converting at most _HTML_TEXT_LIMIT chars."""
    budget = _HTML_TEXT_LIMIT
    texts: list[str] = []
    for html in parts:
        if len(html) > budget:
            # Cut after a tag when there is one near the limit, so that no tag is split in two.
            cut = html.rfind(">", max(budget - 10_000, 0), budget) + 1 or budget
            if cut:
                texts.append(_html_text(html[:cut]))
            converted = _HTML_TEXT_LIMIT - budget + cut
            total = sum(len(part) for part in parts)
            note = f"[HTML cut: only the first {converted} of {total} characters were converted to text]"
            return "\n".join(texts), note
        texts.append(_html_text(html))
        budget -= len(html)
    return "\n".join(texts), ""


def _html_text(html: str) -> str:
    try:
        return _html_to_text(html)
    except Exception:  # lxml rejects some inputs; deep nesting can recurse too far
        return _WHITESPACE.sub(" ", _HTML_TAG.sub(" ", html)).strip()


# --- new text -----------------------------------------------------------------------------------


def _new_text(full_text: str) -> str:
    text = _own_text(full_text)
    # The library is third-party code: if it fails, our own cuts still stand.
    with contextlib.suppress(Exception):
        text = _library_reply(text).body
    match = _SIGNATURE_DELIMITER.search(text)
    if match:
        text = text[: match.start()]
    text = _drop_lotus_trailer(text.rstrip())
    return _BLANK_RUNS.sub("\n\n", text).strip()


def signature_text(full_text: str) -> str:
    """The signature block the sender put under this message (from its sign-off or `--` line on), which
    `new_text` leaves out; never a quoted or forwarded message's. "" when the text has no recognisable one (a
    signature without a sign-off stays at the end of `new_text`)."""
    text = _own_text(full_text)
    if not text:
        return ""
    try:
        reply = _library_reply(text)
    except Exception:  # third-party code: without it, only the "-- " delimiter marks a signature
        reply = None
    if reply is not None and reply.signatures:
        return reply.signatures
    body = reply.body if reply is not None else text
    match = _SIGNATURE_DELIMITER.search(body)
    return body[match.end():].strip() if match else ""


def _own_text(full_text: str) -> str:
    """The text with forwarded history, list footers and quoted lines cut (bounded in size and blank runs)."""
    if not full_text.strip():
        return ""
    text = full_text[:_REPLY_TEXT_LIMIT]
    if len(full_text) > _REPLY_TEXT_LIMIT:
        cut = text.rfind("\n")
        if cut > 0:
            text = text[:cut]
    if "\t" in text or "\u00a0" in text or " " * 33 in text:  # else no run can be that long: skip the scan
        text = _LONG_SPACE_RUNS.sub(" " * 32, text)
    text = _BLANK_RUNS.sub("\n\n", text)
    text = _cut_at_history(text)
    return _QUOTED_LINE.sub("", text)


def _drop_lotus_trailer(text: str) -> str:
    lines = text.rsplit("\n", 2)
    if len(lines) < 2 or not _LOTUS_DATE_LINE.fullmatch(lines[-1].strip()):
        return text
    lines.pop()
    sender = lines[-1].strip()
    if len(lines) > 1 and len(sender) <= 120 and ("@" in sender or "/" in sender):
        lines.pop()
    return "\n".join(lines)


def _cut_at_history(text: str) -> str:
    """Cut at forwarded history, list footers and attributions the reply library misses.

    An attribution with nothing written above it starts a bottom-posted or interleaved reply:
    only its line goes (the quoted lines are removed later) and the answers below are kept.
    """
    end = len(text)
    for pattern in (_FORWARD_MARKER, _LIST_FOOTER):
        match = pattern.search(text, 0, end)
        if match:
            end = match.start()
    text = text[:end]
    # An attribution is followed by a quoted line: text without one needs no scan for it.
    match = _ATTRIBUTION.search(text) if _QUOTED_LINE_START.search(text) else None
    if match is None:
        return text
    if text[: match.start()].strip():
        return text[: match.start()]
    line_end = text.find("\n", match.start())
    return text[line_end + 1 :]


@dataclass(frozen=True)
class _Reply:
    body: str  # what the sender wrote, without signature and disclaimers
    signatures: str  # the signature block the library found ("" when none)


def _library_reply(text: str) -> _Reply:
    """The first reply of `text` as the library splits it (what the sender wrote above the first quoted
    header), without its signature and disclaimers.

    The library's `read()` splits the whole history and strips the signature and disclaimers of every reply in
    it; only the first reply is ever read, so only it is processed here (the same result in half the time)."""
    message = _ReplyMessage(
        text=text,
        languages=list(_REPLY_LANGUAGES),
        _header_regex=_REPLY_HEADER_RE,
        _signature_regex=_REPLY_SIGNATURE_RE,
        _disclaimers_regex=_REPLY_DISCLAIMER_RE,
    )  # normalises the text (line endings, stripped lines, Outlook separators)
    normalized = message.text
    header = _first_reply_header(normalized)
    content = normalized if header is None else normalized[: normalized.find(header)]
    if header is not None and not content.strip():
        # The text opened with a quoted header: the sender wrote nothing above the history.
        return _Reply("", "")
    disclaimers, signatures = message._process_signatures_disclaimers(content)
    first = _ReplyPart(content=content, signatures=signatures, disclaimers=disclaimers)
    return _Reply(first.body, first.signatures or "")


# Words one of the library's reply headers cannot do without ("On ... wrote:", "Am ... schrieb", two lines of
# "From:"/"To:"..., "Original Message"), case-folded: a text holding none has no header, and the header regex
# (which tries every position of the text) need not run.
_HEADER_WORDS = ("wrote:", "schrieb", "original message", "from:", "sent:", "to:", "subject:", "date:", "cc:",
                 "organization:", "von:", "gesendet:", "an:", "betreff:", "datum:", "organisation:")


def _first_reply_header(text: str) -> str | None:
    """The first reply header the library would split `text` at, or None."""
    folded = text.casefold()
    if not folded.isascii():  # the regex engine takes dotted and dotless I for i; casefold does not
        folded = folded.replace("\u0307", "").replace("\u0131", "i")
    if not any(word in folded for word in _HEADER_WORDS):
        return None
    for match in _REPLY_HEADER_RE.finditer(text):
        found = next((group for group in match.groups() if group), None)
        if found:
            return found
    return None
