"""Build forwards (note + original attached whole) and deliver them: into the outbox directory or over SMTP."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from daemon.core.sanitize import clean
from daemon.errors import ActionError
from daemon.filemodes import open_private, private_dir
from daemon.io.oauth import Login, PasswordLogin
from daemon.io.tokens import TokenError
from daemon.settings import Addresses, SmtpConfig

log = logging.getLogger("daemon.send")
DAEMON_HEADER = "X-Partnerships-Daemon"
KEY_HEADER = "X-Partnerships-Key"
_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")
MAX_SUBJECT_CHARS = 200
MAX_LINE_BYTES = 998  # RFC 5322 s.2.1.1
MAX_ID_CHARS = 250


def forward_message_id(key: str, addresses: Addresses) -> str:
    """Deterministic from the idempotency key: a resend is recognisable as the same message."""
    return f"fwd-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{addresses.daemon_id_domain}"


@dataclass(frozen=True)
class Outgoing:
    key: str
    sender: str
    recipients: tuple[str, ...]  # envelope recipients (To + Cc)
    data: bytes


def build_forward(*, key: str, subject: str, note: str, original: bytes, original_id: str,
                  addresses: Addresses, date: datetime) -> Outgoing:
    """The forward: a text/plain note and the original as an untouched message/rfc822 part.

    An original with a line longer than SMTP allows (998 characters, e.g. a 200 KB header a sender wrote) goes
    as a base64 file instead, byte for byte: copied as it is, every server would refuse the forward."""
    attached = _LINE_ENDINGS.sub(b"\r\n", original).rstrip(b"\r\n") + b"\r\n"
    if max(map(len, attached.split(b"\r\n"))) > MAX_LINE_BYTES:
        encoded = base64.encodebytes(original).replace(b"\n", b"\r\n")
        part = (b'Content-Type: application/octet-stream; name="original.eml"\r\n'
                b"Content-Transfer-Encoding: base64\r\n"
                b'Content-Disposition: attachment; filename="original.eml"\r\n\r\n' + encoded)
    else:
        part = (b"Content-Type: message/rfc822\r\n"
                b'Content-Disposition: attachment; filename="original.eml"\r\n\r\n' + attached)
    return compose(key=key, kind="forward", subject=subject, note=note, attachment=part, addresses=addresses,
                   date=date, references=original_id)


def build_invoice_batch(*, key: str, subject: str, body: str, csv_name: str, csv_data: bytes,
                        addresses: Addresses, date: datetime) -> Outgoing:
    """The month's batch: the rendered text and the line items as a CSV attachment."""
    part = EmailMessage(policy=policy.SMTP)
    part.set_content(csv_data, maintype="text", subtype="csv", disposition="attachment", filename=csv_name,
                     cte="base64")
    del part["MIME-Version"]
    return compose(key=key, kind="invoice", subject=subject, note=body, attachment=part.as_bytes(),
                   addresses=addresses, date=date)


def build_digest(*, key: str, subject: str, body: str, addresses: Addresses, date: datetime) -> Outgoing:
    """The weekly digest: text only, to the team's shared mailbox alone."""
    return compose(key=key, kind="digest", subject=subject, note=body, attachment=None, addresses=addresses,
                   date=date, to_operations=False)


def compose(*, key: str, kind: str, subject: str, note: str, attachment: bytes | None, addresses: Addresses,
            date: datetime, references: str | None = None, to_operations: bool = True) -> Outgoing:
    """A message To operations, Cc partnerships@ (or to partnerships@ alone), marked as ours (header and
    Message-ID) and as automatic, so it is never acted on when it comes back; multipart/mixed with an attachment."""
    head = EmailMessage(policy=policy.SMTP)
    head["From"] = f"partnerships-daemon <{addresses.partnerships}>"
    if to_operations:
        head["To"] = addresses.operations
        head["Cc"] = addresses.partnerships
    else:
        head["To"] = addresses.partnerships
    # Both may come from the original mail: one line each, capped, whatever the sender wrote.
    head["Subject"] = clean(subject, MAX_SUBJECT_CHARS)
    head["Date"] = format_datetime(date)
    head["Message-ID"] = f"<{forward_message_id(key, addresses)}>"
    if references:
        head["References"] = f"<{clean(references, MAX_ID_CHARS).replace(' ', '')}>"
    head["Auto-Submitted"] = "auto-generated"
    head[DAEMON_HEADER] = kind
    head[KEY_HEADER] = key
    note_part = EmailMessage(policy=policy.SMTP)
    note_part.set_content(note, charset="utf-8", cte="quoted-printable")
    del note_part["MIME-Version"]
    # Python folds "Subject: [partnerships] ..." before its first word, which readers see as a leading space;
    # RFC 5322 allows 998 characters, so fold only beyond that.
    header_policy = policy.SMTP.clone(max_line_length=998)
    recipients = (addresses.operations, addresses.partnerships) if to_operations else (addresses.partnerships,)
    if attachment is None:
        head["MIME-Version"] = "1.0"
        fields = [*head.items(), *note_part.items()]
        header_block = b"".join(header_policy.fold_binary(name, value) for name, value in fields)
        return Outgoing(key=key, sender=addresses.partnerships, recipients=recipients,
                        data=header_block + b"\r\n" + note_part.get_payload().encode("ascii"))
    boundary = "=_partnerships_" + hashlib.sha256(key.encode() + attachment).hexdigest()[:24]
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    header_block = b"".join(header_policy.fold_binary(name, value) for name, value in head.items())
    data = b"".join((
        header_block,
        b"\r\n",
        b"This is a multipart message in MIME format.\r\n",
        f"--{boundary}\r\n".encode(),
        note_part.as_bytes(),
        f"\r\n--{boundary}\r\n".encode(),
        attachment,
        f"\r\n--{boundary}--\r\n".encode(),
    ))
    return Outgoing(key=key, sender=addresses.partnerships, recipients=recipients, data=data)


