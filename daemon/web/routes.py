"""The desk's pages and form actions. GET never changes state; every POST needs the session's CSRF token."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response

from daemon.core.handoff import new_hub_issue_url
from daemon.core.lead import STATUSES, Lead
from daemon.core.maniac import LABELS, LETTERS, EvidencePiece, checklist
from daemon.errors import DaemonError
from daemon.invoicing.months import month_of
from daemon.invoicing.render import render_batch
from daemon.state import accounts
from daemon.state import desk as queries
from daemon.state.accounts import SignedIn
from daemon.state.models import utcnow
from daemon.state.queries import status_report
from daemon.state.reviews import ReviewRefused, decide_review, relabel
from daemon.state.schema import describe
from daemon.web import auth
from daemon.web.desk import Desk, lead_names
from daemon.web.metrics import metrics_text
from daemon.web.present import ago, describe_actions, letters_covered, reason_labels, show_message

Handler = Callable[[Request], Awaitable[Response]]
# A column shows the most recently active leads; the text filter finds the others.
CARDS_PER_COLUMN = 100
LOGIN_COOKIE = "desk_login"  # the sign-in form's CSRF token (double submit): no session exists yet
MAX_FORM_BYTES = 16 * 1024


def _desk(request: Request) -> Desk:
    return request.app.state.desk  # type: ignore[no-any-return]


async def _identify(request: Request) -> tuple[SignedIn | None, bool]:
    return await run_in_threadpool(_desk(request).identify, request)


def page(handler: Handler) -> Handler:
    """A page for signed-in people only: others are sent to the sign-in form."""
    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        who, new_cookie = await _identify(request)
        if who is None:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        request.state.who = who
        response = await handler(request)
        if new_cookie:
            _desk(request).set_cookie(response, who)
        return response
    return wrapper


def action(handler: Handler) -> Handler:
    """A form action: signed in, and the form carries this session's CSRF token."""
    @functools.wraps(handler)
    async def wrapper(request: Request) -> Response:
        who, _ = await _identify(request)
        if who is None:
            return PlainTextResponse("sign in first", status_code=401)
        form = await _small_form(request)
        if form is None:
            return PlainTextResponse("the form is too large", status_code=413)
        if not auth.csrf_ok(who.csrf, str(form.get("csrf") or "")):
            return PlainTextResponse("the form is stale or was not sent by this site (CSRF check failed); "
                                     "reload the page and try again", status_code=403)
        request.state.who, request.state.form = who, form
        return await handler(request)
    return wrapper


async def _small_form(request: Request) -> FormData | None:
    """The desk's forms are a few short fields: a body without a length, or over MAX_FORM_BYTES, is not read."""
    length = request.headers.get("content-length", "")
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        return None
    return await request.form(max_files=0, max_fields=20)


def _common(request: Request, **variables: object) -> dict[str, object]:
    desk = _desk(request)
    return {"who": request.state.who, "open_reviews": queries.open_review_count(desk.sessions),
            "now": utcnow(), "ago": ago, "path": request.url.path, **variables}


def _int(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 12 else None


# -- signing in and out --------------------------------------------------------------------------------


async def login_form(request: Request, error: str = "", status_code: int = 200) -> Response:
    desk = _desk(request)
    token = auth.new_form_token()
    response = desk.render("login.html", status_code, error=error, csrf=token,
                           next=_safe_next(request.query_params.get("next", "/")))
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, secure=not desk.settings.insecure_cookie,
                        samesite="strict", path="/login", max_age=3600)
    return response


