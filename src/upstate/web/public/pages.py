"""The public status page in HTML: server-rendered, readable without JavaScript, live with it.

Routes, each at /s/{slug}/… and at the root of a request whose Host is a page's `domain`:
the page (`?rt=24h|7d|30d` picks the response-time window), `history?month=YYYY-MM`,
`incidents/{id}`, `heatmap`, `events` (SSE), and `login` (GET form, POST). `/static/…`
serves the stylesheet and script with a content hash in the URL and a one-year cache.

Decisions:

- **Everything through the public cache** (web.public.cache): the key is the route, the
  slug (or domain), whitelisted parameters and the resolved language, never a header.
  Private pages answer `Cache-Control: private` and check access before the cache.
- **Language**: the page's `language`, else the visitor's Accept-Language among the
  shipped catalogs (config.pages.LANGUAGES), else English. One Jinja environment per
  language, with the gettext catalog of web/locale/ installed.
- **Private pages**: `password` pages need the password, `signed_in` pages the API token
  (without a token the API is open, and so are they). /login sets an HttpOnly,
  SameSite=Lax cookie holding HMAC(key, slug + secret), never the secret itself; the key
  is UPSTATE_SECRET_KEY when set, else a random key per process (cookies then last until
  a restart). Changing the password invalidates every cookie.
- **Live updates**: one `PageWatch` per page (not per connection) rebuilds the PageView
  every second while someone listens and sends `event: change` to every listener when
  its fingerprint changes; listeners get a heartbeat comment every 15 s; at most
  MAX_LISTENERS connections in all (503 beyond). The script then fetches the page again
  and swaps the regions marked `data-live`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gettext
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.responses import RedirectResponse, Response, StreamingResponse

from upstate.config.pages import LANGUAGES, StatusPage
from upstate.domain import markdown
from upstate.errors import NotFound, UpstateError, UsageError
from upstate.services import pages as page_service
from upstate.web.deps import AppState, State, app_state
from upstate.web.public import keys, svg
from upstate.web.public.cache import Rendered, cache_of, version_of

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

WEB = Path(__file__).resolve().parent.parent
STATIC = WEB / "static"
LOCALE = WEB / "locale"
COOKIE = "upstate_page_"
COOKIE_DAYS = 30
HEARTBEAT_S = 15.0
WATCH_PERIOD_S = 1.0
MAX_LISTENERS = 1000
HTML = "text/html; charset=utf-8"
# The response-time charts draw hourly (or daily) rollups: they are kept a minute,
# apart from the page's 1 s entry, so a page render does not read 1,000 monitors' rollups.
CHARTS_TTL = 60.0


class ServiceUnavailable(UpstateError):
    http_status = 503


# --- static files ----------------------------------------------------------------------------


@cache
def _static(name: str) -> tuple[bytes, str] | None:
    """A static file's bytes and the first 10 hex digits of their hash (its version)."""
    if name not in {p.name for p in STATIC.iterdir()}:
        return None
    body = (STATIC / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:10]


def static_url(name: str) -> str:
    found = _static(name)
    return f"/static/{found[1] if found else '0'}/{name}"


_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@router.get("/static/{version}/{name}")
async def static_file(version: str, name: str) -> Response:
    found = _static(name)
    if found is None:
        raise NotFound("no such file")
    body, current = found
    # An old version asks for what is here now: served, but not cached for long.
    age = "public, max-age=31536000, immutable" if version == current else "no-cache"
    media = _TYPES.get(Path(name).suffix, "application/octet-stream")
    return Response(body, media_type=media, headers={"Cache-Control": age})


# --- language and templates ------------------------------------------------------------------


def resolve_language(page: StatusPage, accept_language: str | None) -> str:
    """The page's language, else the visitor's best shipped one, else English."""
    if page.language:
        return page.language
    ranked = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            with contextlib.suppress(ValueError):
                q = float(params.strip()[2:])
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            ranked.append((-q, index, base))
    return min(ranked)[2] if ranked else "en"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    return gettext.translation("messages", LOCALE, languages=[lang], fallback=True)


