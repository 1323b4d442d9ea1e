"""Forward notes: rendered from templates with email content as variables only; the forward's MIME shape."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from factories import raw_email

from daemon.core.notes import NoteRenderer
from daemon.errors import TemplateError
from daemon.io.send import OutboxDirSender, build_forward, forward_message_id
from daemon.settings import Config

CONFIG = Config()


def render(**overrides: object) -> str:
    variables = {
        "intent": "service_confirmation", "intent_label": "Service confirmation", "community": "westbrook.edu",
        "status_before": "Active Lead", "status_after": "Needs Admin", "tier": "medium", "price": "3000",
        "month": None, "month_stated": False, "rule": "confirm-tier-at-price", "matched": ["go ahead with"],
        "confidence": 0.95, "original_from": "maria.chen@westbrook.edu", "original_from_name": "Maria Chen",
        "original_date": "2026-10-06T15:00:00+00:00", "original_subject": "Re: Hub service",
        "original_message_id": "m1@westbrook.edu", "attachments": [], "new_text": "We go ahead.",
        "new_hub_url": "https://github.com/2i2c-org/infrastructure/issues/new?template=x",
        "approved_by": None, "start_date": None, "billing_contact": None, "flag": None,
    }
    variables.update(overrides)
    renderer = NoteRenderer(CONFIG.templates_dir, globals_={"currency": "USD"})
    return renderer.render("forward_service_confirmation.txt.j2", variables)


def test_confirmation_note_says_new_service_and_admin_setup() -> None:
    note = render()
    assert "NEW SERVICE for westbrook.edu" in note
    assert "set up the administrative" in note
    assert "Service tier:   Medium" in note
    assert "Price:          USD 3000 per month" in note
    assert "Active Lead -> Needs Admin" in note
    assert "New Hub - Request Information" in note and "issues/new?template=x" in note


def test_template_syntax_in_email_stays_literal() -> None:
    hostile = "{{ 7*7 }} {% for x in y %}{% endfor %} {{ ''.__class__ }}"
    note = render(new_text=hostile, original_subject="{{ 7*7 }}")
    assert "{{ 7*7 }}" in note and "{% for x in y %}" in note and "{{ ''.__class__ }}" in note
    assert "49" not in note


def test_missing_variable_fails_loudly() -> None:
    renderer = NoteRenderer(CONFIG.templates_dir, globals_={"currency": "USD"})
    with pytest.raises(TemplateError, match="undefined"):
        renderer.render("forward_contract.txt.j2", {"community": "x"})


def test_broken_template_is_reported_with_file_and_line(tmp_path: Path) -> None:
    for name in ("forward_service_confirmation.txt.j2", "forward_delivery_affirmation.txt.j2"):
        (tmp_path / name).write_text("ok\n")
    (tmp_path / "forward_contract.txt.j2").write_text("line one\n{% if %}\n")
    with pytest.raises(TemplateError, match=r"forward_contract\.txt\.j2 line 2"):
        NoteRenderer(tmp_path).check()


def test_forward_is_note_plus_original_attached_whole(tmp_path: Path) -> None:
    original = raw_email(body="We would like to go ahead. Caf\u00e9 \u2713")
    outgoing = build_forward(key="forward:m1@westbrook.edu:service_confirmation", subject="[partnerships] x",
                             note="the note", original=original, original_id="m1@westbrook.edu",
                             addresses=CONFIG.addresses, date=datetime(2026, 10, 6, tzinfo=UTC))
    parsed = email.message_from_bytes(outgoing.data, policy=policy.default)
    assert parsed["To"] == "operations@codeforsociety.org"
    assert parsed["Cc"] == "partnerships@2i2c.org"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Partnerships-Daemon"] == "forward"
    expected_id = forward_message_id("forward:m1@westbrook.edu:service_confirmation", CONFIG.addresses)
    assert parsed["Message-ID"] == f"<{expected_id}>"
    note, attached = parsed.get_payload()
    assert note.get_content().strip() == "the note"
    assert attached.get_content_type() == "message/rfc822"
    inner = attached.get_payload()[0]
    assert inner["Message-ID"] == "<m1@westbrook.edu>"
    assert "Caf\u00e9 \u2713" in inner.get_content()
    assert outgoing.recipients == ("operations@codeforsociety.org", "partnerships@2i2c.org")


def test_forward_bytes_are_deterministic() -> None:
    args = dict(key="k", subject="s", note="n", original=b"Subject: a\n\nb\n", original_id="a@b",
                addresses=CONFIG.addresses, date=datetime(2026, 10, 6, tzinfo=UTC))
    assert build_forward(**args).data == build_forward(**args).data


def test_outbox_sender_writes_once_per_key(tmp_path: Path) -> None:
    sender = OutboxDirSender(tmp_path / "outbox")
    args = dict(subject="s", note="n", original=b"Subject: a\n\nb\n", original_id="a@b",
                addresses=CONFIG.addresses, date=datetime(2026, 10, 6, tzinfo=UTC))
    first = sender.send(build_forward(key="forward:a@b:contract", **args))
    again = sender.send(build_forward(key="forward:a@b:contract", **{**args, "note": "changed"}))
    assert first == again and Path(first).name.startswith("forward-")
    assert b"changed" not in Path(first).read_bytes()
    assert len(list((tmp_path / "outbox").iterdir())) == 1
