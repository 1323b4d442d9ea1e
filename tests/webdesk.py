"""Helpers for the web desk tests: a state replayed from the example mailbox, accounts, signing in, form tokens."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from factories import run_cli
from postgres_mode import clone_state
from starlette.testclient import TestClient

from daemon.runtime import Runtime, load_config, open_runtime
from daemon.settings import PROJECT_ROOT
from daemon.state import accounts
from daemon.web.app import create_app
from daemon.web.auth import WebSettings, hash_password

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-22"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def replay_example(state: Path) -> Path:
    """`partnerships replay examples/inbox.mbox` into `state`: 3 review items wait afterwards."""
    code, _, err = run_cli("replay", str(PROJECT_ROOT / "examples" / "inbox.mbox"), "--state", str(state))
    assert code == 0, err
    return state


def copy_state(source: Path, target: Path) -> Path:
    """A copy of the state in `source` (its directory, and on PostgreSQL its database)."""
    shutil.copytree(source, target)
    clone_state(source, target)
    return target


def open_desk(state: Path, settings: WebSettings | None = None, config: Path | None = None) -> tuple[Runtime, object]:
    runtime = open_runtime(load_config(config, state_dir=state))
    for name, password in PASSWORDS.items():
        accounts.set_password(runtime.sessions, name, hash_password(password))
    return runtime, create_app(runtime, settings or WebSettings())


def client(app: object, address: str = "192.0.2.10") -> TestClient:
    """https, so the Secure cookie is sent back, as a browser would."""
    return TestClient(app, base_url="https://desk.test", follow_redirects=False, client=(address, 40000))  # type: ignore[arg-type]


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(browser: TestClient, name: str, password: str | None = None) -> str:
    """Sign in through the form; returns the session's CSRF token (from the review page)."""
    form = browser.get("/login")
    response = browser.post("/login", data={"csrf": csrf_in(form.text), "username": name,
                                            "password": password or PASSWORDS[name], "next": "/review"})
    assert response.status_code == 303, response.text
    return csrf_in(browser.get("/review").text)
