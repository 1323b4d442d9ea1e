"""Tell machine-sent mail (bounces, auto-replies, receipts, list mail) from mail a person wrote."""

from __future__ import annotations

import base64
import contextlib
import quopri
import re

from daemon.core.message import Message

# Leading "[list-tag]" groups and reply/forward prefixes ("Re:", "AW:", "Fwd[2]:" ...).
_SUBJECT_TAGS = re.compile(r"^(?:\s*\[[^\]]{0,80}\])+\s*")
_REPLY_PREFIX = re.compile(
    r"^(?:re|fw|fwd|aw|wg|sv|vs|tr|rif|antw|doorst|enc|res|odp|ynt|r)\s*(?:\[\d+\]|\(\d+\))?\s*:",
    re.IGNORECASE,
)

# Subjects of non-delivery reports, at the start of the subject (so "Fw: Returned mail" is not one).
_BOUNCE_SUBJECT = re.compile(
    r"^(?:"
    r"undeliver(?:ed|able)\b"  # "Undelivered Mail Returned to Sender", "Undeliverable: x"
    r"|delivery status notification"
    r"|delivery (?:status )?notification\s*:\s*(?:delivery has )?fail"
    r"|delivery status(?:\s*notification)?\s*:"
    r"|delivery (?:failure|failed|report|has failed|error)"
    r"|(?:e-?mail|message|mail) delivery (?:failed|failure|error|status)"
    r"|mail delivery failed"
    r"|returned mail\s*:"
    r"|returned to sender"
    r"|failure notice"
    r"|mail system error"
    r"|non[- ]?deliver(?:y|able)"
    r"|message (?:not delivered|undeliverable|could not be delivered)"
    r"|could not send message"
    r"|postmaster notify"
    r"|notice: mail delivery status"
    r"|delayed mail\b"
    r"|warning: (?:could not send|message .* delayed)"
    r"|unzustellbar\s*:"
    r"|nicht zustellbar"
    r"|non remis\s*:"
    r"|onbestelbaar\s*:"
    r"|non recapitabile\s*:"
    r"|no se puede entregar\s*:"
    r")",
    re.IGNORECASE,
)
# Mail-system senders: local part of the From address, or its display name.
_BOUNCE_LOCAL_PART = re.compile(r"^(?:mailer-?daemon|mail-?daemon|post_?master|mail\.?delivery\.?system)$")
_BOUNCE_DISPLAY_NAME = re.compile(
    r"^(?:mail(?:er)?[- ]?daemon|mail delivery (?:subsystem|system|service)|postmaster"
    r"|mail administrator|mail ?system)\b",
    re.IGNORECASE,
)

# Out-of-office and automatic-reply subjects, matched after list tags are stripped.
_OOO_SUBJECT_START = re.compile(
    r"^(?:"
    r"out of (?:the )?office(?:\s+(?:auto-?reply|autoresponse|reply|notification|notice))?\s*:"
    r"|(?:automatic|auto)[- ]?(?:reply|response|respons|answer)\s*:"
    r"|autorespons\w*\s*:"
    r"|(?:absence|vacation|away)(?:\s+(?:notice|notification|message|reply|auto-?reply))?\s*:"
    r"|abwesenheitsnotiz\b"
    r"|abwesend\s*:"
    r"|automatische antwort\b"
    r"|r[ée]ponse automatique\b"
    r"|absence du bureau\b"
    r"|respuesta autom[áa]tica\b"
    r"|risposta automatica\b"
    r"|automatisch antwoord\b"
    r"|autosvar\b"
    r")",
    re.IGNORECASE,
)
# Lotus Notes: "<Name>/<Org> is out of the office."
_OOO_SUBJECT_END = re.compile(r"\bis out of (?:the )?office\.?\s*$", re.IGNORECASE)
# A subject that talks about absence at all; gates the body check on replies.
_ABSENCE_HINT = re.compile(r"out of (?:the )?office|absence|abwesen|vacation|auto-?reply", re.IGNORECASE)

_DATE = r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
# Lotus Notes' fixed template, with its numeric dates; hand-written notices do not use them.
_OOO_BODY = re.compile(
    rf"\bI will be out of the office starting\s+{_DATE}\s+and will not return until\s+{_DATE}",
    re.IGNORECASE,
)