async def login(request: Request) -> Response:
    desk = _desk(request)
    form = await _small_form(request)
    if form is None:
        return PlainTextResponse("the form is too large", status_code=413)
    if not auth.csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), str(form.get("csrf") or "")):
        return await login_form(request, "The sign-in form expired; please try again.", 403)
    name = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")[:1000]
    peer = request.client.host if request.client else None
    address = auth.client_address(peer, request.headers.get("x-forwarded-for"), desk.settings.trusted_proxies)
    keys = (f"user:{name.lower()}", f"addr:{address}")
    wait, stamp = desk.limiter.attempt(*keys)
    if wait > 0:
        response = await login_form(request, f"Too many failed sign-ins; try again in {int(wait) + 1} s.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    stored = await run_in_threadpool(accounts.password_hash, desk.sessions, name)
    if not await run_in_threadpool(auth.password_matches, stored, password):
        return await login_form(request, "Wrong name or password.", 401)
    desk.limiter.succeeded(*keys, stamp)
    signed_in = await run_in_threadpool(accounts.start_session, desk.sessions, name, desk.settings.session_lifetime)
    response = RedirectResponse(_safe_next(str(form.get("next") or "/")), status_code=303)
    desk.set_cookie(response, signed_in)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site: never `//elsewhere` or `https://elsewhere` (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@action
async def logout(request: Request) -> Response:
    desk = _desk(request)
    await run_in_threadpool(accounts.end_session, desk.sessions, request.state.who.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(desk.settings.cookie_name, path="/")
    return response


# -- review --------------------------------------------------------------------------------------------


@page
async def home(request: Request) -> Response:
    if queries.open_review_count(_desk(request).sessions):
        return await review_queue(request)
    return RedirectResponse("/leads", status_code=303)


@page
async def review_queue(request: Request) -> Response:
    desk = _desk(request)
    cards = await run_in_threadpool(queries.review_queue, desk.sessions)
    leads = await run_in_threadpool(desk.leads)
    shown = [(card, show_message(card.raw, card.matched), reason_labels(card.reason),
              describe_actions(card.proposed, leads, desk.runtime.executor.renderer, desk.config.addresses.operations))
             for card in cards]
    recent = await run_in_threadpool(queries.recent_decisions, desk.sessions)
    return desk.render("review.html", **_common(request, cards=shown, leads=lead_names(leads), intents=desk.intents,
                                                recent=recent))


def decision(verdict: str) -> Handler:
    @action
    async def decide(request: Request) -> Response:
        desk = _desk(request)
        item_id = _int(request.path_params["item_id"])
        if item_id is None:
            return PlainTextResponse("no such review item", status_code=404)
        try:
            decided = await run_in_threadpool(lambda: decide_review(
                desk.sessions, item_id, approve=verdict == "approve", by=request.state.who.user))
        except ReviewRefused as exc:
            return desk.render("message.html", 409, **_common(request, title="Already decided", text=str(exc)))
        if decided.queued:
            await run_in_threadpool(desk.execute_queued)
        return RedirectResponse(f"/review#decided-{item_id}", status_code=303)
    decide.__name__ = f"review_{verdict}"
    return decide


@action
async def change_intent(request: Request) -> Response:
    desk = _desk(request)
    item_id = _int(request.path_params["item_id"])
    intent = str(request.state.form.get("intent") or "")
    if item_id is None:
        return PlainTextResponse("no such review item", status_code=404)
    try:
        await run_in_threadpool(lambda: relabel(desk.sessions, item_id, intent, request.state.who.user,
                                                intents=desk.intents))
    except ReviewRefused as exc:
        return desk.render("message.html", 409, **_common(request, title="Not changed", text=str(exc)))
    return RedirectResponse(f"/review#item-{item_id}", status_code=303)


# -- leads -----------------------------------------------------------------------------------------------


@page
async def board(request: Request) -> Response:
    desk = _desk(request)
    query = request.query_params.get("q", "").strip()[:200]
    leads = await run_in_threadpool(desk.leads)
    facts = await run_in_threadpool(queries.board_facts, desk.sessions)
    wanted = query.lower()
    columns: dict[str, list[Lead]] = {status: [] for status in STATUSES}
    for lead in leads.values():
        if wanted and not _lead_matches(lead, wanted):
            continue
        columns.setdefault(lead.status, []).append(lead)
    for cards in columns.values():
        cards.sort(key=lambda lead: facts.last_activity.get(lead.id) or datetime.min, reverse=True)
    return desk.render("board.html", **_common(request, columns=columns, facts=facts, query=query,
                                               letters=letters_covered, none_covered=frozenset(),
                                               per_column=CARDS_PER_COLUMN, currency=desk.config.currency))


def _lead_matches(lead: Lead, wanted: str) -> bool:
    fields = [lead.name, lead.domain or "", lead.service_tier or "", *lead.contact_emails]
    return any(wanted in value.lower() for value in fields)


@page
async def lead_page(request: Request) -> Response:
    desk = _desk(request)
    lead_id = request.path_params["lead_id"][:64]
    lead = (await run_in_threadpool(desk.leads)).get(lead_id)
    if lead is None:
        return desk.render("message.html", 404, **_common(request, title="No such lead", text=f"lead {lead_id}"))
    facts = await run_in_threadpool(queries.lead_facts, desk.sessions, lead_id)
    return desk.render("lead.html", **_common(request, lead=lead, facts=facts, currency=desk.config.currency,
                                              hub_url=_new_hub_url(desk, lead, facts), checklist=_checklist(facts)))


def _checklist(facts: queries.LeadFacts) -> list[tuple[str, str, list[EvidencePiece]]]:
    return [(letter, LABELS[letter], [p for p in facts.evidence if p.letter == letter]) for letter in LETTERS]


def _new_hub_url(desk: Desk, lead: Lead, facts: queries.LeadFacts) -> str:
    return new_hub_issue_url(
        desk.config.handoff, community=lead.name, tier=lead.service_tier, price=lead.monthly_fee,
        currency=desk.config.currency, contacts=lead.contact_emails, start_date=lead.service_start,
        maniac_summary=checklist(facts.evidence) if facts.evidence else "")


@page
async def forwarded_eml(request: Request) -> Response:
    """The forward as it was written to the outbox, as a download (never rendered by the browser)."""
    desk = _desk(request)
    action_id = _int(request.path_params["action_id"])
    where = await run_in_threadpool(queries.forward_file, desk.sessions, action_id) if action_id else None
    outbox = desk.config.outbox_dir.resolve()
    path = Path(where).resolve() if where else None
    if path is None or not path.is_relative_to(outbox) or not path.is_file():
        return PlainTextResponse("this forward was not written to the outbox folder (sent over SMTP?)",
                                 status_code=404)
    return FileResponse(path, media_type="message/rfc822", filename=path.name,
                        headers={"X-Content-Type-Options": "nosniff"})


# -- activity, invoices, health --------------------------------------------------------------------------


@page
async def activity(request: Request) -> Response:
    desk = _desk(request)
    span = "week" if request.query_params.get("range") == "week" else "today"
    now = utcnow()
    since = now - timedelta(days=7) if span == "week" else now.replace(hour=0, minute=0, second=0, microsecond=0)
    facts = await run_in_threadpool(queries.activity, desk.sessions, since)
    leads = await run_in_threadpool(desk.leads)
    return desk.render("activity.html", **_common(request, facts=facts, span=span, leads=lead_names(leads)))


@action
async def retry_quarantined(request: Request) -> Response:
    item = _int(request.path_params["item_id"])
    if item is None or await run_in_threadpool(_desk(request).retry_quarantined, item) is None:
        return PlainTextResponse("no such quarantined message", status_code=404)
    return RedirectResponse("/activity", status_code=303)


@action
async def retry_action(request: Request) -> Response:
    desk = _desk(request)
    item = _int(request.path_params["item_id"])
    if item is None or not await run_in_threadpool(queries.retry_failed_action, desk.sessions, item):
        return PlainTextResponse("no such failed action", status_code=404)
    await run_in_threadpool(desk.execute_queued)
    return RedirectResponse("/activity", status_code=303)


@page
async def invoices(request: Request) -> Response:
    desk = _desk(request)
    month = month_of(datetime.now(desk.config.invoice_schedule.zone).date())
    leads = await run_in_threadpool(desk.leads)
    try:
        rendered = await run_in_threadpool(render_batch, month, desk.config.tiers, desk.config.currency,
                                           list(leads.values()), desk.sessions,
                                           desk.runtime.executor.renderer, desk.runtime.executor.spend)
        batch, problem = rendered.batch, ""
    except DaemonError as exc:
        batch, problem = None, str(exc)
    past = await run_in_threadpool(queries.past_batches, desk.sessions)
    return desk.render("invoices.html", **_common(request, month=month, batch=batch, problem=problem, past=past))


@page
async def health(request: Request) -> Response:
    desk = _desk(request)
    facts = await run_in_threadpool(status_report, desk.sessions, describe(desk.config.database))
    messages = await run_in_threadpool(queries.message_count, desk.sessions)
    return desk.render("health.html", **_common(request, facts=facts, messages=messages,
                                                backend=desk.config.lead_backend))


async def metrics(request: Request) -> Response:
    """Prometheus text format: for a signed-in person, or a scraper with the configured bearer token."""
    desk = _desk(request)
    token = desk.settings.metrics_token
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not (token and auth.csrf_ok(token, bearer)):
        who, _ = await _identify(request)
        if who is None:
            return PlainTextResponse("sign in or send the metrics bearer token", status_code=401)
    body, content_type = await run_in_threadpool(metrics_text, desk)
    return Response(body, media_type=content_type)


async def healthz(request: Request) -> Response:
    """For monitoring without a sign-in: the database answers. Nothing about the mail is revealed."""
    desk = _desk(request)
    try:
        await run_in_threadpool(queries.open_review_count, desk.sessions)
    except Exception:  # any database failure is "not healthy", never a stack trace
        return PlainTextResponse("database unavailable\n", status_code=503)
    return PlainTextResponse("ok\n")
