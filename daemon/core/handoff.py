"""Hand-off to engineering: a pre-filled link that opens the "New Hub - Request Information" issue (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from urllib.parse import quote, urlencode

from daemon.settings import HandoffConfig

# GitHub answers "414 URI Too Long" past its server's limit (about 8 KB for the whole request line); browsers
# and mail clients accept far longer links, so the server is the binding limit. 8,000 characters of URL keeps
# a margin for the request line's method and protocol.
URL_LIMIT = 8_000
TRUNCATED = "… (truncated; see the leads table)"
TITLE_CHARS = 250  # GitHub refuses issue titles over 256 characters
NAME_CHARS = 200
VALUE_CHARS = 100
SUMMARY_LINE_CHARS = 500
MAX_CONTACTS = 10
# Inline markdown that could turn an e-mail-derived value into a link, an image, HTML, a table cell, emphasis,
# an @mention or an #issue reference.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|~@#!])")


def new_hub_issue_url(config: HandoffConfig, *, community: str, tier: str | None = None,
                      price: Decimal | str | None = None, currency: str = "USD", contacts: Sequence[str] = (),
                      start_date: date | None = None, maniac_summary: str = "") -> str:
    """`https://github.com/{repo}/issues/new?template=...&labels=...&title=...&body=...` with what is known of the
    community; at most URL_LIMIT characters, the body cut at a line boundary with a TRUNCATED line if need be.

    Every value comes from e-mail, so each is made single-line and markdown-inert in the body (the MANIAC-T
    summary goes in a code block), and percent-encoded in the URL.
    """
    name = _one_line(community, NAME_CHARS) or "(unnamed community)"
    params = {"template": config.template}
    if config.labels:
        params["labels"] = config.labels
    params["title"] = _clip(config.title.format(community=name), TITLE_CHARS)
    body_keys = ["body"] + ([config.form_field] if config.form_field else [])
    base = f"https://github.com/{config.repository}/issues/new?" + urlencode(params, quote_via=quote)

    def url(body: str) -> str:
        return base + "&" + urlencode({key: body for key in body_keys}, quote_via=quote)

    lines = _body_lines(name, tier, price, currency, contacts, start_date, maniac_summary)
    full = url("\n".join(lines))
    if len(full) <= URL_LIMIT:
        return full
    # Percent-encoding works character by character, so the encoded length of a body is the sum over its lines:
    # keep the longest prefix of lines whose body, closed and marked, still fits.
    budget = URL_LIMIT - len(url(""))
    kept = 0
    used = 0
    for index, line in enumerate(lines):
        cost = len(quote(line + "\n", safe="")) * len(body_keys)
        tail = len(quote(_closing(lines[: index + 1]) + TRUNCATED, safe="")) * len(body_keys)
        if used + cost + tail > budget:
            break
        used += cost
        kept = index + 1
    result = url(_truncated(lines, kept))
    while len(result) > URL_LIMIT and kept:  # only if the arithmetic above were ever off: never exceed the limit
        kept -= 1
        result = url(_truncated(lines, kept))
    return result


def _body_lines(name: str, tier: str | None, price: Decimal | str | None, currency: str, contacts: Sequence[str],
                start_date: date | None, maniac_summary: str) -> list[str]:
    tier_text = _inline(tier or "", VALUE_CHARS) or "not known yet"
    if price is not None and str(price).strip():
        tier_text += f", {_inline(currency, 10)} {_inline(str(price), VALUE_CHARS)} per month"
    addresses = [_code(c) for c in (_one_line(c, VALUE_CHARS) for c in contacts) if c]
    contact_text = ", ".join(addresses[:MAX_CONTACTS]) or "not known yet"
    if len(addresses) > MAX_CONTACTS:
        contact_text += f" and {len(addresses) - MAX_CONTACTS} more"
    lines = [
        "Prefilled by the partnerships daemon from the leads table when the community confirmed its service.",
        "",
        f"- **Community:** {_escape(name)}",
        f"- **Service tier:** {tier_text}",
        f"- **Service start date:** {start_date.isoformat() if start_date else 'not known yet'}",
        f"- **Community contacts:** {contact_text}",
    ]
    summary = [_one_line(line, SUMMARY_LINE_CHARS, keep_indent=True) for line in maniac_summary.splitlines()]
    summary = [line for line in summary if line]
    if summary:
        fence = "`" * max(3, _longest_backtick_run("\n".join(summary)) + 1)
        lines += ["", "**MANIAC-T qualification** (quotes from the community's e-mails):", "", fence + "text",
                  *summary, fence]
    return lines


def _truncated(lines: list[str], kept: int) -> str:
    head = lines[:kept]
    closing = _closing(head)
    return "\n".join([*head, *([closing.rstrip("\n")] if closing else []), TRUNCATED])


def _closing(lines: Sequence[str]) -> str:
    """The fence (plus newline) that closes a code block left open at the end of `lines`, or ""."""
    open_fence = ""
    for line in lines:
        if line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
            if not open_fence:
                open_fence = fence
            elif line == open_fence:
                open_fence = ""
    return open_fence + "\n" if open_fence else ""


def _one_line(value: str, limit: int, *, keep_indent: bool = False) -> str:
    """Control and format characters (newlines, bidi overrides) out, whitespace folded, at most `limit` chars."""
    cleaned = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in str(value))
    indent = cleaned[: len(cleaned) - len(cleaned.lstrip(" "))] if keep_indent else ""
    return _clip(indent + " ".join(cleaned.split()), limit)


def _inline(value: str, limit: int) -> str:
    return _escape(_one_line(value, limit))


def _escape(text: str) -> str:
    return _MARKDOWN_INLINE.sub(r"\\\1", text)


def _code(text: str) -> str:
    """An inline code span: no links, mentions or emphasis inside; a value with backticks gets a longer fence."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