@cache
def environment(lang: str) -> Environment:
    """The Jinja environment of one language (autoescaped, its catalog installed)."""
    env = Environment(
        loader=PackageLoader("upstate.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalog = translations(lang)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    _ = catalog.gettext
    labels = _labels(_)
    env.globals.update(
        lang=lang,
        static=static_url,
        markdown=lambda text: Markup(markdown.render(text)),  # noqa: S704 - sanitised
        fmt_time=lambda at: _format_time(at, _),
        pct=svg.format_pct,
        bars=lambda component: svg.bars(component, _),
        overall_text=lambda value: labels["o-" + str(value)],
        component_status=lambda value: labels[str(value)],
        incident_status=lambda value: labels["i-" + str(value)],
        maintenance_status=lambda value: labels["m-" + str(value)],
        impact=lambda value: labels["x-" + str(value)],
        window_label=lambda value: labels["w-" + value],
        month_label=lambda value: f"{_MONTHS(_)[value.month - 1]} {value.year}",
    )
    return env


def _MONTHS(_: Callable[[str], str]) -> tuple[str, ...]:
    return (
        _("January"),
        _("February"),
        _("March"),
        _("April"),
        _("May"),
        _("June"),
        _("July"),
        _("August"),
        _("September"),
        _("October"),
        _("November"),
        _("December"),
    )


def _labels(_: Callable[[str], str]) -> dict[str, str]:
    return {
        "o-operational": _("All systems operational"),
        "o-degraded": _("Some systems are degraded"),
        "o-down": _("Major outage"),
        "operational": _("Operational"),
        "degraded_performance": _("Degraded performance"),
        "partial_outage": _("Partial outage"),
        "major_outage": _("Major outage"),
        "under_maintenance": _("Under maintenance"),
        "i-investigating": _("Investigating"),
        "i-identified": _("Identified"),
        "i-monitoring": _("Monitoring"),
        "i-resolved": _("Resolved"),
        "i-postmortem": _("Postmortem"),
        "m-scheduled": _("Scheduled"),
        "m-in_progress": _("In progress"),
        "m-verifying": _("Verifying"),
        "m-completed": _("Completed"),
        "x-none": _("None"),
        "x-minor": _("Minor"),
        "x-major": _("Major"),
        "x-critical": _("Critical"),
        "w-24h": _("24 hours"),
        "w-7d": _("7 days"),
        "w-30d": _("30 days"),
    }


def _format_time(at: datetime, _: Callable[[str], str]) -> str:
    at = at.astimezone(UTC)
    return f"{svg.format_day(at.date(), _)}, {at:%H:%M} UTC"


# --- colours ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Accent:
    light: str  # links and buttons on the light theme (>= 4.5:1 on white)
    dark: str  # links on the dark theme (>= 4.5:1 on #161b22)
    on: str  # text on a button of the `light` colour


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _mix(colour: str, towards: str, amount: float) -> str:
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(towards[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * amount):02x}" for x, y in zip(a, b, strict=True))


def _until(colour: str, background: str, towards: str) -> str:
    """`colour` moved towards black or white until it reads on `background` (4.5:1)."""
    for step in range(21):
        candidate = _mix(colour, towards, step / 20)
        if contrast(candidate, background) >= 4.5:
            return candidate
    return towards


def accent_of(colour: str) -> Accent:
    """The page's accent, adjusted where needed so text in it stays readable."""
    light = _until(colour, "#ffffff", "#000000")
    dark = _until(colour, "#161b22", "#ffffff")
    return Accent(light, dark, "#ffffff")


# --- access ----------------------------------------------------------------------------------


def _page_secret(page: StatusPage, state: AppState) -> str | None:
    """What opens a private page: its password, or the API token (None: nothing to know)."""
    if page.access == "password":
        return page.password.get_secret_value() if page.password else ""
    if page.access == "signed_in" and state.settings.api_token is not None:
        return state.settings.api_token.get_secret_value()
    return None


def _cookie_key(request: Request) -> bytes:
    """Derived from the secret box's key: cookies outlive a restart and work on every
    replica that shares UPSTATE_SECRET_KEY (or the generated secret.key)."""
    return app_state(request).secrets.derive("status page cookie")


def _cookie_value(request: Request, page: StatusPage, secret: str) -> str:
    message = f"{page.slug}\0{secret}".encode()
    return hmac.new(_cookie_key(request), message, hashlib.sha256).hexdigest()


def has_access(request: Request, page: StatusPage) -> bool:
    """Whether this request may read `page` (cookie from /login, or the bearer token)."""
    if page.access == "public":
        return True
    state = app_state(request)
    secret = _page_secret(page, state)
    if secret is None:
        return True
    if not secret:
        return False  # a password page without a password: nobody
    if page.access == "signed_in":
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), secret):
            return True
    cookie = request.cookies.get(COOKIE + page.slug, "")
    return hmac.compare_digest(cookie, _cookie_value(request, page, secret))


