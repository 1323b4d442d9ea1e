"""The web desk end to end in headless Chromium (Debian's /usr/bin/chromium driven by Playwright, no browser
download) against a real uvicorn server on loopback: sign in, review, approve, reject, change intent, board,
and a hostile message that stays inert. Screenshots of each page go to $PARTNERSHIPS_SCREENSHOTS if set."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from factories import raw_email, run_cli
from webdesk import PASSWORDS, open_desk, replay_example

from daemon.web.auth import WebSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
HARBORVIEW, SUMMIT, REDWOOD = ("t21m2.fe23@harborview-ocean.org", "t17m2.8d79@summitstate.edu",
                               "t18m2.ab62@redwoodcoast.edu")
HOSTILE_SUBJECT = "<script>alert('s')</script> {{ 7*7 }} Hub"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, object, Path]]:
    """The example state plus one hostile message, served over real HTTP on 127.0.0.1."""
    state = replay_example(tmp_path / "state")
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "hostile.eml").write_bytes(raw_email(
        sender="Rosa Ortiz <rortiz@pinecrest.edu>", message_id="evil1@pinecrest.edu", authenticated=False,
        subject=HOSTILE_SUBJECT,
        body="We would like to go ahead with the Small tier. <script>alert('b')</script>\n"
             "<a href=\"javascript:alert(1)\">click</a> <img src=x onerror=alert(3)> {{ config }}\n"))
    assert run_cli("replay", str(mail), "--state", str(state))[0] == 0
    port = _free_port()
    runtime, app = open_desk(state, WebSettings(port=port, insecure_cookie=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started:
                break
            thread.join(0.025)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}", runtime, state
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/install-test-deps.sh", pytrace=False)
    from playwright.sync_api import sync_playwright

    # Chromium writes its profile under these: keep them out of the home directory.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("PARTNERSHIPS_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_review_approve_reject_reclassify_in_chromium(served, browser, tmp_path: Path) -> None:
    base, runtime, state = served
    shots = _shots(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"{base}/review")
    assert "/login" in page.url
    page.screenshot(path=str(shots / "login.png"))
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORDS["alice"])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")

    cards = page.locator("article.review")
    assert cards.count() == 4  # the example's three and the hostile one
    assert "Why it waits" in cards.first.inner_text()
    page.screenshot(path=str(shots / "review.png"))

    # the hostile message: shown as text, nothing executed, no javascript: link, no injected element
    hostile = page.locator("article.review", has_text="pinecrest.edu")
    assert HOSTILE_SUBJECT in hostile.locator("h2").inner_text()
    assert "<script>alert('b')</script>" in hostile.locator(".mail").inner_text()
    assert page.locator("main script, main img").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    assert dialogs == []

    ids = {message_id: _item(runtime, message_id) for message_id in (HARBORVIEW, SUMMIT, REDWOOD)}
    outbox = state / "outbox"
    before = set(outbox.iterdir())
    page.locator(f"#item-{ids[HARBORVIEW]} button.approve").click()
    page.wait_for_url(f"{base}/review#decided-{ids[HARBORVIEW]}")
    decided = page.locator(f"#decided-{ids[HARBORVIEW]}").inner_text()
    assert "approved by alice" in decided and "forward: done" in decided
    written = set(outbox.iterdir()) - before
    assert len(written) == 1 and HARBORVIEW.encode() in written.pop().read_bytes()

    page.locator(f"#item-{ids[SUMMIT]} button.reject").click()
    page.wait_for_url(f"{base}/review#decided-{ids[SUMMIT]}")
    assert "rejected by alice" in page.locator(f"#decided-{ids[SUMMIT]}").inner_text()

    page.locator(f"#item-{ids[REDWOOD]} select[name=intent]").select_option("other")
    page.locator(f"#item-{ids[REDWOOD]} form.intent button").click()
    page.wait_for_url(f"{base}/review#item-{ids[REDWOOD]}")
    assert "Marked as other by alice" in page.locator(f"#item-{ids[REDWOOD]}").inner_text()
    assert page.locator("article.review").count() == 2  # redwood (still open) and the hostile one

    page.goto(f"{base}/leads")
    needs_admin = page.locator("section.column", has=page.locator("h2", has_text="Needs Admin"))
    assert needs_admin.locator("a.lead", has_text="Harborview Institute of Oceanography").count() == 1
    page.screenshot(path=str(shots / "leads.png"))
    page.fill("input[name=q]", "harborview")
    page.click("form.filter button")
    assert page.locator("a.lead").count() == 1
    page.locator("a.lead").click()
    assert "Active Lead → Needs Admin" in page.locator("main").inner_text()
    assert page.locator("a[href^='/forwards/']").count() == 1
    page.screenshot(path=str(shots / "lead.png"), full_page=True)

    for name in ("activity", "invoices", "health"):
        page.goto(f"{base}/{name}")
        assert page.locator("h1").inner_text().startswith(name.capitalize())
        page.screenshot(path=str(shots / f"{name}.png"), full_page=name != "activity")
    assert dialogs == []

    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.context.add_cookies(page.context.cookies())
    phone.goto(f"{base}/review")
    # readable on a phone: nothing wider than the screen
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot(path=str(shots / "review-phone.png"))


def _item(runtime: object, message_id: str) -> int:
    from sqlalchemy import select

    from daemon.state.models import ReviewItem

    with runtime.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(ReviewItem.id).where(ReviewItem.message_id == message_id)))
