"""parse() over every file of the shared email corpus: it returns a Message or quarantines, never crashes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from factories import CORPUS

from daemon.core.message import MalformedMessage, Message, parse

MISSING = (
    f"email corpus not found at {CORPUS}; it lives in ../shared/corpus next to the repository "
    "(see its SOURCES.md) or set PARTNERSHIPS_CORPUS to its path"
)
NOT_DATA = {"MANIFEST.tsv", "SOURCES.md"}
# Generous: the slowest file (3 MB enclosed-endless.eml) takes about 0.3 s.
PER_FILE_SECONDS = 5.0


def corpus_files() -> list[Path | None]:
    """Every data file; [None] (a failing sentinel) when the corpus is missing."""
    if not CORPUS.is_dir():
        return [None]
    files = sorted(
        path
        for path in CORPUS.rglob("*")
        if path.is_file() and path.name not in NOT_DATA and "LICENSES" not in path.relative_to(CORPUS).parts
    )
    return files or [None]


FILES = corpus_files()


def require(path: Path | None) -> Path:
    if path is None:
        pytest.fail(MISSING, pytrace=False)
    return path


@dataclass(frozen=True)
class Outcome:
    message: Message | None
    reason: str | None  # MalformedMessage.reason when quarantined
    seconds: float


@cache
def outcome(path: Path) -> Outcome:
    """Parse once per file; the per-file and the whole-corpus tests share the result."""
    raw = path.read_bytes()
    start = time.perf_counter()
    try:
        msg = parse(raw)
    except MalformedMessage as e:
        return Outcome(None, e.reason, time.perf_counter() - start)
    return Outcome(msg, None, time.perf_counter() - start)


@pytest.mark.parametrize("path", FILES, ids=lambda p: "corpus-missing" if p is None else str(p.relative_to(CORPUS)))
def test_parse_returns_message_or_quarantines(path: Path | None) -> None:
    result = outcome(require(path))  # any other exception escapes here and fails the test
    if result.message is None:
        assert result.reason and result.reason.strip()
    else:
        assert isinstance(result.message, Message)
        assert result.message.message_id.strip()
        assert result.message.size == path.stat().st_size
    assert result.seconds < PER_FILE_SECONDS


def test_at_least_99_percent_of_the_corpus_parses() -> None:
    files = [require(path) for path in FILES]
    assert len(files) > 2500
    quarantined = {
        str(path.relative_to(CORPUS)): outcome(path).reason for path in files if outcome(path).message is None
    }
    assert len(quarantined) <= len(files) // 100, quarantined


def test_only_non_messages_are_quarantined() -> None:
    files = [require(path) for path in FILES]
    quarantined = sorted(str(path.relative_to(CORPUS)) for path in files if outcome(path).message is None)
    # The bare TNEF blobs and a Mailman digest body without headers are not emails.
    allowed = ("robustness/mimekit/tnef/raw-winmail-dat/", "robustness/cpython-test_email/msg_19.eml")
    assert [name for name in quarantined if not name.startswith(allowed)] == []


def corpus_message(relative: str) -> Message:
    require(FILES[0])
    path = CORPUS / relative
    assert path.is_file(), f"corpus file missing: {path}"
    result = outcome(path)
    assert result.message is not None, result.reason
    return result.message


@pytest.mark.parametrize(
    "relative", ["robustness/php-mime-mail-parser/issue230.eml", "robustness/mikel-mail/plain_emails/raw_email10.eml"]
)
def test_unknown_charset_bodies_decode(relative: str) -> None:
    msg = corpus_message(relative)
    assert msg.full_text.strip()
    assert msg.new_text.strip()


def test_more_than_300_attachments() -> None:
    assert len(corpus_message("robustness/php-mime-mail-parser/issue408.eml").attachments) > 300


@pytest.mark.parametrize(
    "relative",
    ["robustness/flanker/iphone.eml", "robustness/flanker/enclosed.eml", "robustness/flanker/mailgun-pic.eml"],
)
def test_leading_space_line_does_not_hide_the_headers(relative: str) -> None:
    msg = corpus_message(relative)
    assert msg.from_addr and "@" in msg.from_addr
    assert not msg.message_id.endswith("@synthetic.invalid")
    assert msg.date is not None


def test_bare_cr_files_have_the_same_headers_as_their_crlf_twins() -> None:
    cr_files = sorted((CORPUS / "robustness" / "sisimai-line-endings" / "cr-only").glob("*.eml"))
    require(cr_files[0] if cr_files else None)
    for cr_path in cr_files:
        crlf_path = cr_path.parent.parent / "crlf" / cr_path.name
        cr = corpus_message(str(cr_path.relative_to(CORPUS)))
        crlf = corpus_message(str(crlf_path.relative_to(CORPUS)))
        assert (cr.subject, cr.from_addr, cr.date, cr.header("to")) == (
            crlf.subject,
            crlf.from_addr,
            crlf.date,
            crlf.header("to"),
        ), cr_path.name
        if not crlf.message_id.endswith("@synthetic.invalid"):
            assert cr.message_id == crlf.message_id, cr_path.name
        assert cr.header("from"), cr_path.name
