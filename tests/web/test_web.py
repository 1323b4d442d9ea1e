"""The web desk's routes over Starlette's TestClient on a state replayed from the example mailbox: sign-in,
every page, CSRF, review decisions (once, even when two people click at once), SSO header trust, metrics."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import example_done_actions, raw_email, run_cli
from postgres_mode import env_for_state
from sqlalchemy import select, update
from webdesk import PASSWORDS, client, copy_state, csrf_in, open_desk, replay_example, sign_in

from daemon.errors import ConfigError
from daemon.runtime import Runtime
from daemon.state.models import (
    DONE,
    FAILED,
    ActionRow,
    Base,
    LabelledExample,
    LeadRow,
    Quarantined,
    ReviewItem,
    SyncCursor,
    make_sessions,
)
from daemon.web.auth import WebSettings
from daemon.web.present import mark_sentences

PAGES = ["/", "/review", "/leads", "/leads/1", "/activity", "/activity?range=week", "/invoices", "/health"]
HARBORVIEW = "t21m2.fe23@harborview-ocean.org"


@pytest.fixture(scope="module")
def example_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return replay_example(tmp_path_factory.mktemp("example") / "state")


@pytest.fixture
def desk(example_state: Path, tmp_path: Path) -> Iterator[tuple[Runtime, object, Path]]:
    state = copy_state(example_state, tmp_path / "state")
    runtime, app = open_desk(state)
    yield runtime, app, state


def item_id(runtime: Runtime, message_id: str) -> int:
    with runtime.sessions() as session:
        return session.scalar(select(ReviewItem.id).where(ReviewItem.message_id == message_id))


def test_no_page_without_sign_in(desk) -> None:
    _, app, _ = desk
    browser = client(app)
    for path in [*PAGES, "/metrics", "/forwards/1.eml"]:
        response = browser.get(path)
        assert response.status_code in (303, 401), path
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next="), path
    for path in ("/review/1/approve", "/review/1/reject", "/review/1/intent", "/logout",
                 "/activity/quarantine/1/retry", "/activity/actions/1/retry"):
        assert browser.post(path, data={"csrf": "x"}).status_code == 401, path
    assert browser.get("/healthz").text == "ok\n"


def test_sign_in_cookie_headers_and_every_page(desk) -> None:
    _runtime, app, _ = desk
    browser = client(app)
    form = browser.get("/login")
    response = browser.post("/login", data={"csrf": csrf_in(form.text), "username": "alice",
                                            "password": PASSWORDS["alice"], "next": "/leads"})
    assert response.status_code == 303 and response.headers["location"] == "/leads"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("__Host-desk_session="))
    for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower(), cookie
    for path in PAGES:
        page = browser.get(path)
        assert page.status_code == 200, path
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY" and "alice" in page.text
    review = browser.get("/review").text
    assert "3 waiting" in review and HARBORVIEW.split("@")[1] in review
    assert "is not a known contact of Harborview" in review  # why it waits
    for label in ("Unknown contact", "Low confidence", "Move not allowed"):
        assert f'<span class="pill open">{label}</span>' in review
    assert "move Harborview Institute of Oceanography from Active Lead to Needs Admin" in review
    assert "This email confirms a NEW SERVICE for Harborview Institute of Oceanography" in review  # the note
    assert "<mark>Sounds good, let&#39;s do it!</mark>" in review  # the deciding sentence
    board = browser.get("/leads?q=harborview").text
    assert "Harborview Institute of Oceanography" in board and "Pinecrest" not in board and "1 to review" in board
    assert "partnerships_review_items_open 3.0" in browser.get("/metrics").text


def test_wrong_password_then_rate_limited_even_with_the_right_one(desk) -> None:
    _, app, _ = desk
    browser = client(app)
    for _ in range(5):
        form = browser.get("/login")
        failed = browser.post("/login", data={"csrf": csrf_in(form.text), "username": "alice", "password": "wrong"})
        assert failed.status_code == 401 and "Wrong name or password" in failed.text
    form = browser.get("/login")
    limited = browser.post("/login", data={"csrf": csrf_in(form.text), "username": "alice",
                                           "password": PASSWORDS["alice"]})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    # the limit is per account and per address: another account from another address signs in
    assert sign_in(client(app, "192.0.2.99"), "bob")


def test_parallel_guesses_are_limited_too(desk) -> None:
    _, app, _ = desk
    browsers = [client(app, "192.0.2.77") for _ in range(12)]
    tokens = [csrf_in(browser.get("/login").text) for browser in browsers]
    barrier = threading.Barrier(len(browsers))
    codes: list[int] = []

    def guess(index: int) -> None:
        barrier.wait()
        codes.append(browsers[index].post("/login", data={"csrf": tokens[index], "username": "alice",
                                                           "password": f"guess-{index}"}).status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [401] * 5 + [429] * 7


def test_sign_in_form_needs_its_own_token_and_next_stays_on_site(desk) -> None:
    _, app, _ = desk
    browser = client(app)
    browser.get("/login")
    stale = browser.post("/login", data={"csrf": "forged", "username": "alice", "password": PASSWORDS["alice"]})
    assert stale.status_code == 403
    form = browser.get("/login")
    response = browser.post("/login", data={"csrf": csrf_in(form.text), "username": "alice",
                                            "password": PASSWORDS["alice"], "next": "//evil.example/x"})
    assert response.headers["location"] == "/"


def test_csrf_rejected_and_get_changes_nothing(desk) -> None:
    runtime, app, _ = desk
    browser = client(app)
    sign_in(browser, "alice")
    target = item_id(runtime, HARBORVIEW)
    assert browser.get(f"/review/{target}/approve").status_code == 405
    for token in (None, "", "not-the-token"):
        data = {} if token is None else {"csrf": token}
        for verb in ("approve", "reject", "intent"):
            assert browser.post(f"/review/{target}/{verb}", data=data).status_code == 403
    # another person's token is not this session's
    other = client(app)
    bob_token = sign_in(other, "bob")
    assert browser.post(f"/review/{target}/approve", data={"csrf": bob_token}).status_code == 403
    with runtime.sessions() as session:
        assert session.get(ReviewItem, target).status == "open"


def test_approve_once_under_double_click_and_two_people(desk) -> None:
    runtime, app, state = desk
    target = item_id(runtime, HARBORVIEW)
    outbox = state / "outbox"
    before = set(outbox.iterdir())
    browsers = [client(app), client(app, "192.0.2.11")]
    tokens = [sign_in(browsers[0], "alice"), sign_in(browsers[1], "bob")]
    # alice double-clicks, bob clicks at the same moment: four requests released together
    plan = [(0, tokens[0]), (0, tokens[0]), (1, tokens[1]), (1, tokens[1])]
    barrier = threading.Barrier(len(plan))
    codes: list[int] = []

    def click(index: int, token: str) -> None:
        barrier.wait()
        codes.append(browsers[index].post(f"/review/{target}/approve", data={"csrf": token}).status_code)

    threads = [threading.Thread(target=click, args=step) for step in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(codes) == [303, 409, 409, 409]
    written = set(outbox.iterdir()) - before
    assert len(written) == 1 and HARBORVIEW.encode() in written.pop().read_bytes()
    with runtime.sessions() as session:
        item = session.get(ReviewItem, target)
        assert item.status == "approved" and item.decided_by in ("alice", "bob")
        keys = [a["key"] for a in item.proposed]
        actions = list(session.scalars(select(ActionRow).where(ActionRow.key.in_(keys))))
        assert sorted(a.kind for a in actions) == ["add_contact", "forward", "record_evidence", "set_facts",
                                                   "set_status"]
        assert all(a.status == DONE and a.attempts == 1 for a in actions)
        lead = session.scalar(select(LeadRow).where(LeadRow.name == "Harborview Institute of Oceanography"))
        assert lead.status == "Needs Admin"
    again = browsers[0].post(f"/review/{target}/approve", data={"csrf": tokens[0]})
    assert again.status_code == 409 and "already approved by" in again.text
    page = browsers[0].get("/review").text
    assert f'id="decided-{target}"' in page and "forward: done" in page
    # the lead page links the forward; the .eml downloads, never rendered as a page
    lead_page = browsers[0].get(f"/leads/{lead.id}").text
    assert f"approved by <strong>{item.decided_by}</strong> in review" in lead_page
    link = next(part.split('"')[0] for part in lead_page.split('href="/forwards/')[1:])
    eml = browsers[0].get(f"/forwards/{link}")
    assert eml.status_code == 200 and eml.headers["content-type"].startswith("message/rfc822")
    assert "attachment" in eml.headers["content-disposition"] and HARBORVIEW.encode() in eml.content


def test_forward_download_stays_inside_the_outbox(desk) -> None:
    runtime, app, _ = desk
    browser = client(app)
    sign_in(browser, "alice")
    with runtime.sessions.begin() as session:
        forward = session.scalar(select(ActionRow).where(ActionRow.kind == "forward", ActionRow.status == DONE))
        session.execute(update(ActionRow).where(ActionRow.id == forward.id).values(result={"sent_to": "/etc/passwd"}))
    assert browser.get(f"/forwards/{forward.id}.eml").status_code == 404
    assert browser.get("/forwards/99999.eml").status_code == 404


def test_reject_records_the_person_and_does_nothing(desk) -> None:
    runtime, app, state = desk
    browser = client(app)
    token = sign_in(browser, "bob")
    target = item_id(runtime, HARBORVIEW)
    files = set((state / "outbox").iterdir())
    assert browser.post(f"/review/{target}/reject", data={"csrf": token}).status_code == 303
    assert set((state / "outbox").iterdir()) == files
    with runtime.sessions() as session:
        item = session.get(ReviewItem, target)
        assert (item.status, item.decided_by) == ("rejected", "bob")
        assert session.scalar(select(ActionRow).where(ActionRow.key == f"forward:{HARBORVIEW}:service_confirmation")) \
            is None
    assert f"#{target} service_confirmation: <strong>rejected</strong> by bob" in browser.get("/review").text
    # the CLI sees the same decision
    code, _, err = run_cli("review", "approve", str(target), "--state", str(state))
    assert code == 2 and "already rejected by bob" in err


def test_change_intent_stores_a_labelled_example(desk) -> None:
    runtime, app, _ = desk
    browser = client(app)
    token = sign_in(browser, "alice")
    target = item_id(runtime, "t18m2.ab62@redwoodcoast.edu")
    assert browser.post(f"/review/{target}/intent", data={"csrf": token, "intent": "no-such-intent"}).status_code \
        == 409
    assert browser.post(f"/review/{target}/intent", data={"csrf": token, "intent": "other"}).status_code == 303
    with runtime.sessions() as session:
        example = session.scalar(select(LabelledExample))
        assert (example.message_id, example.intent, example.previous_intent, example.labelled_by) == (
            "t18m2.ab62@redwoodcoast.edu", "other", "service_confirmation", "alice")
        assert "Sounds good, let's do it!" in example.text and example.labelled_at is not None
        assert session.get(ReviewItem, target).status == "open"  # still to approve or reject
    assert "Marked as <strong>other</strong> by alice" in browser.get("/review").text


def test_sso_header_is_believed_only_from_the_proxy(example_state: Path, tmp_path: Path) -> None:
    settings = WebSettings(sso_header="X-Forwarded-Email", trusted_proxies=("10.1.0.0/16",))
    runtime, app = open_desk(copy_state(example_state, tmp_path / "state"), settings)
    header = {"X-Forwarded-Email": "Dana@Example.org"}
    forged = client(app, "192.0.2.50").get("/review", headers=header)
    assert forged.status_code == 303 and forged.headers["location"].startswith("/login")
    proxied = client(app, "10.1.2.3")
    page = proxied.get("/review", headers=header)
    assert page.status_code == 200 and "dana@example.org" in page.text
    target = item_id(runtime, HARBORVIEW)
    assert proxied.post(f"/review/{target}/reject", headers=header, data={}).status_code == 403  # CSRF still
    decided = proxied.post(f"/review/{target}/reject", headers=header, data={"csrf": csrf_in(page.text)})
    assert decided.status_code == 303
    with runtime.sessions() as session:
        assert session.get(ReviewItem, target).decided_by == "dana@example.org"
    # the same cookie with another person named by the proxy is that other person, not dana
    assert "erin@example.org" in proxied.get("/review", headers={"X-Forwarded-Email": "erin@example.org"}).text


def test_settings_fail_closed() -> None:
    with pytest.raises(ConfigError, match=r"only for http://127\.0\.0\.1"):
        WebSettings(host="0.0.0.0", insecure_cookie=True)
    with pytest.raises(ConfigError, match="needs --trusted-proxy"):
        WebSettings(sso_header="X-Forwarded-Email")
    with pytest.raises(ConfigError, match="not an IP address"):
        WebSettings(sso_header="X-Forwarded-Email", trusted_proxies=("proxy.example",))


def test_hostile_message_renders_inert(example_state: Path, tmp_path: Path) -> None:
    state = copy_state(example_state, tmp_path / "state")
    mail = tmp_path / "mail"
    mail.mkdir()
    # an unauthenticated confirmation from a known contact: it waits for review, content shown in full
    (mail / "hostile.eml").write_bytes(raw_email(
        sender="Rosa Ortiz <rortiz@pinecrest.edu>", message_id="evil1@pinecrest.edu", authenticated=False,
        subject="<script>alert('s')</script> {{ 7*7 }} Hub",
        body="We would like to go ahead with the Small tier. <script>alert('b')</script>\n"
             "{{ config }} {% raw %} <a href=\"javascript:alert(1)\">click</a> javascript:alert(2)\n"
             "<img src=x onerror=alert(3)>\n"))
    assert run_cli("replay", str(mail), "--state", str(state))[0] == 0
    runtime, app = open_desk(state)
    browser = client(app)
    sign_in(browser, "alice")
    html = browser.get("/review").text
    assert "&lt;script&gt;alert(&#39;s&#39;)&lt;/script&gt; {{ 7*7 }} Hub" in html
    assert "&lt;script&gt;alert(&#39;b&#39;)&lt;/script&gt;" in html
    assert "{{ config }} {% raw %}" in html and "49" not in html.split("Hub")[0][-50:]
    assert "<script" not in html and "<img" not in html and 'href="javascript:' not in html
    assert "&lt;a href=&#34;javascript:alert(1)&#34;&gt;click&lt;/a&gt;" in html
    lead = next(lead for lead in runtime.leads.all() if lead.name == "Pinecrest Community College")
    lead_html = browser.get(f"/leads/{lead.id}").text
    assert "<script" not in lead_html and "&lt;script&gt;" in lead_html


def test_quarantine_and_failed_action_retry(example_state: Path, tmp_path: Path) -> None:
    state = copy_state(example_state, tmp_path / "state")
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "broken.eml").write_bytes(b"\x00\x01 not a message")
    run_cli("replay", str(mail), "--state", str(state))
    runtime, app = open_desk(state)
    browser = client(app)
    token = sign_in(browser, "alice")
    with runtime.sessions.begin() as session:
        quarantined = session.scalar(select(Quarantined))
        forward = session.scalar(select(ActionRow).where(ActionRow.kind == "forward"))
        session.execute(update(ActionRow).where(ActionRow.id == forward.id).values(
            status=FAILED, last_error="relay refused: 554 policy", result={}))
    page = browser.get("/activity").text
    assert "not an email: no header block" in page and "relay refused: 554 policy" in page
    assert browser.post(f"/activity/quarantine/{quarantined.id}/retry", data={"csrf": token}).status_code == 303
    assert browser.post(f"/activity/actions/{forward.id}/retry", data={"csrf": token}).status_code == 303
    assert browser.post("/activity/actions/999999/retry", data={"csrf": token}).status_code == 404
    with runtime.sessions() as session:
        # Run through the pipeline again: still not an email, so it stays, with the time of the retry.
        again = session.get(Quarantined, quarantined.id)
        assert again is not None and again.retried_at is not None
        assert session.get(SyncCursor, quarantined.source).last_uid == quarantined.source_uid  # cursor untouched
        retried = session.get(ActionRow, forward.id)
        assert retried.status == DONE and retried.attempts == 1  # a fresh count, carried out again


def test_metrics_token_and_logout(example_state: Path, tmp_path: Path) -> None:
    settings = WebSettings(metrics_token="scrape-token-123")
    _, app = open_desk(copy_state(example_state, tmp_path / "state"), settings)
    scraper = client(app)
    assert scraper.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    metrics = scraper.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    # Bayside's end of service waits, pending, for its stated date (December 31)
    assert f'partnerships_actions{{status="done"}} {example_done_actions()}.0' in metrics.text
    assert 'partnerships_leads{status="Needs Admin"}' in metrics.text
    browser = client(app)
    token = sign_in(browser, "alice")
    assert browser.post("/logout", data={"csrf": token}).status_code == 303
    assert browser.get("/review").status_code == 303


def test_users_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = str(tmp_path / "state")
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run_cli("users", "add", "carol", "--state", state)
    assert code == 2 and "at least 10 characters" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert run_cli("users", "add", "carol", "--state", state)[:2] == (0, "added carol\n")
    assert "carol" in run_cli("users", "list", "--state", state)[1]
    sessions = make_sessions(tmp_path / "state" / "partnerships.sqlite3")
    with sessions() as session:  # every row of every table: the password is stored nowhere, only its hash
        stored = repr([session.execute(select(table)).all() for table in Base.metadata.sorted_tables])
    sessions.kw["bind"].dispose()
    assert "carol" in stored and "a long enough password" not in stored
    assert run_cli("users", "remove", "carol", "--state", state)[0] == 0
    assert run_cli("users", "remove", "carol", "--state", state)[0] == 2


def test_deciding_sentence_is_marked() -> None:
    segments = mark_sentences("Hi Sam,\nThanks. We would like to go ahead with Medium. Best,\nMaria",
                              ["subject: hub", "go ahead with"])
    assert [s.text for s in segments if s.marked] == ["We would like to go ahead with Medium."]
    assert "".join(s.text for s in segments) == "Hi Sam,\nThanks. We would like to go ahead with Medium. Best,\nMaria"


def test_oversized_or_unsized_forms_are_not_read(desk) -> None:
    runtime, app, _ = desk
    browser = client(app)
    token = sign_in(browser, "alice")
    target = item_id(runtime, HARBORVIEW)
    huge = browser.post(f"/review/{target}/approve", data={"csrf": token, "pad": "x" * 100_000})
    assert huge.status_code == 413
    chunked = browser.post(f"/review/{target}/approve", content=iter([f"csrf={token}".encode()]),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert chunked.status_code == 413
    assert client(app).post("/login", data={"pad": "x" * 100_000}).status_code == 413
    with runtime.sessions() as session:
        assert session.get(ReviewItem, target).status == "open"


def test_partnerships_web_serves_on_loopback(example_state: Path, tmp_path: Path) -> None:
    state = copy_state(example_state, tmp_path / "state")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "daemon", "web", "--state", str(state), "--listen", f"127.0.0.1:{port}"]
    env = env_for_state(state)
    refused = subprocess.run([*command[:-1], "0.0.0.0:8025", "--insecure-cookie"], capture_output=True,
                             text=True, timeout=60, env=env)
    assert refused.returncode == 2 and "only for http://127.0.0.1" in refused.stderr
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.read() == b"ok\n"
                    break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read()
                time.sleep(0.1)
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirected:
            opener.open(f"http://127.0.0.1:{port}/review", timeout=5)
        assert redirected.value.code == 303 and redirected.value.headers["location"] == "/login?next=/review"
    finally:
        server.terminate()
        server.communicate(timeout=15)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None
