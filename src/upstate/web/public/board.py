"""Public routes: the one-host board. `/api/status` (JSON, camelCase), `/board` (the page,
rendered server-side so it works without JavaScript) and `/board.js` (its poller).

No token: the board must work while auth is down, so it shows coarse health only
(services/board.py decides what is safe). Both routes read one BoardCache per app, so
any number of viewers cost one collection per `board.cache_ttl`. The cache is
`app.state.board_cache` when cli.py put one there (shared with the heartbeat push),
else one is made on first use. `/api/status` sends the JSON the cache encoded once per
collection; web/fastpath.py answers its hits before FastAPI routes anything.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from upstate.services.board import BoardCache, board_cache
from upstate.web.deps import app_state

router = APIRouter()

_WEB = Path(__file__).resolve().parent.parent
_SCRIPT = _WEB / "static" / "board.js"
_NO_STORE = {"Cache-Control": "no-store"}
JSON = "application/json"
METER_CELLS = 20
OVERALL_TEXT = {
    "operational": "All systems operational",
    "degraded": "Partial degradation",
    "down": "Major outage",
}


def cache_of(request: Request) -> BoardCache:
    """The app's BoardCache (app.state.board_cache), made on first use."""
    found: BoardCache | None = getattr(request.app.state, "board_cache", None)
    if found is None:
        state = app_state(request)
        found = board_cache(state.sessions, state.live, state.clock)
        request.app.state.board_cache = found
    return found


@router.get("/api/status", include_in_schema=False)
async def status(request: Request) -> Response:
    body, hit, age = await cache_of(request).get_body()
    return Response(body, media_type=JSON, headers=status_headers(hit, age))


def status_headers(hit: bool, age: float) -> dict[str, str]:
    """What `/api/status` answers with (web/fastpath.py sends the same on a hit)."""
    return {**_NO_STORE, "X-Status-Cache": "hit" if hit else "miss", "Age": str(int(age))}


@router.get("/board", response_class=HTMLResponse, include_in_schema=False)
async def board(request: Request) -> HTMLResponse:
    snapshot, hit, age = await cache_of(request).get()
    html = (
        _templates()
        .get_template("board/board.html")
        .render(s=snapshot, age=int(age), overall_text=OVERALL_TEXT.get(snapshot["overall"], ""))
    )
    headers = {**_NO_STORE, "X-Status-Cache": "hit" if hit else "miss"}
    return HTMLResponse(html, headers=headers)


@router.get("/board.js", include_in_schema=False)
async def script(request: Request) -> Response:
    body, etag = _script()
    headers = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript", headers=headers)


@cache
def _script() -> tuple[bytes, str]:
    body = _SCRIPT.read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


# --- rendering helpers (the script mirrors them) -------------------------------------------


def meter(ratio: float | None) -> dict[str, Any]:
    """A 20-cell meter: green below 60 %, amber 60-85 %, red at or above 85 %."""
    value = max(ratio or 0.0, 0.0)
    level = "ok" if value < 0.6 else "warn" if value < 0.85 else "bad"
    filled = min(round(value * METER_CELLS), METER_CELLS)
    return {"filled": filled, "cells": METER_CELLS, "level": level, "percent": round(value * 100)}


def size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # unreachable


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


@cache
def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_WEB / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["meter"] = meter
    env.filters["size"] = size
    env.filters["duration"] = duration
    return env