# --- finding the page ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    page: StatusPage
    base: str  # "" on the page's own domain, else "/s/<slug>"
    lang: str


def _target(request: Request, slug: str | None) -> Target:
    pages = app_state(request).live.config.status_pages
    if slug is None:
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        page = next((p for p in pages if p.domain and p.domain.lower() == host), None)
        base = ""
    else:
        page = next((p for p in pages if p.slug == slug), None)
        base = f"/s/{slug}"
    if page is None:
        raise NotFound("no such status page")
    lang = resolve_language(page, request.headers.get("accept-language"))
    return Target(page, base, lang)


def _login_redirect(target: Target, request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{target.base}/login?next={quote(here)}", status_code=303)


async def _html(
    request: Request,
    target: Target,
    key: tuple[Any, ...],
    render: Callable[[], Any],
) -> Response:
    """Through the cache: the page's HTML for `key` (access checked first)."""
    if not has_access(request, target.page):
        return _login_redirect(target, request)
    page = target.page

    async def produce() -> Rendered:
        body = await render()
        headers = {} if page.language else {"Vary": "Accept-Language"}
        return Rendered(body.encode(), HTML, headers=headers)

    full_key = keys.page_html_key(page, target.base, target.lang, *key)
    return await cache_of(request).get_or_render(
        full_key, produce, request, private=page.access != "public"
    )


def _context(target: Target, **values: Any) -> dict[str, Any]:
    return {
        "page": target.page,
        "base": target.base,
        "accent": accent_of(target.page.accent),
        "ext": f"/s/{target.page.slug}",  # routes of other modules live under /s/ only
        "live": False,
        **values,
    }


# --- the page --------------------------------------------------------------------------------


async def _status_page(request: Request, target: Target, state: AppState) -> Response:
    window = keys.page_window(request.scope["query_string"])

    cache, version = cache_of(request), version_of(request)

    async def draw_charts() -> list[tuple[str, Markup]]:
        """Every component's chart, from one query per component (see CHARTS_TTL)."""
        async with state.sessions() as session:
            now = state.clock()
            points = await page_service.response_charts(session, target.page, window, now)
        _ = translations(target.lang).gettext
        since = now - page_service.RESPONSE_WINDOWS[window]
        charts = []
        for item in target.page.placed_components():
            mine = points.get(item.code, [])
            if any(p.avg_ms is not None for p in mine):
                name = item.component.name
                charts.append((name, svg.response_chart(mine, since, now, name, _)))
        return charts

    async def render() -> str:
        async with state.sessions() as session:
            now = state.clock()
            view = await page_service.page_view(session, target.page, now)
            recent = await page_service.recent_incidents(session, target.page, 8)
        charts: list[tuple[str, Markup]] = []
        if target.page.show_response_times:
            key = ("page-charts", target.page.slug, target.lang, window, version)
            charts = await cache.value(key, draw_charts, CHARTS_TTL)
        active = {i.id for i in view.active_incidents}
        return (
            environment(target.lang)
            .get_template("page/page.html")
            .render(
                _context(
                    target,
                    view=view,
                    recent=[i for i in recent if i.id not in active],
                    charts=charts,
                    windows=list(page_service.RESPONSE_WINDOWS),
                    window=window,
                    live=True,
                )
            )
        )

    return await _html(request, target, ("page", window), render)


def _parse_month(text: str | None, now: datetime) -> date:
    if not text:
        return date(now.year, now.month, 1)
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise UsageError(f"invalid month {text!r}: expected YYYY-MM, e.g. 2026-03") from None


def _shift(month: date, months: int) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


async def _history(request: Request, target: Target, state: AppState) -> Response:
    now = state.clock()
    month = _parse_month(request.query_params.get("month"), now)
    this_month = date(now.year, now.month, 1)
    if month > this_month:
        month = this_month

    async def render() -> str:
        async with state.sessions() as session:
            incidents = await page_service.history(session, target.page, month)
        previous, following = _shift(month, -1), _shift(month, 1)
        return (
            environment(target.lang)
            .get_template("page/history.html")
            .render(
                _context(
                    target,
                    incidents=incidents,
                    month=month,
                    prev_month=f"{previous:%Y-%m}",
                    prev_month_date=previous,
                    next_month=f"{following:%Y-%m}" if following <= this_month else None,
                    next_month_date=following,
                )
            )
        )

    return await _html(request, target, ("history", f"{month:%Y-%m}"), render)


async def _incident(
    request: Request, target: Target, state: AppState, incident_id: str
) -> Response:
    if len(incident_id) > 64:
        raise NotFound("no such incident on this page")

    async def render() -> str:
        async with state.sessions() as session:
            incident = await page_service.incident_view(session, target.page, incident_id)
        names = {p.code: p.component.name for p in target.page.placed_components()}
        affected = [names[code] for code in incident.components if code in names]
        return (
            environment(target.lang)
            .get_template("page/incident.html")
            .render(_context(target, incident=incident, affected=affected))
        )

    return await _html(request, target, ("incident", incident_id), render)


async def _heatmap(request: Request, target: Target, state: AppState) -> Response:
    async def render() -> str:
        async with state.sessions() as session:
            view = await page_service.page_view(session, target.page, state.clock())
        _ = translations(target.lang).gettext
        return (
            environment(target.lang)
            .get_template("page/heatmap.html")
            .render(_context(target, heatmap=svg.heatmap(view.components, _), view=view, live=True))
        )

    return await _html(request, target, ("heatmap",), render)


# --- sign in ---------------------------------------------------------------------------------


def _safe_next(target: Target, value: str | None) -> str:
    """Where to go after signing in: a path of this page only (no open redirect)."""
    home = target.base or "/"
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return home
    if target.base and not (value == target.base or value.startswith(target.base + "/")):
        return home
    return value


def _login_form(target: Target, next_path: str, error: str | None, status: int) -> Response:
    body = (
        environment(target.lang)
        .get_template("page/login.html")
        .render(_context(target, next=next_path, error=error))
    )
    headers = {"Cache-Control": "no-store"}
    return Response(body, status_code=status, media_type=HTML, headers=headers)


async def _login_get(request: Request, target: Target) -> Response:
    if target.page.access == "public":
        return RedirectResponse(target.base or "/", status_code=303)
    return _login_form(target, _safe_next(target, request.query_params.get("next")), None, 200)


async def _login_post(request: Request, target: Target) -> Response:
    page = target.page
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    given = (form.get("secret") or [""])[0]
    next_path = _safe_next(target, (form.get("next") or [""])[0])
    secret = _page_secret(page, app_state(request))
    if secret is None:
        return RedirectResponse(next_path, status_code=303)
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        _ = translations(target.lang).gettext
        logger.info("status page sign-in refused slug=%s", page.slug)
        return _login_form(target, next_path, _("That is not the right password."), 401)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        COOKIE + page.slug,
        _cookie_value(request, page, secret),
        max_age=COOKIE_DAYS * 86400,
        path=target.base or "/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


# --- live updates ----------------------------------------------------------------------------


def fingerprint(view: page_service.PageView) -> str:
    """What the visitor sees, hashed: statuses, incidents, maintenance, each day's colour
    and incidents. Not raw seconds: an ongoing outage must not change it every second."""
    shown = (
        view.title,
        view.overall,
        [
            (c.code, c.name, c.status, [(svg.day_class(d), d.incidents) for d in c.days])
            for c in view.components
        ],
        [(i.id, i.title, i.status, i.impact, len(i.updates)) for i in view.active_incidents],
        [(m.id, m.title, m.status, m.starts_at) for m in view.active_maintenance],
        [(m.id, m.title, m.status, m.starts_at) for m in view.upcoming_maintenance],
    )
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:16]