# Non-delivery wording; only trusted from no-reply senders or alongside a returned message.
_NDR_BODY = re.compile(
    r"could not be delivered to"
    r"|following addresses had permanent fatal errors"
    r"|this is the mail system at host"
    r"|message could not be delivered"
    r"|delivery to the following recipients? (?:has )?failed"
    r"|delivery has failed to these recipients"
    r"|wasn't able to deliver your message"
    r"|this is a permanent error",
    re.IGNORECASE,
)
# RFC 3464 per-recipient fields, as found in a bounce that a person forwarded inline.
_DSN_FIELDS = re.compile(
    r"^[> \t]*Final-Recipient:.*\n(?:.*\n){0,6}?[> \t]*Action:\s*(?:failed|delayed)",
    re.IGNORECASE | re.MULTILINE,
)
_FORWARD_PREFIX = re.compile(r"^(?:fw|fwd|wg|tr|enc|rv|i)\s*(?:\[\d+\])?\s*:\s*", re.IGNORECASE)
_FORWARD_COMMENT_LIMIT = 200
# Amazon SES event JSON, bare or escaped inside an SNS envelope.
_SES_NOTIFICATION = re.compile(r'\\?"notificationType\\?"\s*:\s*\\?"(Bounce|Complaint|Delivery)\\?"')
_AMAZON_SENDER = re.compile(r"@(?:[\w.-]+\.)?(?:amazonses|amazonaws)\.com$")
_FEEDBACK_SUBJECT = re.compile(r"^(?:complaint about message from|abuse report\b)", re.IGNORECASE)
_NO_REPLY_LOCAL_PART = re.compile(r"^(?:no-?reply|do-?not-?reply|donotreply)\b")
# RFC 2369 and older list-manager headers.
_LIST_HEADERS = (
    "list-unsubscribe",
    "list-subscribe",
    "list-post",
    "list-help",
    "list-owner",
    "list-archive",
    "mailing-list",
    "x-mailing-list",
    "x-mlserver",
)

_READ_RECEIPT_SUBJECT = re.compile(r"^(?:read|gelesen|lu|le[íi]do|letto)\s*:", re.IGNORECASE)
_READ_RECEIPT_BODY = re.compile(r"\bwas read on\b|\bwurde am\b.{0,80}\bgelesen\b", re.IGNORECASE | re.DOTALL)
_RETURN_RECEIPT_SUBJECT = re.compile(r"^return receipt\b", re.IGNORECASE)
_RETURN_RECEIPT_BODY = re.compile(r"\bwas received by\b", re.IGNORECASE)

_REPORT_TYPE = re.compile(r"report-type\s*=\s*\"?\s*([\w.-]+)", re.IGNORECASE)
_PRECEDENCE = re.compile(r"^\s*(bulk|list|junk|auto[_-]?reply)\b", re.IGNORECASE)
_SUPPRESS_AUTOREPLY = re.compile(r"\b(?:all|oof|autoreply)\b", re.IGNORECASE)
_AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-auto-reply", "x-mail-autoreply")
_BODY_SCAN_LIMIT = 4000

# Ticket systems (RT, Zendesk, Freshdesk, Jira Service Management, Zammad, OTRS) acknowledge every message they
# receive, often without Auto-Submitted; answering them (or forwarding them) loops.
_TICKET_HEADER_PREFIXES = ("rt-ticket", "rt-originator", "x-rt-", "x-zendesk-", "x-freshdesk-", "x-jira-",
                           "x-zammad-", "x-otrs-", "x-helpdesk")
_TICKET_SUBJECT = re.compile(
    r"\[(?:request|ticket) received\]|\bticket received\b|\b(?:request|ticket|case) #?\s?\d+\b.{0,40}"
    r"\b(?:received|created|opened|logged)\b|\[(?:jira|rt|zammad)\b|\bticket#\d+|\[#\d+\]",
    re.IGNORECASE)
_TICKET_TEXT = re.compile(
    r"this is an? (?:automated|automatic|auto-generated|automatically generated) (?:response|reply|message|email"
    r"|notification)|##- ?please type your reply above this line ?-##|your (?:request|ticket|case) (?:\(?#?\s?\d+"
    r"\)? )?has been (?:received|created|opened|logged)|we(?:'ve| have) received your (?:request|ticket|email"
    r"|message)[^.\n]{0,60}(?:ticket|reference|case) (?:number|#|id)|please do not reply to this (?:e-?mail"
    r"|message)|(?:reply|respond) above this line",
    re.IGNORECASE)
