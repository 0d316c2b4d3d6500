"""Public subscribe routes: subscribe to a status page, confirm, unsubscribe.

- POST /s/{slug}/subscribe: a form post (fields `email`, or `webhook`; `components`
  repeated, none meaning all of the page) answered by a 303 back to /s/{slug}?subscribed=1,
  or JSON (the same fields, `components` a list) answered 202 in JSON. The answer is the
  same whether the address was subscribed before or not.
- GET /s/{slug}/confirm/{token}: the link of the confirmation mail; confirms.
- GET /s/{slug}/unsubscribe/{token}: a page with one button; POST there unsubscribes. The
  POST is also RFC 8058's one-click unsubscribe, which mail clients send for the
  List-Unsubscribe header, so it needs no page and answers 200 even when already gone.

Subscribing is rate limited per client IP (a sliding window kept in memory, per process):
each POST counts, valid or not, and the one over the limit is answered 429 with
Retry-After. Behind a reverse proxy the client IP is the one uvicorn's proxy headers
give. The pages are plain HTML from templates/subscribe/, working without JavaScript.
"""

from __future__ import annotations

import json
import math
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from upstate.config.pages import StatusPage
from upstate.errors import NotFound, UpstateError, UsageError
from upstate.services import subscribers
from upstate.web.deps import BaseUrl, Now, State, WriteSession
from upstate.web.errors import error_response

router = APIRouter()

TEMPLATES = Path(__file__).parent.parent / "templates"
SUBSCRIBE_LIMIT = 5  # subscribe requests per client IP …
SUBSCRIBE_WINDOW = 600.0  # … per this many seconds
MAX_BODY = 16 * 1024


class SlidingWindow:
    """At most `limit` hits per key in any `window` seconds; remembers at most `max_keys`
    keys (the least recently seen are forgotten first, so a flood of addresses cannot
    grow it without bound)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Count a hit at `now` (seconds); None when allowed, else the seconds to wait."""
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            self._hits[key] = hits
            return max(hits[0] + self.window - now, 1.0)
        hits.append(now)
        self._hits[key] = hits  # re-inserted: the dict's order is least recently seen first
        while len(self._hits) > self.max_keys:
            del self._hits[next(iter(self._hits))]
        return None


def subscribe_limiter(request: Request) -> SlidingWindow:
    """The app's limiter, made on first use (a test may put its own on app.state first)."""
    limiter: SlidingWindow | None = getattr(request.app.state, "subscribe_limiter", None)
    if limiter is None:
        limiter = SlidingWindow(SUBSCRIBE_LIMIT, SUBSCRIBE_WINDOW)
        request.app.state.subscribe_limiter = limiter
    return limiter


@router.post("/s/{slug}/subscribe", response_model=None)
async def subscribe(
    slug: str,
    request: Request,
    session: WriteSession,
    state: State,
    now: Now,
    base_url: BaseUrl,
) -> Response:
    wants_json = _wants_json(request)
    client = request.client.host if request.client else "unknown"
    wait = subscribe_limiter(request).hit(client, now.timestamp())
    if wait is not None:
        headers = {"Retry-After": str(math.ceil(wait))}
        said = "too many subscribe requests from this address: try again later"
        if wants_json:
            return error_response(429, "too_many_requests", said, headers=headers)
        return _page(429, "Please wait", said[0].upper() + said[1:] + ".", headers=headers)
    page = _page_of(state.live.config.status_pages, slug)
    try:
        if page is None:
            raise NotFound(f"no status page has the slug {slug!r}")
        kind, address, components = _subscription(await _fields(request))
        subscriber = await subscribers.subscribe(
            session,
            slug,
            kind,
            address,
            components,
            config=state.live.config,
            secrets=state.secrets,
            now=now,
            base_url=base_url,
        )
    except UpstateError as exc:
        await session.rollback()
        if wants_json:
            raise
        return _page(exc.http_status, "Not subscribed", exc.message, page=page)
    await session.commit()
    state.notifier.wake()
    if wants_json:
        pending = subscriber.kind == "email"
        message = (
            "check your inbox: the subscription starts when you confirm it"
            if pending
            else "subscribed"
        )
        return JSONResponse(
            {"status": "pending" if pending else "subscribed", "message": message},
            status_code=202,
        )
    return RedirectResponse(f"/s/{quote(slug)}?subscribed=1", status_code=303)


