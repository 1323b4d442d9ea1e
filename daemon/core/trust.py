"""Decide whether a message's sender is authenticated, from our own server's Authentication-Results (pure)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import authres

from daemon.core.message import Message
from daemon.settings import TrustSettings

# Real Authentication-Results headers are well under 2 KB; authres re-slices the text per token,
# so a hostile megabyte header would cost seconds. Ours is never that long.
MAX_HEADER_CHARS = 16_384

# The authserv-id is the first dot-atom of the value (RFC 8601 s.2.2), after optional comments.
_AUTHSERV_ID = re.compile(r"\s*(?:\((?:[^()\\]|\\.)*\)\s*)*([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+)")

MAX_REASON_CHARS = 300


UNCONFIGURED_HINT = ("no trusted receiving server configured: every sender is unauthenticated and every action "
                     "waits in review; run `partnerships trust detect` and set [trust] authserv_ids")


def trust_line(settings: TrustSettings) -> str:
    """One line for `check` and `status`: whom the daemon believes, or what is missing."""
    if not settings.require_authentication:
        return "trust: authentication check disabled (require_authentication = false): every sender is believed"
    if not settings.authserv_ids:
        return f"trust: {UNCONFIGURED_HINT}"
    return f"trust: Authentication-Results from {', '.join(settings.authserv_ids)}"


@dataclass(frozen=True)
class TrustVerdict:
    trusted: bool
    reason: str  # says which result decided, and by which server; shown in review items and logs
    method: str | None = None  # "dmarc", "dkim", "auth", "sent-folder", or None


def assess_sender(message: Message, settings: TrustSettings, *, outbound: bool,
                  from_sent_folder: bool = False) -> TrustVerdict:
    """Whether `message` may trigger automatic actions; never raises.

    Only the topmost Authentication-Results header whose authserv-id is ours counts: our server
    adds its header on top of whatever the message arrived with, so any lower header, even one
    naming our server, may have been written by the sender. Headers from other servers are ignored.

    Inbound: trusted on dmarc=pass whose header.from is the From domain, or on dkim=pass for a domain
    aligned with it; an explicit dmarc=fail vetoes, since the server's own (public-suffix aware)
    alignment then disagrees with ours. Outbound (`outbound=True`, a team From address): trusted when
    found in the Sent folder, or when the topmost header from one of `authserv_ids` + `own_relays` was
    written by an own relay and says auth=pass (the sender logged in to our server) or passes the
    inbound test for the team's From domain (our domain's signature, verified by our server).
    """
    try:
        verdict = _assess(message, settings, outbound=outbound, from_sent_folder=from_sent_folder)
    except Exception as exc:  # a verdict for every message: hostile input must reach review, not crash
        verdict = TrustVerdict(False, f"authentication check failed: {type(exc).__name__}: {exc}")
    # Reasons quote header text and end up in logs and `review list`: no control or bidi characters.
    reason = verdict.reason
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 3] + "..."
    reason = "".join(ch if ch.isprintable() else "?" for ch in reason)
    return verdict if reason == verdict.reason else TrustVerdict(verdict.trusted, reason, verdict.method)


def _assess(message: Message, settings: TrustSettings, *, outbound: bool, from_sent_folder: bool) -> TrustVerdict:
    if not settings.require_authentication:
        return TrustVerdict(True, "authentication check disabled")
    if outbound and from_sent_folder:
        return TrustVerdict(True, "found in the Sent folder, which only our own account writes to", "sent-folder")
    from_headers = message.header("from")
    if len(from_headers) > 1:
        return TrustVerdict(False, f"{len(from_headers)} From headers: cannot tell which one was authenticated")
    from_domain = _domain(message.from_addr or "")
    if not from_domain:
        return TrustVerdict(False, "no From address to authenticate")

    if not settings.configured:
        return TrustVerdict(False, UNCONFIGURED_HINT)
    receiving = _lower(settings.authserv_ids)
    relays = _lower(settings.own_relays)
    ours = receiving + tuple(r for r in relays if r not in receiving) if outbound else receiving
    found = ours_results(message, ours)
    if not found:
        if outbound:
            return TrustVerdict(False, "outbound message not found in the Sent folder and without "
                                       f"Authentication-Results from our own server ({_names(ours)})")
        return TrustVerdict(False, f"no Authentication-Results from a trusted server ({_names(ours)})")
    authserv_id = found[0][0]
    if outbound and not _matches(authserv_id, relays):
        return TrustVerdict(False, f"outbound message: the topmost trusted Authentication-Results is from "
                                   f"{authserv_id}, not from one of our own relays ({_names(relays)})")
    results: list[Any] = []
    for written_by, value in found:
        if len(value) > MAX_HEADER_CHARS:
            return TrustVerdict(False, f"Authentication-Results from {written_by} too long to parse "
                                       f"({len(value)} characters)")
        try:
            header = authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {written_by}; "
                                                               + _without_id(value))
        except Exception as exc:  # authres raises its own SyntaxError, and RecursionError on deep comments
            return TrustVerdict(False, f"unparseable Authentication-Results from {written_by}: {exc}")
        results.extend(header.results)
    return _judge(results, from_domain, authserv_id, accept_auth=outbound)


# Header fields a receiving server writes next to its own Received line (Google puts its
# Authentication-Results just below it).
_HOP_FIELDS = frozenset({"received-spf", "authentication-results", "arc-authentication-results", "arc-seal",
                         "arc-message-signature", "x-received"})
_BY_HOST = re.compile(r"\bby\s+\[?([A-Za-z0-9.:-]+)", re.IGNORECASE)


def authserv_id_of(value: str) -> str | None:
    """The authserv-id an Authentication-Results value starts with; None when it has none (Microsoft 365
    starts with `spf=pass ...`)."""
    match = _AUTHSERV_ID.match(value)
    token = match.group(1).lower().rstrip(".") if match else ""
    return token if token and "=" not in token and not token.endswith(";") else None


def _without_id(value: str) -> str:
    """The results part of a value, whether or not it starts with an authserv-id."""
    if authserv_id_of(value) is None:
        return value
    return value.split(";", 1)[1] if ";" in value else ""


def received_by(value: str) -> str:
    """The host in the `by` clause of a Received value, lower-case; "" when there is none."""
    match = _BY_HOST.search(value[:MAX_HEADER_CHARS])
    return match.group(1).lower().rstrip(".") if match else ""


def _matches(host: str, ids: Iterable[str]) -> bool:
    """`host` is one of `ids` or a subdomain of one (mx6.messagingengine.com for messagingengine.com)."""
    return bool(host) and any(host == i or host.endswith("." + i) for i in ids)


def written_results(headers: Sequence[tuple[str, str]]) -> list[tuple[int, str, str]]:
    """(position, writer, value) of every Authentication-Results header, top down. The writer is its authserv-id
    or, for a header without one (Microsoft 365), the `by` host of the next Received below it: the server
    that received the message in that hop."""
    found = []
    for position, (name, value) in enumerate(headers):
        if name != "authentication-results":
            continue
        writer = authserv_id_of(value)
        if writer is None:
            below = next((v for n, v in headers[position + 1:] if n == "received"), "")
            writer = received_by(below)
        found.append((position, writer, value))
    return found


def ours_results(message: Message, ours: tuple[str, ...]) -> list[tuple[str, str]]:
    """[(writer, value)] of the topmost Authentication-Results header our own server wrote; [] when none.

    Our server's Received header (the topmost whose `by` host is ours) separates what our side wrote from
    what came with the message: only headers above it count, or the hop fields directly below it
    (Google's layout). A header the sender wrote is always below that Received line, so it never counts,
    even where our server wrote none. Of ours only the topmost counts: any later one may be the sender's.
    A message with no Received header at all never crossed a mail server (a hand-made file): its topmost
    header of ours counts.
    """
    headers = message.headers
    written = [(position, writer, value) for position, writer, value in written_results(headers)
               if _matches(writer, ours)]
    received = [position for position, (name, _) in enumerate(headers) if name == "received"]
    if not received:
        return [(writer, value) for _, writer, value in written[:1]]
    boundary = next((p for p in received if _matches(received_by(headers[p][1]), ours)), None)
    if boundary is None:
        # None of the hops is our server's: only what sits above every Received line can be ours.
        return [(writer, value) for position, writer, value in written if position < received[0]]
    above = [(writer, value) for position, writer, value in written if position < boundary]
    hop_end = boundary + 1
    while hop_end < len(headers) and headers[hop_end][0] in _HOP_FIELDS:
        hop_end += 1
    below = [(writer, value) for position, writer, value in written if boundary < position < hop_end]
    return (above + below)[:1]


def _judge(results: Iterable[Any], from_domain: str, authserv_id: str, *, accept_auth: bool) -> TrustVerdict:
    seen: list[str] = []
    passed: TrustVerdict | None = None
    for result in results:
        method = str(getattr(result, "method", "")).lower()
        outcome = str(getattr(result, "result", "")).lower()
        props = {(p.type, p.name): str(p.value or "") for p in getattr(result, "properties", ())}
        if method == "dmarc":
            header_from = _domain(props.get(("header", "from"), ""))
            if outcome == "fail":
                return TrustVerdict(False, f"dmarc=fail (header.from={header_from or '?'}) by {authserv_id}")
            if outcome != "pass":
                seen.append(f"dmarc={outcome}")
            elif not header_from:
                seen.append("dmarc=pass without header.from")
            elif header_from != from_domain:
                seen.append(f"dmarc=pass for {header_from}, not the From domain {from_domain}")
            elif passed is None or passed.method != "dmarc":
                passed = TrustVerdict(True, f"dmarc=pass (header.from={header_from}) by {authserv_id}", "dmarc")
        elif method == "dkim":
            signer = _domain(props.get(("header", "d"), "") or props.get(("header", "i"), ""))
            if outcome != "pass":
                seen.append(f"dkim={outcome}" + (f" for {signer}" if signer else ""))
            elif not signer:
                seen.append("dkim=pass without header.d or header.i")
            elif not aligned(signer, from_domain):
                seen.append(f"dkim=pass for {signer}, not aligned with From domain {from_domain}")
            elif passed is None:
                passed = TrustVerdict(True, f"dkim=pass (header.d={signer}) aligned with From domain {from_domain} "
                                            f"by {authserv_id}", "dkim")
        elif method == "auth" and accept_auth:
            user = props.get(("smtp", "auth"), "")
            if outcome != "pass":
                seen.append(f"auth={outcome}")
            elif "@" in user and not aligned(_domain(user), from_domain):
                seen.append(f"auth=pass as {user}, not aligned with From domain {from_domain}")
            elif passed is None:
                who = f" (smtp.auth={user})" if user else ""
                passed = TrustVerdict(True, f"auth=pass{who} by {authserv_id}", "auth")
        elif method == "compauth":
            # Microsoft 365's composite verdict on the From domain (explicit DMARC or its implicit checks).
            if outcome in ("fail", "softfail"):
                return TrustVerdict(False, f"compauth={outcome} by {authserv_id}")
            if outcome != "pass":
                seen.append(f"compauth={outcome}")
            elif passed is None:
                passed = TrustVerdict(True, f"compauth=pass for {from_domain} by {authserv_id}", "compauth")
        elif method == "spf":
            seen.append(f"spf={outcome} (SPF checks the envelope sender, not From)")
        elif method:
            seen.append(f"{method}={outcome}")
    if passed is not None:
        return passed
    wanted = "auth=pass, dmarc=pass or aligned dkim=pass" if accept_auth else "dmarc=pass or aligned dkim=pass"
    details = "; ".join(seen) if seen else "no results"
    return TrustVerdict(False, f"no {wanted} for {from_domain} by {authserv_id}: {details}")


def aligned(signer: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: equal, or one a subdomain of the other.

    The shorter name must have at least two labels, so that a bare TLD ("edu") never aligns. Without
    the public-suffix list "ac.uk" would align with "glenmoor.ac.uk"; signing as d=ac.uk needs the
    registry's DNS, and the receiving server's DMARC verdict (which does use the list) vetoes anyway.
    """
    a, b = _domain(signer), _domain(from_domain)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return "." in shorter and longer.endswith("." + shorter)


def _domain(value: str) -> str:
    """The lower-case domain of an address, "@domain" or a bare domain; "" when there is none."""
    domain = value.strip().strip("\"'<>").rpartition("@")[2].strip().rstrip(".").lower()
    if domain and not domain.isascii():
        with contextlib.suppress(UnicodeError):  # not a valid IDN: compare it as it is
            domain = domain.encode("idna").decode("ascii")
    return domain


def _lower(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i.strip().lower() for i in ids if i.strip()))