_FIRST_LINES = 600
# The subject tag of our own forwards; mail carrying it talks about one of our forwards.
FORWARD_SUBJECT_TAG = "[partnerships]"
_OWN_MARKER_BYTES = b"x-partnerships-daemon"
_ECHO_SCAN_LIMIT = 2_000_000
_BASE64_BLOCK = re.compile(rb"(?:^[A-Za-z0-9+/]{16,76}={0,2}\r?\n){2,}", re.MULTILINE)


def detect_automated(
    msg: Message,
    *,
    own_marker_header: str = "x-partnerships-daemon",
    own_id_domain: str = "partnerships-daemon.invalid",
) -> str | None:
    """A short reason why `msg` was sent by a machine, or None when a person wrote it."""
    if msg.header(own_marker_header) or msg.message_id.lower().endswith("@" + own_id_domain.lower()):
        return "own message"

    # Bounces first: DSNs also carry Auto-Submitted and would otherwise pass for auto-replies.
    reason = _report_reason(msg)
    if reason:
        return reason
    subject = msg.subject.strip()
    bare_subject = _SUBJECT_TAGS.sub("", subject)
    is_reply = bool(_REPLY_PREFIX.match(bare_subject))
    if _is_mail_system_sender(msg):
        return "bounce: mail system sender"
    if not is_reply and _BOUNCE_SUBJECT.match(bare_subject):
        return "bounce: subject"
    reason = _body_report_reason(msg, bare_subject, is_reply)
    if reason:
        return reason

    for value in msg.header("auto-submitted"):
        keyword = value.split(";", 1)[0].strip().lower()
        if keyword and keyword != "no":
            return f"auto-submitted: {keyword}"
    for name in _AUTOREPLY_HEADERS:
        if msg.header(name):
            return f"auto-reply header ({name})"
    for value in msg.header("x-auto-response-suppress"):
        # Exchange stamps this on the auto-replies it generates, and ticket systems on their acknowledgements;
        # Outlook never sets it on a message a person writes.
        if _SUPPRESS_AUTOREPLY.search(value):
            return f"auto-response-suppress: {value.strip()[:40]}"
    # List mail is told by its headers alone: before the checks that read the text, which list mail never needs.
    if msg.header("list-id"):
        return "mailing list (List-Id)"
    for value in msg.header("precedence"):
        match = _PRECEDENCE.match(value)
        if match:
            return f"precedence: {match.group(1).lower()}"
    for name in _LIST_HEADERS:
        if msg.header(name):
            return f"mailing list ({_header_label(name)})"
    reason = _ticket_reason(msg, bare_subject)
    if reason:
        return reason

    if not is_reply:
        if _OOO_SUBJECT_START.match(bare_subject) or _OOO_SUBJECT_END.search(bare_subject):
            return "out-of-office: subject"
        # Receipts quote the original's To:/Subject:/Sent: lines, which new_text cuts away.
        receipt_text = msg.full_text[:_BODY_SCAN_LIMIT]
        if _READ_RECEIPT_SUBJECT.match(bare_subject) and _READ_RECEIPT_BODY.search(receipt_text):
            return "read receipt"
        if _RETURN_RECEIPT_SUBJECT.match(bare_subject) and _RETURN_RECEIPT_BODY.search(receipt_text):
            return "read receipt"
    if (not is_reply or _ABSENCE_HINT.search(subject)) and _OOO_BODY.search(_head(msg)):
        return "out-of-office: body"

    return None


def _header_label(name: str) -> str:
    return "-".join(word.capitalize() for word in name.split("-"))


def _head(msg: Message) -> str:
    # new_text, not full_text: a human reply quoting an auto-reply must not look like one.
    return msg.new_text[:_BODY_SCAN_LIMIT]


def _report_reason(msg: Message) -> str | None:
    """Reason from the MIME structure: multipart/report or report parts anywhere in the message."""
    report_type = ""
    if msg.content_type == "multipart/report":
        for value in msg.header("content-type"):
            match = _REPORT_TYPE.search(value)
            if match:
                report_type = match.group(1).lower()
                break
    part_types = {attachment.content_type for attachment in msg.attachments}
    part_types.add(msg.content_type)
    if report_type == "delivery-status" or "message/delivery-status" in part_types:
        return "bounce: delivery-status report"
    if report_type == "feedback-report" or "message/feedback-report" in part_types:
        return "feedback report"
    if report_type == "disposition-notification" or "message/disposition-notification" in part_types:
        return "read receipt"
    if msg.content_type == "multipart/report":
        return f"bounce: report ({report_type or 'unknown type'})"
    return None


