"""The fast path: fresh cached public answers are sent before FastAPI routes anything, the
same bytes and headers as the route's; private pages, other keys, misses and expired
entries reach the routes. "Reached" is counted on every route of the app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.middleware import Middleware

from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock, LoopbackEngine
from tests.web.public.test_statuspage import build_app
from upstate.config.models import Board
from upstate.domain.enums import Status
from upstate.services.board import board_cache
from upstate.services.secrets import SecretBox
from upstate.web.public.cache import PublicCache

CONFIG = """
monitors:
  - {key: web, kind: http, url: "http://127.0.0.1:9/web"}
  - {key: vault, kind: http, url: "http://127.0.0.1:9/vault"}
status_pages:
  - slug: main
    title: Main
    domain: status.example.com
    components: [{name: Website, monitors: [web]}]
  - slug: hidden
    title: Hidden
    access: password
    password: page-pw-CANARY
    components: [{name: Vault, monitors: [vault]}]
"""
SUMMARY = "/s/main/api/v2/summary.json"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reached:
    """Counts the requests that got past the fast path into FastAPI's routing (an ASGI
    middleware placed innermost, after the fast path)."""

    def __init__(self, app: FastAPI) -> None:
        self.count = 0
        assert app.middleware_stack is None, "count before the first request"
        app.user_middleware.append(Middleware(_Counting, reached=self))


class _Counting:
    def __init__(self, app: Any, reached: Reached) -> None:
        self.app, self.reached = app, reached

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.reached.count += 1
        await self.app(scope, receive, send)


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
async def app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
    monotonic: FakeMonotonic,
) -> FastAPI:
    statuses = {"web": Status.UP, "vault": Status.DOWN}
    app = await build_app(db, loop_engine, registry, box, clock, text=CONFIG, statuses=statuses)
    app.state.public_cache = PublicCache(clock=monotonic)
    return app


@pytest.fixture
def reached(app: FastAPI) -> Reached:
    return Reached(app)


@pytest.fixture
def client(app: FastAPI, make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(app)


def same_answer(miss: httpx.Response, hit: httpx.Response) -> None:
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("miss", "hit")
    assert hit.status_code == miss.status_code == 200
    assert hit.content == miss.content
    without = {k: v for k, v in miss.headers.items() if k != "x-cache"}
    assert {k: v for k, v in hit.headers.items() if k != "x-cache"} == without


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (SUMMARY, {}),
        ("/s/main/api/v2/incidents/unresolved.json", {}),
        ("/api/v1/pages/main/status", {}),
        ("/s/main", {"Accept-Language": "fr-FR,fr;q=0.9"}),
        ("/s/main?rt=7d", {}),
        ("/s/main/heatmap", {}),
        ("/s/main/history.atom", {}),
        ("/badge/web/status.svg", {}),
        ("/badge/web/shields.json", {}),
        ("/badge/web/uptime/7d.svg", {}),
        ("/badge/web/response-time/24h.svg", {}),
        ("/", {"Host": "status.example.com"}),
        ("/api/v2/status.json", {"Host": "Status.Example.com:8443"}),
    ],
)
async def test_it_serves_a_routes_cached_entry_without_reaching_fastapi(
    client: httpx.AsyncClient, reached: Reached, path: str, headers: dict[str, str]
) -> None:
    miss = await client.get(path, headers=headers)
    assert reached.count == 1
    hit = await client.get(path, headers=headers)
    assert reached.count == 1  # the fast path found the route's key
    same_answer(miss, hit)


async def test_it_answers_304_for_a_matching_etag(
    client: httpx.AsyncClient, reached: Reached
) -> None:
    etag = (await client.get(SUMMARY)).headers["etag"]
    for header in (etag, f'"other", W/{etag}', "*"):
        answer = await client.get(SUMMARY, headers={"If-None-Match": header})
        assert answer.status_code == 304
        assert answer.content == b""
        assert (answer.headers["etag"], answer.headers["x-cache"]) == (etag, "hit")
        assert answer.headers["cache-control"] == "public, max-age=10"
    other = await client.get(SUMMARY, headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    assert reached.count == 1


async def test_it_never_serves_a_private_pages_entry_to_anyone_else(
    client: httpx.AsyncClient,
    make_client: Callable[..., httpx.AsyncClient],
    app: FastAPI,
    reached: Reached,
) -> None:
    login = await client.post("/s/hidden/login", data={"secret": "page-pw-CANARY", "next": ""})
    assert login.status_code == 303
    for path in ("/s/hidden", "/s/hidden/api/v2/summary.json", "/badge/vault/status.svg"):
        await client.get(path)
    signed_in = await client.get("/s/hidden")
    assert signed_in.status_code == 200
    assert "Vault" in signed_in.text
    assert signed_in.headers["cache-control"].startswith("private")
    before = reached.count
    anonymous = make_client(app)
    page = await anonymous.get("/s/hidden")
    assert page.status_code == 303  # to the login form, from the route
    assert (await anonymous.get("/s/hidden/api/v2/summary.json")).status_code == 404
    assert (await anonymous.get("/badge/vault/status.svg")).status_code == 404
    assert reached.count == before + 3
    assert "Vault" not in page.text


async def test_query_strings_and_headers_cannot_bypass_the_cache(
    client: httpx.AsyncClient, reached: Reached
) -> None:
    await client.get("/s/main")
    tricks: list[tuple[str, dict[str, str]]] = [
        ("/s/main?nocache=1", {}),
        ("/s/main?rt=bogus", {}),  # the route reads it as 24h
        ("/s/main?rt=7d&rt=24h", {}),  # the last value, as Starlette reads it
        ("/s/main", {"Cache-Control": "no-cache", "Pragma": "no-cache"}),
        ("/s/main", {"Accept-Language": "de, xx;q=0.5"}),  # no catalog: English
    ]
    for path, headers in tricks:
        answer = await client.get(path, headers=headers)
        assert (answer.status_code, answer.headers["x-cache"]) == (200, "hit"), path
    assert reached.count == 1


async def test_other_keys_are_other_entries_and_nothing_is_poisoned(
    client: httpx.AsyncClient, reached: Reached
) -> None:
    english = await client.get("/s/main")
    french = await client.get("/s/main", headers={"Accept-Language": "fr"})
    week = await client.get("/s/main?rt=7d")
    assert [a.headers["x-cache"] for a in (english, french, week)] == ["miss"] * 3
    assert reached.count == 3
    assert french.content != english.content
    again = await client.get("/s/main", headers={"Accept-Language": "en-GB"})
    assert (again.headers["x-cache"], again.content) == ("hit", english.content)
    # A Host that names no page's domain reaches the routes: no status page there.
    elsewhere = await client.get("/", headers={"Host": "evil.example.net"})
    assert elsewhere.status_code == 404
    assert reached.count == 4


async def test_misses_expired_entries_and_other_paths_fall_through(
    app: FastAPI, client: httpx.AsyncClient, reached: Reached, monotonic: FakeMonotonic
) -> None:
    assert (await client.get(SUMMARY)).headers["x-cache"] == "miss"
    monotonic.now += 2.0  # past the 1 s TTL
    assert (await client.get(SUMMARY)).headers["x-cache"] == "miss"
    assert reached.count == 2
    live = app.state.upstate.live
    live.swap(live.config)  # a new config version: every entry is stale
    assert (await client.get(SUMMARY)).headers["x-cache"] == "miss"
    assert (await client.get("/s/main/")).status_code in (307, 404)  # not /s/main
    assert (await client.get("/s/nope/api/v2/summary.json")).status_code == 404
    assert (await client.post(SUMMARY)).status_code == 405
    assert reached.count == 6


async def test_head_sends_the_headers_without_the_body(
    client: httpx.AsyncClient, reached: Reached
) -> None:
    miss = await client.head("/badge/web/status.svg")
    assert (miss.status_code, miss.headers["x-cache"], miss.content) == (200, "miss", b"")
    assert reached.count == 1  # passed on as a GET
    hit = await client.head("/badge/web/status.svg")
    get = await client.get("/badge/web/status.svg")
    assert reached.count == 1
    assert (hit.status_code, hit.headers["x-cache"], hit.content) == (200, "hit", b"")
    assert hit.headers["content-length"] == str(len(get.content)) == miss.headers["content-length"]
    assert get.headers["content-type"] == hit.headers["content-type"] == "image/svg+xml"


async def test_it_serves_the_board_from_its_encoded_snapshot(
    app: FastAPI, client: httpx.AsyncClient, reached: Reached, monotonic: FakeMonotonic
) -> None:
    state = app.state.upstate
    state.live.swap(state.live.config.model_copy(update={"board": Board(monitors="all")}))
    app.state.board_cache = cache = board_cache(
        state.sessions, state.live, state.clock, systemctl="/nonexistent/systemctl"
    )
    cache.monotonic = monotonic
    miss = await client.get("/api/status")
    hit = await client.get("/api/status")
    head = await client.head("/api/status")
    assert reached.count == 1
    assert (miss.headers["x-status-cache"], hit.headers["x-status-cache"]) == ("miss", "hit")
    assert hit.content == miss.content
    assert hit.json()["components"][0]["key"] in {"web", "vault"}
    for answer in (hit, head):
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["age"] == "0"
    assert head.content == b""
    monotonic.now += 5.0
    later = await client.get("/api/status")
    assert (later.headers["x-status-cache"], reached.count) == ("miss", 2)