def _names(ids: tuple[str, ...]) -> str:
    return ", ".join(ids) if ids else "none configured"


def arrival_time(message: Message) -> datetime | None:
    """When the message reached us: the date of the topmost Received header (our own server wrote it, so the
    sender cannot move it), else the Date header the sender wrote; None when neither parses."""
    for value in message.header("received")[:1]:
        stamp = value.rpartition(";")[2].strip()
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            parsed = parsedate_to_datetime(stamp)
            if parsed.tzinfo is not None:
                return parsed
    return message.date


@dataclass(frozen=True)
class TrustProposal:
    """What `partnerships trust detect` found in the newest messages of the mailbox."""

    messages: int
    writers: tuple[tuple[str, int], ...]  # (who wrote the topmost Authentication-Results, on how many), most first
    without_header: int
    authserv_ids: tuple[str, ...]  # the proposal; () when nothing can be proposed


def propose_trust(messages: Iterable[Message]) -> TrustProposal:
    """Which server writes the topmost Authentication-Results of the mailbox's mail: the receiving server adds
    its header on top of everything, so across many messages the topmost writer that recurs is ours.

    Hosts that vary per message under one parent (Fastmail's mx1..mx8.messagingengine.com, Microsoft 365's
    per-server names for its id-less headers) are proposed as that parent, which covers its subdomains."""
    counts: dict[str, int] = {}
    total = without = 0
    for message in messages:
        total += 1
        written = written_results(message.headers)
        if not written or not written[0][1]:
            without += 1
            continue
        _, writer, value = written[0]
        if authserv_id_of(value) is None and writer.count(".") >= 2:
            writer = writer.split(".", 1)[1]  # a per-server host name: its parent names the service
        counts[writer] = counts.get(writer, 0) + 1
    by_parent: dict[str, list[str]] = {}
    for writer in counts:
        by_parent.setdefault(writer.split(".", 1)[1] if writer.count(".") >= 2 else writer, []).append(writer)
    merged: dict[str, int] = {}
    for parent, writers in by_parent.items():
        name = parent if len(writers) > 1 else writers[0]
        merged[name] = sum(counts[w] for w in writers)
    ranked = tuple(sorted(merged.items(), key=lambda item: (-item[1], item[0])))
    # Propose only a writer seen on most messages: one that writes a few is more likely a sender's own.
    proposal = tuple(name for name, seen in ranked[:1] if seen * 2 > total - without)
    return TrustProposal(total, ranked, without, proposal)


def proposal_lines(proposal: TrustProposal, where: str, current: TrustSettings) -> list[str]:
    """What `trust detect` prints: what it saw, the current setting, and the [trust] table to paste."""
    lines = [f"read the {proposal.messages} newest message(s) of {where}"]
    lines += [f"  topmost Authentication-Results written by {writer}: {seen}" for writer, seen in proposal.writers]
    if proposal.without_header:
        lines.append(f"  without Authentication-Results: {proposal.without_header}")
    lines.append(f"now: {trust_line(current)}")
    if not proposal.authserv_ids:
        lines.append("no proposal: no server wrote the topmost Authentication-Results on most messages; if your "
                     "server adds none, set [trust] require_authentication = false (every sender is then believed)")
        return lines
    ids = ", ".join(f'"{i}"' for i in proposal.authserv_ids)
    return [*lines, "proposed (add to the config file):", "[trust]", f"authserv_ids = [{ids}]"]