def _body_report_reason(msg: Message, bare_subject: str, is_reply: bool) -> str | None:
    """Reports that only the body reveals: SES notifications, provider NDRs, forwarded DSNs."""
    head = msg.full_text[:_BODY_SCAN_LIMIT]
    sender = msg.from_addr or ""
    no_reply_sender = bool(_NO_REPLY_LOCAL_PART.match(sender))
    ses = _SES_NOTIFICATION.search(head) if no_reply_sender or _AMAZON_SENDER.search(sender) else None
    if ses:
        kind = ses.group(1)
        if kind == "Complaint":
            return "feedback report"
        return "bounce: Amazon SES notification" if kind == "Bounce" else "delivery report (Amazon SES)"
    if not is_reply and _FEEDBACK_SUBJECT.match(bare_subject):
        return "feedback report"
    if not is_reply and _NDR_BODY.search(head):
        returned = any(a.content_type == "message/rfc822" for a in msg.attachments)
        if returned or no_reply_sender:
            return "bounce: non-delivery text"
    forwarded = _FORWARD_PREFIX.match(bare_subject)
    if (
        forwarded
        and _BOUNCE_SUBJECT.match(bare_subject[forwarded.end() :])
        and len(msg.new_text) <= _FORWARD_COMMENT_LIMIT
        and _DSN_FIELDS.search(msg.full_text[:20_000])
    ):
        # A bounce passed on with at most a line of comment is still the bounce.
        return "bounce: forwarded delivery-status report"
    return None


def _is_mail_system_sender(msg: Message) -> bool:
    if msg.from_addr:
        local_part = msg.from_addr.rsplit("@", 1)[0] if "@" in msg.from_addr else msg.from_addr
        if _BOUNCE_LOCAL_PART.match(local_part):
            return True
    return bool(msg.from_name and _BOUNCE_DISPLAY_NAME.match(msg.from_name))


def _ticket_reason(msg: Message, bare_subject: str) -> str | None:
    """A ticket system's acknowledgement: its headers, its subject tags, or its wording in the first lines."""
    for name, _ in msg.headers:
        if name.startswith(_TICKET_HEADER_PREFIXES):
            return f"ticket system ({_header_label(name)[:40]})"
    if _TICKET_SUBJECT.search(bare_subject):
        return "ticket system: subject"
    if _TICKET_TEXT.search(msg.new_text[:_FIRST_LINES]) or _TICKET_TEXT.search(msg.full_text[:_FIRST_LINES]):
        return "ticket system: automated response"
    return None


def echoes_own_forward(msg: Message, raw: bytes, *, own_id_domain: str) -> str | None:
    """Why `msg` carries one of our own forwards (quoted, attached, or replying to it), or None.

    Forwarding such a message would make a loop: a ticket system or an auto-forwarder that sends our forward
    back creates one more forward per round. Looks at the subject tag, the referenced ids, the text and the
    raw bytes (an attached forward keeps our header and Message-ID domain)."""
    domain = own_id_domain.lower()
    if FORWARD_SUBJECT_TAG in msg.subject.lower():
        return f"loop: subject carries our forward tag {FORWARD_SUBJECT_TAG}"
    if any(ref.lower().endswith("@" + domain) for ref in (*msg.in_reply_to, *msg.references)):
        return "loop: replies to one of our forwards"
    text = msg.full_text[:_ECHO_SCAN_LIMIT].lower()
    if "x-partnerships-daemon" in text or "@" + domain in text or FORWARD_SUBJECT_TAG in text:
        return "loop: quotes one of our forwards"
    head = raw[:_ECHO_SCAN_LIMIT].lower()
    domain_bytes = b"@" + domain.encode("ascii", "replace")
    if _OWN_MARKER_BYTES in head or domain_bytes in head or _attached_forward(raw, domain_bytes):
        return "loop: attaches one of our forwards"
    return None


def _attached_forward(raw: bytes, domain_bytes: bytes) -> bool:
    """One of our forwards inside a base64 or quoted-printable part (an attached .eml is often re-encoded)."""
    if not raw or len(raw) > _ECHO_SCAN_LIMIT:
        return False
    markers = (_OWN_MARKER_BYTES, domain_bytes)
    for block in _BASE64_BLOCK.finditer(raw):
        with contextlib.suppress(ValueError):
            decoded = base64.b64decode(re.sub(rb"\s+", b"", block.group(0)), validate=False).lower()
            if any(marker in decoded for marker in markers):
                return True
    if b"=\n" in raw or b"=\r\n" in raw or b"=3d" in raw.lower():
        decoded = quopri.decodestring(raw).lower()
        return any(marker in decoded for marker in markers)
    return False