class PageWatch:
    """One page's change detector, shared by all its listeners.

    Runs while anyone listens: every `period` seconds it builds the PageView once and, when
    its fingerprint changed, wakes every listener's queue (size 1: a slow listener gets the
    latest change, never a backlog)."""

    def __init__(self, state: AppState, page_slug: str, period: float = WATCH_PERIOD_S) -> None:
        self.state = state
        self.slug = page_slug
        self.period = period
        self.listeners: set[asyncio.Queue[str]] = set()
        self.current: str | None = None
        self.builds = 0
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1)
        self.listeners.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"page-watch-{self.slug}")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.listeners.discard(queue)
        if not self.listeners and self._task is not None:
            self._task.cancel()
            self._task = None

    async def check(self) -> bool:
        """Build the view once; tell every listener when it changed. True if it did."""
        page = next((p for p in self.state.live.config.status_pages if p.slug == self.slug), None)
        if page is None:
            return False
        async with self.state.sessions() as session:
            view = await page_service.page_view(session, page, self.state.clock())
        self.builds += 1
        mark = fingerprint(view)
        changed = self.current is not None and mark != self.current
        self.current = mark
        if changed:
            for queue in list(self.listeners):
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(mark)
        return changed

    async def _run(self) -> None:
        while self.listeners:
            try:
                await self.check()
            except Exception:  # a failed build must not end live updates for everyone
                logger.exception("status page watch failed slug=%s", self.slug)
            await asyncio.sleep(self.period)


