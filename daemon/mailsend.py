"""Build forwards (note + original attached whole) and hand them to a sender: the outbox directory for now."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol

from daemon.config import Addresses
from daemon.errors import ActionError

DAEMON_HEADER = "X-Partnerships-Daemon"
KEY_HEADER = "X-Partnerships-Key"
_LINE_ENDINGS = re.compile(rb"\r\n|\r|\n")


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
    """The forward as bytes: a text/plain note and the original as an untouched message/rfc822 part."""
    head = EmailMessage(policy=policy.SMTP)
    head["From"] = f"partnerships-daemon <{addresses.partnerships}>"
    head["To"] = addresses.operations
    head["Cc"] = addresses.partnerships
    head["Subject"] = subject
    head["Date"] = format_datetime(date)
    head["Message-ID"] = f"<{forward_message_id(key, addresses)}>"
    head["References"] = f"<{original_id}>"
    head["Auto-Submitted"] = "auto-generated"
    head[DAEMON_HEADER] = "forward"
    head[KEY_HEADER] = key
    note_part = EmailMessage(policy=policy.SMTP)
    note_part.set_content(note, charset="utf-8", cte="quoted-printable")
    attached = _LINE_ENDINGS.sub(b"\r\n", original).rstrip(b"\r\n") + b"\r\n"
    boundary = "=_partnerships_" + hashlib.sha256(key.encode() + attached).hexdigest()[:24]
    head["MIME-Version"] = "1.0"
    head["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    del note_part["MIME-Version"]
    header_block = b"".join(policy.SMTP.fold_binary(name, value) for name, value in head.items())
    data = b"".join((
        header_block,
        b"\r\n",
        b"This is a multipart message in MIME format.\r\n",
        f"--{boundary}\r\n".encode(),
        note_part.as_bytes(),
        f"\r\n--{boundary}\r\n".encode(),
        b"Content-Type: message/rfc822\r\n",
        b'Content-Disposition: attachment; filename="original.eml"\r\n\r\n',
        attached,
        f"--{boundary}--\r\n".encode(),
    ))
    return Outgoing(key=key, sender=addresses.partnerships,
                    recipients=(addresses.operations, addresses.partnerships), data=data)


class Sender(Protocol):
    def send(self, outgoing: Outgoing) -> str:
        """Deliver once per key; return where it went. Raise ActionError(retryable=...) on failure."""
        ...


class OutboxDirSender:
    """The embedded sender: each forward becomes one .eml file; an existing file means already sent."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, key: str) -> Path:
        kind = re.sub(r"[^a-z_]", "", key.split(":", 1)[0]) or "message"
        return self.directory / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.eml"

    def send(self, outgoing: Outgoing) -> str:
        path = self.path_for(outgoing.key)
        if path.exists():
            return str(path)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as handle:
                handle.write(outgoing.data)
                handle.flush()
                os.fsync(handle.fileno())
            # The rename is atomic: a crash leaves either no file or the whole file.
            os.replace(temporary, path)
        except OSError as exc:
            raise ActionError(f"cannot write {path}: {exc.strerror}", retryable=True) from exc
        return str(path)
