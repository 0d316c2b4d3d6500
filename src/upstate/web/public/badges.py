"""Badges: a monitor's status, uptime and response time as SVG, and shields.io's endpoint JSON.

Only monitors shown on a public status page have badges. Any other key, a private
page's monitor or a monitor on no page, gets the same 404 as a key that does not exist,
so a badge URL tells nothing about what else is monitored. Which monitors qualify is read
from the config, before the cache and before any query.

The SVG is drawn here in shields.io's flat style (grey label, coloured value); text widths
are estimated per character (Verdana 11 px), and every text is XML-escaped.
/badge/<monitor>/shields.json follows https://shields.io/badges/endpoint-badge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from starlette.responses import Response

from upstate.domain.enums import Status
from upstate.errors import NotFound
from upstate.services import pages as page_service
from upstate.services import queries
from upstate.web.deps import app_state
from upstate.web.public import keys
from upstate.web.public.cache import Rendered, cache_of

router = APIRouter(prefix="/badge", tags=["badges"])

UPTIME_WINDOWS = ("24h", "7d", "30d", "90d")
RESPONSE_WINDOWS = ("24h", "7d", "30d", "90d")
STATUS_MAX_AGE = 30
SLOW_TTL = 10.0  # uptime and response time change slowly; they cost a few queries
SLOW_MAX_AGE = 50
_SVG = "image/svg+xml"

GREEN, YELLOW, ORANGE, RED, BLUE, GREY = (
    "#4c1",
    "#dfb317",
    "#fe7d37",
    "#e05d44",
    "#007ec6",
    "#9f9f9f",
)
_STATUS_COLOURS = {
    Status.UP: GREEN,
    Status.DEGRADED: YELLOW,
    Status.DOWN: RED,
    Status.MAINTENANCE: BLUE,
}
_SHIELDS_COLOURS = {
    GREEN: "brightgreen",
    YELLOW: "yellow",
    ORANGE: "orange",
    RED: "red",
    BLUE: "blue",
    GREY: "lightgrey",
}


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    message: str
    colour: str  # one of the colours above


# --- drawing ----------------------------------------------------------------------------------

_NARROW = frozenset("ijlt.,:;!|'()[] ")
_WIDE = frozenset("mwMW%")


def text_width(text: str) -> float:
    """Estimated width of `text` in Verdana 11 px."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 3.9
        elif char in _WIDE:
            width += 10.7
        elif char.isupper():
            width += 7.6
        else:
            width += 6.9
    return width


def svg(badge: Badge) -> str:
    """A flat badge: `label | message`, the message on the badge's colour."""
    label, message = escape(badge.label), escape(badge.message)
    left = round(text_width(badge.label) + 10)
    right = round(text_width(badge.message) + 10)
    total = left + right
    title = escape(f"{badge.label}: {badge.message}", {'"': "&quot;"})
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{badge.colour}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
        f'<text x="{left / 2}" y="14">{label}</text>'
        f'<text x="{left + right / 2}" y="15" fill="#010101" fill-opacity=".3">{message}</text>'
        f'<text x="{left + right / 2}" y="14">{message}</text></g></svg>'
    )


def shields(badge: Badge) -> dict[str, object]:
    return {
        "schemaVersion": 1,
        "label": badge.label,
        "message": badge.message,
        "color": _SHIELDS_COLOURS.get(badge.colour, "lightgrey"),
    }


# --- values -----------------------------------------------------------------------------------


def status_badge(status: Status) -> Badge:
    return Badge("status", status.value, _STATUS_COLOURS.get(status, GREY))


def uptime_badge(window: str, percent: float | None) -> Badge:
    label = f"uptime {window}"
    if percent is None:
        return Badge(label, "no data", GREY)
    if percent >= 99.9:
        colour = GREEN
    elif percent >= 99.0:
        colour = YELLOW
    elif percent >= 95.0:
        colour = ORANGE
    else:
        colour = RED
    text = "100%" if percent >= 100 else f"{min(percent, 99.99):.2f}%"
    return Badge(label, text, colour)


def response_badge(window: str, avg_ms: float | None) -> Badge:
    label = f"response time {window}"
    if avg_ms is None:
        return Badge(label, "no data", GREY)
    colour = GREEN if avg_ms < 300 else YELLOW if avg_ms < 1000 else RED
    return Badge(label, f"{round(avg_ms)} ms", colour)


# --- routes -----------------------------------------------------------------------------------


def _require_public(request: Request, monitor: str) -> None:
    """NotFound unless `monitor` backs a component of a public page (one answer for all)."""
    pages = app_state(request).live.config.status_pages
    for page in pages:
        if page.access != "public":
            continue
        if any(monitor in c.monitors for c in page.all_components()):
            return
    raise NotFound("no such badge")


async def _serve(
    request: Request,
    key: tuple[str, ...],
    value: Callable[[], Awaitable[Badge]],
    *,
    json_out: bool = False,
    ttl: float = 1.0,
    max_age: int = STATUS_MAX_AGE,
) -> Response:
    async def render() -> Rendered:
        badge = await value()
        if json_out:
            body = json.dumps(shields(badge), separators=(",", ":")).encode()
            return Rendered(body, "application/json", headers={"Access-Control-Allow-Origin": "*"})
        return Rendered(svg(badge).encode(), _SVG)

    return await cache_of(request).get_or_render(
        keys.badge_key(*key), render, request, ttl=ttl, max_age=max_age
    )


def _status_value(request: Request, monitor: str) -> Callable[[], Awaitable[Badge]]:
    state = app_state(request)

    async def value() -> Badge:
        async with state.sessions() as session:
            return status_badge(await page_service.monitor_status(session, monitor))

    return value


@router.get("/{monitor}/status.svg")
async def status_svg(monitor: str, request: Request) -> Response:
    _require_public(request, monitor)
    return await _serve(request, (monitor, "status"), _status_value(request, monitor))


@router.get("/{monitor}/shields.json")
async def shields_json(monitor: str, request: Request) -> Response:
    _require_public(request, monitor)
    return await _serve(
        request, (monitor, "shields"), _status_value(request, monitor), json_out=True
    )


@router.get("/{monitor}/uptime/{window}.svg")
async def uptime_svg(monitor: str, window: str, request: Request) -> Response:
    _require_public(request, monitor)
    if window not in UPTIME_WINDOWS:
        raise NotFound("no such badge")
    state = app_state(request)

    async def value() -> Badge:
        async with state.sessions() as session:
            view = await queries.uptime(session, monitor, window, now=state.clock())
        return uptime_badge(window, view.uptime_percent)

    return await _serve(
        request, (monitor, "uptime", window), value, ttl=SLOW_TTL, max_age=SLOW_MAX_AGE
    )


@router.get("/{monitor}/response-time/{window}.svg")
async def response_time_svg(monitor: str, window: str, request: Request) -> Response:
    _require_public(request, monitor)
    if window not in RESPONSE_WINDOWS:
        raise NotFound("no such badge")
    state = app_state(request)

    async def value() -> Badge:
        async with state.sessions() as session:
            view = await queries.uptime(session, monitor, window, now=state.clock())
        return response_badge(window, view.latency_ms.avg)

    return await _serve(
        request, (monitor, "response-time", window), value, ttl=SLOW_TTL, max_age=SLOW_MAX_AGE
    )