class Watches:
    """Every page's watch, and the count of open event streams (bounded)."""

    def __init__(self, state: AppState, limit: int = MAX_LISTENERS) -> None:
        self.state = state
        self.limit = limit
        self.pages: dict[str, PageWatch] = {}

    @property
    def listeners(self) -> int:
        return sum(len(w.listeners) for w in self.pages.values())

    def watch(self, slug: str) -> PageWatch:
        if slug not in self.pages:
            self.pages[slug] = PageWatch(self.state, slug)
        return self.pages[slug]


def watches_of(request: Request) -> Watches:
    found: Watches | None = getattr(request.app.state, "page_watches", None)
    if found is None:
        found = request.app.state.page_watches = Watches(app_state(request))
    return found


async def _stream(watch: PageWatch, queue: asyncio.Queue[str]) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 5000\n: connected\n\n"
        while True:
            try:
                mark = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            yield f"event: change\ndata: {mark}\n\n".encode()
    finally:
        watch.unsubscribe(queue)


async def _events(request: Request, target: Target) -> Response:
    if not has_access(request, target.page):
        return Response("sign in first", status_code=401, media_type="text/plain")
    watches = watches_of(request)
    if watches.listeners >= watches.limit:
        raise ServiceUnavailable("too many live listeners: the page polls instead")
    watch = watches.watch(target.page.slug)
    queue = watch.subscribe()
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(_stream(watch, queue), media_type="text/event-stream", headers=headers)


# --- routes: /s/{slug}/… and the same on a page's own domain ---------------------------------


@router.get("/s/{slug}")
async def status_page(slug: str, request: Request, state: State) -> Response:
    return await _status_page(request, _target(request, slug), state)


@router.get("/s/{slug}/history")
async def history_page(slug: str, request: Request, state: State) -> Response:
    return await _history(request, _target(request, slug), state)


@router.get("/s/{slug}/incidents/{incident_id}")
async def incident_page(slug: str, incident_id: str, request: Request, state: State) -> Response:
    return await _incident(request, _target(request, slug), state, incident_id)


@router.get("/s/{slug}/heatmap")
async def heatmap_page(slug: str, request: Request, state: State) -> Response:
    return await _heatmap(request, _target(request, slug), state)


@router.get("/s/{slug}/events")
async def page_events(slug: str, request: Request) -> Response:
    return await _events(request, _target(request, slug))


@router.get("/s/{slug}/login")
async def login_form(slug: str, request: Request) -> Response:
    return await _login_get(request, _target(request, slug))


@router.post("/s/{slug}/login")
async def login(slug: str, request: Request) -> Response:
    return await _login_post(request, _target(request, slug))


@router.get("/")
async def domain_page(request: Request, state: State) -> Response:
    return await _status_page(request, _target(request, None), state)


@router.get("/history")
async def domain_history(request: Request, state: State) -> Response:
    return await _history(request, _target(request, None), state)


@router.get("/incidents/{incident_id}")
async def domain_incident(incident_id: str, request: Request, state: State) -> Response:
    return await _incident(request, _target(request, None), state, incident_id)


@router.get("/heatmap")
async def domain_heatmap(request: Request, state: State) -> Response:
    return await _heatmap(request, _target(request, None), state)


@router.get("/events")
async def domain_events(request: Request) -> Response:
    return await _events(request, _target(request, None))


@router.get("/login")
async def domain_login_form(request: Request) -> Response:
    return await _login_get(request, _target(request, None))


@router.post("/login")
async def domain_login(request: Request) -> Response:
    return await _login_post(request, _target(request, None))
