"""Plant canary secrets in a config, fetch every public GET route, and find none of them.

Routes are enumerated from the app (every GET route not under /api/v1 or /ping, plus the
public /api/v1/pages/{slug}/status), so a route added later is scanned too. Path
parameters are filled from the config: every page (public, password and unknown), every
public monitor, a real incident. /metrics is left out: it names monitors on purpose (for
Prometheus) and is guarded by UPSTATE_METRICS_PUBLIC. Event streams are left out (they
never end); their snapshots are the pages' own.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock
from tests.web.public.test_statuspage import add_incident, app_factory
from upstate.domain.enums import Status

make_fixture = pytest.fixture(name="make")(app_factory)

CANARIES = {
    "URL_PW": "urlpw-CANARY-1",
    "HEADER_TOKEN": "hdrtok-CANARY-2",
    "HOOK_SECRET": "hook-CANARY-3",
    "PAGE_PW": "pagepw-CANARY-4",
    "INGEST": "ingest-CANARY-5",
    "BASIC_PW": "basic-CANARY-6",
}
CONFIG = """
monitors:
  - key: web
    kind: http
    url: "http://monitor:${URL_PW}@internal-canary-host.lan:8080/health?token=${URL_PW}"
    headers: {Authorization: "Bearer ${HEADER_TOKEN}"}
    auth: {basic: {username: u, password: "${BASIC_PW}"}}
  - {key: api, kind: http, url: "http://10.9.8.7:9/api-canary-path", critical: true}
  - {key: hush-canary-monitor, name: Hush canary monitor, kind: http,
     url: "http://127.0.0.1:9/hush"}
notifications:
  channels:
    - {key: hook, kind: webhook, url: "https://hooks.example.com/${HOOK_SECRET}",
       secret: "${HOOK_SECRET}"}
board: {ingest_secret: "${INGEST}"}
status_pages:
  - slug: main
    title: Main
    components: [{name: Website, monitors: [web]}]
    groups:
      - name: Backend
        components: [{name: API, monitors: [api]}]
  - slug: hidden
    title: Hidden
    access: password
    password: "${PAGE_PW}"
    components: [{name: Private canary component, monitors: [hush-canary-monitor]}]
"""
FORBIDDEN = [
    *CANARIES.values(),
    "internal-canary-host",
    "api-canary-path",
    "10.9.8.7",
    "hush-canary",
    "Hush canary",
    "Private canary component",
    "Traceback",
]
PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def _get_routes(routes: list[Any], prefix: str = "") -> list[str]:
    """Every GET route's full path, through included routers (FastAPI >= 0.165 keeps
    them as nested `_IncludedRouter`s) as well as flat APIRoutes."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            if "GET" in route.methods:
                found.append(prefix + route.path)
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            inner = prefix + (getattr(context, "prefix", "") or "")
            found += _get_routes(route.original_router.routes, inner)
    return found


def _paths(app: Any, values: dict[str, list[str]]) -> list[str]:
    paths = []
    for path in _get_routes(app.routes):
        public_api = path == "/api/v1/pages/{slug}/status"
        if (path.startswith(("/api/v1", "/ping")) and not public_api) or path == "/metrics":
            continue
        if path.endswith("events"):
            continue
        names = PARAMETER.findall(path)
        choices = [values.get(name, ["x"]) for name in names]
        for combo in itertools.product(*choices):
            filled = path
            for name, value in zip(names, combo, strict=True):
                filled = re.sub(r"{" + name + r"(?::\w+)?}", value, filled, count=1)
            paths.append(filled)
    return paths


async def test_no_public_route_shows_a_secret_or_a_private_monitor(
    make: Callable[..., Any],
    make_client: Callable[..., httpx.AsyncClient],
    db: TestDatabase,
    clock: Clock,
) -> None:
    app = await make(text=CONFIG, env=CANARIES, statuses={"web": Status.DOWN, "api": Status.UP})
    incident = await add_incident(db, clock)
    values = {
        "slug": ["main", "hidden", "nope"],
        "monitor": ["web", "api", "nope"],
        "window": ["24h", "90d"],
        "incident_id": [incident, "nope"],
        "id": [incident],
        "token": ["nope"],
    }
    paths = _paths(app, values)
    assert "/s/main/api/v2/summary.json" in paths
    assert "/badge/web/status.svg" in paths
    client = make_client(app)
    problems = []
    for path in paths:
        response = await client.get(path)
        body = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        forbidden = FORBIDDEN
        leaked = [canary for canary in forbidden if canary in body]
        if leaked:
            problems.append(f"{path} shows {leaked}")
        if response.status_code >= 500:
            problems.append(f"{path} answered {response.status_code}")
    assert problems == []
    assert len(paths) > 20
