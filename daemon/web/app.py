"""The desk as an ASGI application: routes, static files and the security headers every response carries."""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from daemon.errors import DaemonError
from daemon.runtime import Runtime
from daemon.web import routes
from daemon.web.auth import WebSettings
from daemon.web.desk import Desk

log = logging.getLogger("daemon.web")
STATIC = Path(__file__).parent / "static"
# No scripts at all, no inline styles, no framing, forms only to ourselves.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name for name, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (name, value) for name, value in SECURITY_HEADERS if name not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def unavailable(request: Request, exc: Exception) -> Response:
    """A backend that cannot answer (the Airtable leads table, a broken template): say so, never a traceback."""
    log.error("page failed path=%s error=%s", request.url.path, exc)
    return PlainTextResponse(f"The desk cannot show this page right now: {exc}\n", status_code=503)


def create_app(runtime: Runtime, settings: WebSettings) -> Starlette:
    item = "/review/{item_id}"
    app = Starlette(exception_handlers={DaemonError: unavailable}, routes=[
        Route("/", routes.home),
        Route("/login", routes.login_form, methods=["GET"]),
        Route("/login", routes.login, methods=["POST"]),
        Route("/logout", routes.logout, methods=["POST"]),
        Route("/review", routes.review_queue),
        Route(f"{item}/approve", routes.decision("approve"), methods=["POST"]),
        Route(f"{item}/reject", routes.decision("reject"), methods=["POST"]),
        Route(f"{item}/intent", routes.change_intent, methods=["POST"]),
        Route("/leads", routes.board),
        Route("/leads/{lead_id}", routes.lead_page),
        Route("/forwards/{action_id}.eml", routes.forwarded_eml),
        Route("/activity", routes.activity),
        Route("/activity/quarantine/{item_id}/retry", routes.retry_quarantined, methods=["POST"]),
        Route("/activity/actions/{item_id}/retry", routes.retry_action, methods=["POST"]),
        Route("/invoices", routes.invoices),
        Route("/health", routes.health),
        Route("/metrics", routes.metrics),
        Route("/healthz", routes.healthz),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ])
    app.state.desk = Desk(runtime, settings)
    app.add_middleware(SecurityHeaders)
    return app