Delivered = Callable[[str], None]


def _nothing(where: str) -> None:
    return None


class Sender(Protocol):
    def send(self, outgoing: Outgoing, delivered: Delivered = _nothing) -> str:
        """Deliver once per key; return where it went. Raise ActionError(retryable=...) on failure.

        `delivered(where)` runs the moment the message is out of our hands (the server's 250 to DATA),
        before any goodbye, so the caller can record it with the smallest possible window for a crash.
        """
        ...


class OutboxDirSender:
    """The embedded sender: each forward becomes one .eml file; an existing file means already sent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, key: str) -> Path:
        kind = re.sub(r"[^a-z_]", "", key.split(":", 1)[0]) or "message"
        return self.directory / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.eml"

    def send(self, outgoing: Outgoing, delivered: Delivered = _nothing) -> str:
        path = self.path_for(outgoing.key)
        if path.exists():
            return str(path)
        try:
            private_dir(self.directory)
            temporary = path.with_suffix(".tmp")
            with os.fdopen(open_private(temporary, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
                handle.write(outgoing.data)
                handle.flush()
                os.fsync(handle.fileno())
            # The rename is atomic: a crash leaves either no file or the whole file.
            os.replace(temporary, path)
        except OSError as exc:
            raise ActionError(f"cannot write {path}: {exc.strerror}", retryable=True) from exc
        delivered(str(path))
        return str(path)


class SmtpSender:
    """Delivers through an SMTP server; 4xx and connection trouble are retryable, 5xx are not."""

    def __init__(self, config: SmtpConfig, login: Login | str | None) -> None:
        self.config = config
        self._login = login if login is None or not isinstance(login, str) else PasswordLogin(login)

    def send(self, outgoing: Outgoing, delivered: Delivered = _nothing) -> str:
        server = self.config.server
        where = f"smtp://{server.host}:{server.port}"
        try:
            client = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            raise ActionError(f"SMTP {server.host}:{server.port}: cannot connect: {type(exc).__name__}: {exc}",
                              retryable=True) from exc
        try:
            client.ehlo()
            if server.tls == "starttls":
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if server.username:
                (self._login or PasswordLogin("")).smtp(client, server.username)
            refused = client.sendmail(self.config.envelope_from, list(outgoing.recipients), outgoing.data)
            # Recorded before QUIT: a crash while saying goodbye must not cause a second send.
            delivered(where)
            if refused:
                # Accepted for some recipients: retrying would duplicate it for the others.
                log.warning("smtp partially refused key=%s refused=%s", outgoing.key, refused)
        except smtplib.SMTPRecipientsRefused as exc:
            raise _refusal(exc.recipients) from exc
        except TokenError as exc:
            raise ActionError(f"SMTP {server.host}:{server.port}: {exc}", retryable=True) from exc
        except smtplib.SMTPResponseException as exc:
            reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            raise ActionError(f"SMTP {server.host}:{server.port} answered {reply}",
                              retryable=400 <= exc.smtp_code < 500) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise ActionError(f"SMTP {server.host}:{server.port}: {type(exc).__name__}: {exc}", retryable=True) from exc
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()
        return where

    def _connect(self) -> smtplib.SMTP:
        server = self.config.server
        if server.tls == "ssl":
            return smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(server.host, server.port, timeout=server.timeout)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _refusal(recipients: dict[str, tuple[int, bytes]]) -> ActionError:
    codes = [code for code, _ in recipients.values()]
    detail = "; ".join(f"{address}: {code} {_text(text)}" for address, (code, text) in recipients.items())
    return ActionError(f"SMTP refused every recipient: {detail}", retryable=all(400 <= c < 500 for c in codes))