@router.get("/s/{slug}/confirm/{token}", response_class=HTMLResponse)
async def confirm(slug: str, token: str, session: WriteSession, state: State, now: Now) -> Response:
    page = _page_of(state.live.config.status_pages, slug)
    found = await subscribers.by_token(session, token)
    if found is None or found.page != slug:
        return _page(
            404, "Link not valid", "This confirmation link is not valid any more.", page=page
        )
    await subscribers.confirm(session, token, now)
    return _page(
        200,
        "Subscription confirmed",
        "You will be told about incidents and maintenance on this status page. "
        "Every message has a link to unsubscribe.",
        page=page,
        role="status",
    )


@router.get("/s/{slug}/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(slug: str, token: str, session: WriteSession, state: State) -> Response:
    page = _page_of(state.live.config.status_pages, slug)
    found = await subscribers.by_token(session, token)
    if found is None or found.page != slug:
        return _page(
            404,
            "Link not valid",
            "This unsubscribe link is not valid any more: you may be unsubscribed already.",
            page=page,
        )
    return _page(
        200,
        "Unsubscribe",
        "Stop receiving notifications from this status page?",
        page=page,
        form=(f"/s/{quote(slug)}/unsubscribe/{quote(token)}", "Unsubscribe"),
    )


@router.post("/s/{slug}/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(slug: str, token: str, session: WriteSession, state: State) -> Response:
    page = _page_of(state.live.config.status_pages, slug)
    found = await subscribers.by_token(session, token)
    if found is not None and found.page == slug:
        await subscribers.unsubscribe(session, token)
    return _page(
        200,
        "Unsubscribed",
        "You will receive no more notifications from this status page.",
        page=page,
        role="status",
    )


# --- helpers ---------------------------------------------------------------------------


def _page_of(pages: tuple[StatusPage, ...], slug: str) -> StatusPage | None:
    return next((page for page in pages if page.slug == slug), None)


def _wants_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accept = request.headers.get("accept", "").lower()
    return content_type == "application/json" or (
        "application/json" in accept and "text/html" not in accept
    )


async def _fields(request: Request) -> dict[str, Any]:
    """The posted fields: JSON object, or an urlencoded form (lists for repeated names)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise UsageError("the request is too large")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise UsageError("the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise UsageError("the body must be a JSON object")
        return data
    if content_type in ("application/x-www-form-urlencoded", ""):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=False)
        fields: dict[str, Any] = {name: values[-1] for name, values in form.items()}
        fields["components"] = form.get("components", [])
        return fields
    raise UsageError("send the form as application/x-www-form-urlencoded, or JSON")


def _subscription(fields: dict[str, Any]) -> tuple[str, str, list[str]]:
    """(kind, address, components) from the posted fields."""
    email, webhook = fields.get("email"), fields.get("webhook")
    if isinstance(email, str) and email.strip() and not webhook:
        kind, address = "email", email
    elif isinstance(webhook, str) and webhook.strip() and not email:
        kind, address = "webhook", webhook
    else:
        raise UsageError("give an email address (`email`) or a webhook URL (`webhook`)")
    components = fields.get("components") or []
    if isinstance(components, str):
        components = [components]
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise UsageError("`components` is a list of component codes")
    return kind, address, components


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _page(
    status: int,
    heading: str,
    message: str,
    *,
    page: StatusPage | None = None,
    form: tuple[str, str] | None = None,
    role: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    html = (
        _environment()
        .get_template("subscribe/message.html")
        .render(
            heading=heading,
            message=message,
            page_title=page.title if page else None,
            back_url=f"/s/{quote(page.slug)}" if page else None,
            form_action=form[0] if form else None,
            form_button=form[1] if form else None,
            status_role=role or ("alert" if status >= 400 else None),
        )
    )
    return HTMLResponse(html, status_code=status, headers=headers)
