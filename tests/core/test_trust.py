"""Sender trust: only the topmost Authentication-Results from our own server counts; forged headers never pass."""

from __future__ import annotations

import mailbox
import time
from pathlib import Path

import pytest
from factories import make_message, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from servers import DovecotServer, write_daemon_config

from daemon.core.message import Message, parse
from daemon.core.trust import TrustVerdict, aligned, assess_sender, propose_trust
from daemon.errors import ConfigError
from daemon.settings import PROJECT_ROOT, Addresses, TrustSettings, parse_trust_settings

GOOGLE = TrustSettings(authserv_ids=("mx.google.com",), own_relays=("mx.google.com",))
MARIA = "Maria Chen <maria.chen@westbrook.edu>"
SAM = "Sam Rivera <sam@2i2c.org>"
PASS = "mx.google.com; dkim=pass header.i=@westbrook.edu header.s=s1; spf=pass smtp.mailfrom=westbrook.edu; " \
       "dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=westbrook.edu"


def received(*auth_results: str, sender: str = MARIA, extra: tuple[str, ...] = ()) -> bytes:
    """A delivered message whose Authentication-Results headers appear top to bottom in the order given."""
    lines = [f"Authentication-Results: {value}" for value in auth_results]
    lines += [
        "Received: from mail.westbrook.edu (mail.westbrook.edu [198.51.100.7]) by mx.google.com with ESMTPS id x1",
        *extra,
        f"From: {sender}",
        "To: sam@2i2c.org",
        "Cc: partnerships@2i2c.org",
        "Subject: Hub service",
        "Date: Tue, 06 Oct 2026 15:00:00 +0000",
        "Message-ID: <m1@westbrook.edu>",
        "",
        "We would like to go ahead with the Medium tier at $3,000 per month.",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def inbound(raw: bytes, trust: TrustSettings = GOOGLE) -> TrustVerdict:
    return assess_sender(parse(raw), trust, outbound=False)


# --- inbound --------------------------------------------------------------------------------------


def test_dmarc_pass_is_trusted() -> None:
    verdict = inbound(received(PASS))
    assert verdict == TrustVerdict(True, "dmarc=pass (header.from=westbrook.edu) by mx.google.com", "dmarc")


@pytest.mark.parametrize(("sender", "dkim"), [
    (MARIA, "header.d=westbrook.edu"),
    (MARIA, "header.i=@westbrook.edu"),
    (MARIA, "header.d=mail.westbrook.edu"),  # signer is a subdomain of the From domain
    ("Maria <maria@cs.westbrook.edu>", "header.d=westbrook.edu"),  # From is a subdomain of the signer
    (MARIA, "header.d=WestBrook.EDU."),
])
def test_dkim_pass_aligned_is_trusted(sender: str, dkim: str) -> None:
    verdict = inbound(received(f"mx.google.com; dkim=pass {dkim} header.s=s1; spf=none", sender=sender))
    assert verdict.trusted and verdict.method == "dkim"
    assert "aligned with From domain" in verdict.reason and "by mx.google.com" in verdict.reason


@pytest.mark.parametrize("signer", ["evil.example", "notwestbrook.edu", "edu", "westbrook.edu.evil.example"])
def test_dkim_pass_unaligned_is_not_trusted(signer: str) -> None:
    verdict = inbound(received(f"mx.google.com; dkim=pass header.d={signer}; spf=pass smtp.mailfrom={signer}"))
    assert not verdict.trusted and verdict.method is None
    assert f"dkim=pass for {signer}, not aligned with From domain westbrook.edu" in verdict.reason


def test_spf_pass_alone_is_not_trusted() -> None:
    verdict = inbound(received("mx.google.com; spf=pass smtp.mailfrom=maria.chen@westbrook.edu"))
    assert not verdict.trusted
    assert "no dmarc=pass or aligned dkim=pass for westbrook.edu by mx.google.com" in verdict.reason
    assert "spf=pass" in verdict.reason


def test_no_header_is_not_trusted_unless_the_check_is_disabled() -> None:
    raw = received()
    verdict = inbound(raw)
    assert verdict == TrustVerdict(False, "no Authentication-Results from a trusted server (mx.google.com)")
    disabled = TrustSettings(authserv_ids=(), require_authentication=False, own_relays=())
    assert inbound(raw, disabled) == TrustVerdict(True, "authentication check disabled")
    assert assess_sender(parse(raw), disabled, outbound=True).trusted


def test_header_from_an_untrusted_server_is_ignored() -> None:
    verdict = inbound(received(PASS.replace("mx.google.com", "mx.evil.example")))
    assert not verdict.trusted and "no Authentication-Results from a trusted server" in verdict.reason


def test_forged_lower_header_does_not_pass() -> None:
    # The sender wrote the lower header; our server's verdict on top says dmarc=fail.
    ours = "mx.google.com; dkim=none; spf=softfail smtp.mailfrom=evil.example; dmarc=fail header.from=westbrook.edu"
    verdict = inbound(received(ours, PASS))
    assert verdict == TrustVerdict(False, "dmarc=fail (header.from=westbrook.edu) by mx.google.com")
    # Nor when our header merely lacks a pass: the lower one is never consulted.
    verdict = inbound(received("mx.google.com; spf=pass smtp.mailfrom=evil.example", PASS))
    assert not verdict.trusted and "spf=pass" in verdict.reason


def test_forged_header_above_ours_from_an_untrusted_server_is_ignored() -> None:
    forged = PASS.replace("mx.google.com", "relay.evil.example")
    assert not inbound(received(forged, "mx.google.com; dmarc=fail header.from=westbrook.edu")).trusted
    assert inbound(received("relay.evil.example; dmarc=fail header.from=westbrook.edu", PASS)).trusted


def test_several_results_in_one_header() -> None:
    verdict = inbound(received("mx.google.com; dkim=fail header.d=westbrook.edu; dkim=pass header.d=evil.example; "
                               "dkim=pass header.d=westbrook.edu; spf=softfail smtp.mailfrom=evil.example"))
    assert verdict == TrustVerdict(
        True, "dkim=pass (header.d=westbrook.edu) aligned with From domain westbrook.edu by mx.google.com", "dkim")
    # dmarc=pass wins over dkim for the reason, whatever the order.
    verdict = inbound(received("mx.google.com; dkim=pass header.d=westbrook.edu; dmarc=pass header.from=westbrook.edu"))
    assert verdict.method == "dmarc"


def test_dmarc_fail_vetoes_an_aligned_dkim_pass() -> None:
    verdict = inbound(received("mx.google.com; dkim=pass header.d=mail.westbrook.edu; "
                               "dmarc=fail header.from=westbrook.edu"))
    assert not verdict.trusted and verdict.reason.startswith("dmarc=fail")


def test_dmarc_pass_for_another_domain_does_not_count() -> None:
    # E.g. two From headers or an address the server parsed differently from us.
    verdict = inbound(received("mx.google.com; dmarc=pass header.from=evil.example"))
    assert not verdict.trusted
    assert "dmarc=pass for evil.example, not the From domain westbrook.edu" in verdict.reason


def test_several_trusted_headers_only_the_topmost_counts() -> None:
    fail = "mx.google.com; dmarc=fail header.from=westbrook.edu"
    assert inbound(received(PASS, fail)).trusted
    assert not inbound(received(fail, PASS)).trusted


def test_case_comments_and_folding() -> None:
    verdict = inbound(received("(Google) MX.Google.COM; DKIM=Pass (good signature) Header.D=Westbrook.EDU"))
    assert verdict.trusted and verdict.method == "dkim"
    folded = PASS.replace("; dmarc", ";\r\n\tdmarc")
    assert inbound(received(folded)).trusted


def test_auth_pass_does_not_make_inbound_mail_trusted() -> None:
    verdict = inbound(received("mx.google.com; auth=pass smtp.auth=maria.chen@westbrook.edu"))
    assert not verdict.trusted


def test_two_from_headers_are_not_trusted() -> None:
    raw = received(PASS, extra=("From: Mallory <mallory@evil.example>",))
    verdict = inbound(raw)
    assert not verdict.trusted and "2 From headers" in verdict.reason


@pytest.mark.parametrize("value", [
    "mx.google.com; dkim=pass header.d=westbrook.edu; garbage",
    "mx.google.com; (((((",
    "mx.google.com; dmarc=pass header.from=westbrook.edu (unclosed",
    "mx.google.com",
    "mx.google.com;",
    "mx.google.com; =pass",
    "mx.google.com; dmarc=pass header.from=westbrook.edu; " + "x" * 20_000,
    "mx.google.com; dkim=pass header.d=" + "(" * 5000,
    "mx.google.com; dkim=pass\x00 header.d=westbrook.edu",
    "mx.google.com; dmarc=pass header.from=westbrook.edu" + "\x00",
    "mx.google.com; dmarc=p\u00e4ss header.from=westbrook.edu",
])
def test_garbage_header_is_not_trusted_and_never_raises(value: str) -> None:
    message = make_message(headers=(("authentication-results", value),))
    verdict = assess_sender(message, GOOGLE, outbound=False)
    assert not verdict.trusted and verdict.reason.isprintable()


def test_garbage_header_through_parse() -> None:
    verdict = inbound(received("mx.google.com; dkim=pass header.d=westbrook.edu; \xff\xfe garbage"))
    assert not verdict.trusted and "mx.google.com" in verdict.reason


@settings(max_examples=300, deadline=None, database=None)
@given(values=st.lists(st.text(max_size=300), max_size=4),
       prefix=st.sampled_from(["", "mx.google.com; ", "mx.google.com; dkim=pass ", "(c) MX.google.com ; "]),
       outbound=st.booleans(), sent=st.booleans())
def test_any_header_text_gives_a_verdict(values: list[str], prefix: str, outbound: bool, sent: bool) -> None:
    headers = tuple(("authentication-results", prefix + value) for value in values)
    verdict = assess_sender(make_message(headers=headers), GOOGLE, outbound=outbound, from_sent_folder=sent)
    assert isinstance(verdict.trusted, bool) and verdict.reason and verdict.reason.isprintable()
    assert len(verdict.reason) <= 300


def test_a_long_header_is_refused_quickly() -> None:
    value = "mx.google.com; " + "; ".join(["dkim=pass header.d=westbrook.edu"] * 40_000)
    started = time.perf_counter()
    verdict = assess_sender(make_message(headers=(("authentication-results", value),)), GOOGLE, outbound=False)
    assert time.perf_counter() - started < 1.0
    assert not verdict.trusted and "too long" in verdict.reason


# --- outbound -------------------------------------------------------------------------------------

WORKSPACE_PASS = "mx.google.com; dkim=pass header.i=@2i2c.org; spf=pass smtp.mailfrom=sam@2i2c.org; " \
                 "dmarc=pass (p=QUARANTINE) header.from=2i2c.org"
OWN = TrustSettings(authserv_ids=("mx.2i2c.org",), own_relays=("smtp.2i2c.org",))


def outbound(raw: bytes, trust: TrustSettings = GOOGLE, *, sent: bool = False) -> TrustVerdict:
    return assess_sender(parse(raw), trust, outbound=True, from_sent_folder=sent)


def test_outbound_from_the_sent_folder_is_trusted() -> None:
    verdict = outbound(received(sender=SAM), sent=True)
    assert verdict.trusted and verdict.method == "sent-folder"
    # The Sent folder counts only for outbound mail: an inbound message found there is still checked.
    assert not assess_sender(parse(received()), GOOGLE, outbound=False, from_sent_folder=True).trusted


def test_outbound_through_our_hosted_provider_is_trusted() -> None:
    # Google Workspace: the receiving server is also our own relay and verified our domain's signature.
    verdict = outbound(received(WORKSPACE_PASS, sender=SAM))
    assert verdict == TrustVerdict(True, "dmarc=pass (header.from=2i2c.org) by mx.google.com", "dmarc")


def test_outbound_with_smtp_auth_at_our_submission_server_is_trusted() -> None:
    raw = received("smtp.2i2c.org; auth=pass (PLAIN) smtp.auth=sam@2i2c.org", sender=SAM)
    assert outbound(raw, OWN) == TrustVerdict(True, "auth=pass (smtp.auth=sam@2i2c.org) by smtp.2i2c.org", "auth")
    local_user = received("smtp.2i2c.org; auth=pass smtp.auth=sam", sender=SAM)
    assert outbound(local_user, OWN).trusted


def test_outbound_auth_as_another_domain_is_not_trusted() -> None:
    raw = received("smtp.2i2c.org; auth=pass smtp.auth=mallory@evil.example", sender=SAM)
    verdict = outbound(raw, OWN)
    assert not verdict.trusted and "auth=pass as mallory@evil.example, not aligned" in verdict.reason


def test_outbound_needs_our_own_relay() -> None:
    # Our receiving server's header is on top, and it is not an own relay: a lower relay header is unverifiable.
    raw = received("mx.2i2c.org; dmarc=pass header.from=2i2c.org", "smtp.2i2c.org; auth=pass smtp.auth=sam",
                   sender=SAM)
    verdict = outbound(raw, OWN)
    assert not verdict.trusted and "not from one of our own relays (smtp.2i2c.org)" in verdict.reason
    # No relay configured at all: only the Sent folder counts.
    sent_only = TrustSettings(authserv_ids=("mx.google.com",), own_relays=())
    verdict = outbound(received(WORKSPACE_PASS, sender=SAM), sent_only)
    assert not verdict.trusted and "none configured" in verdict.reason
    assert outbound(received(WORKSPACE_PASS, sender=SAM), sent_only, sent=True).trusted


def test_outbound_without_any_header_is_not_trusted() -> None:
    verdict = outbound(received(sender=SAM))
    assert not verdict.trusted
    assert verdict.reason == ("outbound message not found in the Sent folder and without Authentication-Results "
                              "from our own server (mx.google.com)")


def test_forged_team_sender_is_not_trusted() -> None:
    # An outsider writes "From: sam@2i2c.org" and adds a header naming our relay below our receiving server's.
    ours = "mx.google.com; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=evil.example; " \
           "dmarc=fail (p=QUARANTINE) header.from=2i2c.org"
    forged = "mx.google.com; auth=pass smtp.auth=sam@2i2c.org; dmarc=pass header.from=2i2c.org"
    verdict = outbound(received(ours, forged, sender=SAM))
    assert verdict == TrustVerdict(False, "dmarc=fail (header.from=2i2c.org) by mx.google.com")


# --- the example mailbox --------------------------------------------------------------------------


def test_example_mailbox_senders_are_trusted_except_the_dsn() -> None:
    addresses = Addresses()
    untrusted: dict[str, str] = {}
    checked = 0
    for entry in mailbox.mbox(str(PROJECT_ROOT / "examples" / "inbox.mbox")):
        message = parse(entry.as_bytes())
        is_team = addresses.is_team(message.from_addr or "")
        verdict = assess_sender(message, GOOGLE, outbound=is_team)
        checked += 1
        if verdict.trusted:
            assert verdict.method == "dmarc" and verdict.reason.endswith("by mx.google.com")
        else:
            untrusted[message.message_id] = verdict.reason
    assert checked == 63
    # EXPECTED.md: every delivered message carries mx.google.com's header except the DSN (t08m2).
    assert untrusted == {
        "t08m2.b1ab@googlemail.com": "no Authentication-Results from a trusted server (mx.google.com)"}


# --- settings -------------------------------------------------------------------------------------


def test_settings_defaults_and_values() -> None:
    # No guess: without a configured server nobody is trusted (the embedded demo names Google explicitly).
    assert parse_trust_settings({}) == TrustSettings() == TrustSettings(authserv_ids=(), own_relays=())
    assert not TrustSettings().configured and GOOGLE.configured
    assert parse_trust_settings({"authserv_ids": []}) == TrustSettings()
    settings_ = parse_trust_settings({"authserv_ids": ["MX.Example.org", "mx.example.org", "mx2.example.org"]})
    assert settings_.authserv_ids == ("mx.example.org", "mx2.example.org")
    assert settings_.own_relays == settings_.authserv_ids  # a hosted provider carries our own mail too
    assert settings_.require_authentication is True
    explicit = parse_trust_settings({"authserv_ids": ["mx.example.org"], "own_relays": []})
    assert explicit.own_relays == ()
    off = parse_trust_settings({"require_authentication": False, "authserv_ids": []})
    assert off.require_authentication is False and off.authserv_ids == ()


@pytest.mark.parametrize(("table", "message"), [
    ({"authserv_id": ["mx.google.com"], "relay": 1}, r"\[trust\] unknown key\(s\): authserv_id, relay"),
    ({"authserv_ids": "mx.google.com"}, r"\[trust\] authserv_ids: expected a list"),
    ({"authserv_ids": ["mx.google.com", 3]}, r"\[trust\] authserv_ids: expected a list"),
    ({"own_relays": "smtp.example.org"}, r"\[trust\] own_relays: expected a list"),
    ({"authserv_ids": ["mx google com"]}, r"'mx google com' is not an authserv-id"),
    ({"authserv_ids": [""]}, r"'' is not an authserv-id"),
    ({"require_authentication": "no"}, r"\[trust\] require_authentication: expected true or false"),
])
def test_settings_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_trust_settings(table)


def test_alignment_rules() -> None:
    assert aligned("westbrook.edu", "westbrook.edu")
    assert aligned("mail.westbrook.edu", "westbrook.edu") and aligned("westbrook.edu", "cs.westbrook.edu")
    assert not aligned("edu", "westbrook.edu")  # a bare TLD never aligns
    assert not aligned("brook.edu", "westbrook.edu")  # suffix only on a dot boundary
    assert not aligned("", "westbrook.edu") and not aligned("westbrook.edu", "")


# --- issue 15: provider formats, the Received boundary, trust detect ---------------------------------------

M365_PASS = ("spf=pass (sender IP is 198.51.100.7) smtp.mailfrom=westbrook.edu; dkim=pass (signature was verified) "
             "header.d=westbrook.edu;dmarc=pass action=none header.from=westbrook.edu;compauth=pass reason=100")


def delivered(*lines: str, sender: str = MARIA) -> Message:
    """A message whose header lines (trace and sender-written alike) appear top to bottom as given."""
    body = [*lines, f"From: {sender}", "To: sam@2i2c.org", "Subject: Hub", "Message-ID: <m1@westbrook.edu>", "", "x"]
    return parse("\r\n".join(body).encode())


def test_microsoft_365_header_without_authserv_id_is_attributed_to_its_received() -> None:
    ms = TrustSettings(authserv_ids=("protection.outlook.com",))
    ours = "Received: from mail.westbrook.edu (198.51.100.7) by BN2PEPF0000449F.mail.protection.outlook.com"
    verdict = assess_sender(delivered(f"Authentication-Results: {M365_PASS}", ours), ms, outbound=False)
    assert verdict.trusted and "by bn2pepf0000449f.mail.protection.outlook.com" in verdict.reason
    failed = M365_PASS.replace("compauth=pass reason=100", "compauth=fail reason=000")
    failed = failed.replace("dmarc=pass", "dmarc=none")
    assert "compauth=fail" in assess_sender(delivered(f"Authentication-Results: {failed}", ours), ms,
                                            outbound=False).reason
    # The same header written by the sender, below our Received line, never counts.
    assert not assess_sender(delivered(ours, f"Authentication-Results: {M365_PASS}"), ms, outbound=False).trusted


def test_google_header_just_below_its_received_counts_but_not_one_further_down() -> None:
    ours = "Received: from mail.westbrook.edu (mail.westbrook.edu. [198.51.100.7]) by mx.google.com with ESMTPS id a"
    assert inbound_message(delivered(ours, "Received-SPF: pass", f"Authentication-Results: {PASS}")).trusted
    sender_block = "Received: from laptop by mail.westbrook.edu (Postfix)"
    assert not inbound_message(delivered(ours, sender_block, f"Authentication-Results: {PASS}")).trusted
    assert not inbound_message(delivered(ours, "DKIM-Signature: v=1", f"Authentication-Results: {PASS}")).trusted


def test_fastmail_subdomains_are_covered_by_the_parent() -> None:
    fastmail = TrustSettings(authserv_ids=("messagingengine.com",))
    message = delivered("Received: from compute2.internal by sloti36d2t01 (Cyrus) with LMTPA",
                        "Authentication-Results: mx6.messagingengine.com; dkim=pass header.d=westbrook.edu; "
                        "dmarc=pass policy.published-domain-policy=none header.from=westbrook.edu",
                        "Received: from mail.westbrook.edu by mx6.messagingengine.com (Postfix) with ESMTPS")
    assert assess_sender(message, fastmail, outbound=False).trusted


def test_without_configured_trust_nobody_is_believed() -> None:
    verdict = assess_sender(parse(received(PASS)), TrustSettings(), outbound=False)
    assert not verdict.trusted and "partnerships trust detect" in verdict.reason


def inbound_message(message: Message) -> TrustVerdict:
    return assess_sender(message, GOOGLE, outbound=False)


def test_trust_detect_proposes_the_server_that_writes_the_topmost_header() -> None:
    example = [parse(m.as_bytes()) for m in mailbox.mbox(str(PROJECT_ROOT / "examples" / "inbox.mbox"))]
    proposal = propose_trust(example)
    assert proposal.authserv_ids == ("mx.google.com",) and proposal.messages == 63
    fastmail = [delivered(f"Authentication-Results: mx{n}.messagingengine.com; dmarc=pass header.from=a.org",
                          f"Received: from a by mx{n}.messagingengine.com") for n in (1, 2, 6, 6)]
    assert propose_trust(fastmail).authserv_ids == ("messagingengine.com",)
    ms = [delivered(f"Authentication-Results: {M365_PASS}", f"Received: from a by BN{n}.mail.protection.outlook.com")
          for n in range(3)]
    assert propose_trust(ms).authserv_ids == ("mail.protection.outlook.com",)
    assert propose_trust([delivered("Received: from a by b")]).authserv_ids == ()


def test_trust_detect_over_the_example_mailbox() -> None:
    code, out, _ = run_cli("trust", "detect")
    assert code == 0 and 'authserv_ids = ["mx.google.com"]' in out
    assert "topmost Authentication-Results written by mx.google.com: 49" in out


def test_trust_detect_reads_an_imap_mailbox_without_changing_it(dovecot: DovecotServer, tmp_path: Path) -> None:
    for n in range(4):
        dovecot.append("INBOX", "\r\n".join([
            f"Received: from BN{n}.namprd04.prod.outlook.com by SA1PR.namprd04.prod.outlook.com with HTTPS",
            f"Authentication-Results: {M365_PASS}",
            f"Received: from mail.westbrook.edu (198.51.100.7) by BN{n}PEPF0.mail.protection.outlook.com",
            f"From: {MARIA}", "To: partnerships@example.test", f"Message-ID: <d{n}@westbrook.edu>", "Subject: hi",
            "", "hello", ""]).encode())
    config = write_daemon_config(tmp_path, dovecot, None, leads_csv="name,status,contact_emails,domain,"
                                 "service_tier,monthly_fee,cloud_billing_managed,service_start,notes\n")
    code, out, _ = run_cli("trust", "detect", "--messages", "3", "--config", str(config))
    assert code == 0, out
    assert "read the 3 newest message(s) of imap:INBOX" in out
    assert 'authserv_ids = ["mail.protection.outlook.com"]' in out
    assert all(b"\\Seen" not in flags for flags in dovecot.flags("INBOX").values())


def test_forward_caps_count_per_sender_too() -> None:
    from datetime import UTC, datetime, timedelta

    from daemon.core.decide import ForwardLog

    log = ForwardLog()
    now = datetime(2026, 11, 2, tzinfo=UTC)
    for hours in (1, 2, 30):
        log.add(f"lead{hours}", "a@x.org", now - timedelta(hours=hours))
    limits = log.limits("lead9", "a@x.org", now, per_lead=3, per_sender=2)
    assert (limits.lead_count, limits.sender_count) == (0, 2)
    assert limits.exceeded("L", "a@x.org") == "rate limit: 2 forwards from a@x.org in 24 hours " \
                                             "(max_forwards_per_sender = 2)"


def test_check_and_status_say_in_one_line_that_nobody_is_trusted(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[source]\npath = "{PROJECT_ROOT / "examples" / "inbox.mbox"}"\n')
    state = ["--config", str(config), "--state", str(tmp_path / "state")]
    for command in ("check", "status"):
        code, out, _ = run_cli(command, *state)
        [line] = [line for line in out.splitlines() if line.startswith("trust:")]
        assert code == 0 and "no trusted receiving server configured" in line
        assert "run `partnerships trust detect` and set [trust] authserv_ids" in line
    code, out, _ = run_cli("check")  # the embedded demo trusts the example mailbox's server, and says so
    assert "trust: Authentication-Results from mx.google.com" in out


@pytest.mark.sqlite_only("the mode of the SQLite file")
def test_check_names_a_state_file_others_can_read(tmp_path: Path) -> None:
    state = ["--config", str(tmp_path / "c.toml"), "--state", str(tmp_path / "state")]
    (tmp_path / "c.toml").write_text(f'[source]\npath = "{PROJECT_ROOT / "examples" / "inbox.mbox"}"\n')
    assert run_cli("run", "--once", *state)[0] == 0
    (tmp_path / "state" / "partnerships.sqlite3").chmod(0o644)
    assert "partnerships.sqlite3 is 0644 (want 0600)" in run_cli("check", *state)[1]
