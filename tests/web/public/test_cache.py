from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.datastructures import State
from starlette.requests import Request

from tests.fixtures.db import TestDatabase
from tests.web.public.test_statuspage import app_factory
from upstate.services.live import LiveConfig
from upstate.web.public.cache import PublicCache, Rendered

make_fixture = pytest.fixture(name="make")(app_factory)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(live: LiveConfig, headers: dict[str, str] | None = None) -> Request:
    app = SimpleNamespace(state=State({"upstate": SimpleNamespace(live=live)}))
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw, "app": app})


async def test_concurrent_misses_share_one_render() -> None:
    cache, live, gate = PublicCache(), LiveConfig(), asyncio.Event()

    async def render() -> Rendered:
        await gate.wait()
        return Rendered(b'{"ok":true}', "application/json")

    calls = [cache.get_or_render("k", render, request(live)) for _ in range(100)]
    tasks = [asyncio.ensure_future(call) for call in calls]
    await asyncio.sleep(0.01)
    gate.set()
    responses = await asyncio.gather(*tasks)
    assert cache.renders == 1
    assert {r.body for r in responses} == {b'{"ok":true}'}
    assert sorted(r.headers["x-cache"] for r in responses) == ["hit"] * 99 + ["miss"]


async def test_an_entry_expires_after_its_ttl_and_with_a_new_config() -> None:
    clock, live = FakeClock(), LiveConfig()
    cache = PublicCache(clock=clock)
    bodies = iter([b"one", b"two", b"three"])

    async def render() -> Rendered:
        return Rendered(next(bodies), "text/plain")

    async def get() -> bytes:
        return bytes((await cache.get_or_render("k", render, request(live), ttl=1.0)).body)

    assert await get() == b"one"
    clock.now += 0.5
    assert await get() == b"one"
    clock.now += 0.6
    assert await get() == b"two"
    live.swap(live.config)
    assert await get() == b"three"


async def test_a_failed_render_is_not_cached_and_reaches_every_waiter() -> None:
    cache, live, gate = PublicCache(), LiveConfig(), asyncio.Event()
    attempts = 0

    async def render() -> Rendered:
        nonlocal attempts
        attempts += 1
        await gate.wait()
        if attempts == 1:
            raise RuntimeError("database gone")
        return Rendered(b"fine", "text/plain")

    tasks = [
        asyncio.ensure_future(cache.get_or_render("k", render, request(live))) for _ in range(3)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    response = await cache.get_or_render("k", render, request(live))
    assert response.body == b"fine"
    assert attempts == 2


async def test_it_answers_304_to_a_matching_etag() -> None:
    cache, live = PublicCache(), LiveConfig()

    async def render() -> Rendered:
        return Rendered(b"body", "text/plain")

    first = await cache.get_or_render("k", render, request(live), max_age=7)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["cache-control"] == "public, max-age=7"
    again = await cache.get_or_render("k", render, request(live, {"If-None-Match": etag}))
    assert again.status_code == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    other = await cache.get_or_render("k", render, request(live, {"If-None-Match": '"x"'}))
    assert other.status_code == 200


def _cache(app: FastAPI, clock: FakeClock) -> PublicCache:
    cache = PublicCache(clock=clock)
    app.state.public_cache = cache
    return cache


async def test_a_hundred_requests_on_an_expired_page_cost_one_render(
    make: Callable[..., Any],
    make_client: Callable[..., httpx.AsyncClient],
    db: TestDatabase,
) -> None:
    app = await make()
    clock = FakeClock()
    cache = _cache(app, clock)
    queries = 0

    def count(*_: Any) -> None:
        nonlocal queries
        queries += 1

    from sqlalchemy import event

    client = make_client(app)
    assert (await client.get("/s/main/api/v2/summary.json")).status_code == 200
    clock.now += 5  # expired
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        responses = await asyncio.gather(
            *(client.get("/s/main/api/v2/summary.json") for _ in range(100))
        )
        burst = queries
        hits = await asyncio.gather(*(client.get("/s/main/api/v2/summary.json") for _ in range(50)))
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert {r.status_code for r in responses} == {200}
    assert cache.renders == 2
    assert [r.headers["x-cache"] for r in responses].count("miss") == 1
    assert 0 < burst < 20  # one render's queries, not a hundred renders'
    assert queries == burst  # the cached answers touched no database
    assert {r.headers["x-cache"] for r in hits} == {"hit"}


BYPASS_ATTEMPTS = [
    ({"Cache-Control": "no-cache"}, ""),
    ({"Pragma": "no-cache"}, ""),
    ({"Cache-Control": "max-age=0", "If-None-Match": "*x"}, ""),
    ({}, "?nocache=1&_=123"),
]


async def test_no_header_or_query_string_bypasses_the_cache(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    app = await make()
    cache = _cache(app, FakeClock())
    client = make_client(app)
    first = await client.get("/s/main/api/v2/status.json")
    assert first.headers["x-cache"] == "miss"
    for headers, query in BYPASS_ATTEMPTS:
        again = await client.get(f"/s/main/api/v2/status.json{query}", headers=headers)
        assert again.headers["x-cache"] == "hit", (headers, query)
        assert again.content == first.content
    assert cache.renders == 1


async def test_routes_send_etags_and_their_cache_control(
    make: Callable[..., Any], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(await make())
    summary = await client.get("/s/main/api/v2/summary.json")
    status = await client.get("/api/v1/pages/main/status")
    assert summary.headers["cache-control"] == "public, max-age=10"
    assert status.headers["cache-control"] == "public, max-age=60"
    again = await client.get(
        "/s/main/api/v2/summary.json", headers={"If-None-Match": summary.headers["etag"]}
    )
    assert again.status_code == 304


async def test_it_refreshes_ahead_in_the_background_and_serves_stale_meanwhile() -> None:
    clock, live, gate = FakeClock(), LiveConfig(), asyncio.Event()
    cache = PublicCache(clock=clock)
    bodies = iter([b"one", b"two", b"three"])

    async def render() -> Rendered:
        body = next(bodies)
        if body != b"one":
            await gate.wait()
        return Rendered(body, "text/plain")

    async def get() -> tuple[bytes, str]:
        response = await cache.get_or_render("k", render, request(live), ttl=1.0)
        return bytes(response.body), response.headers["x-cache"]

    assert await get() == (b"one", "miss")
    clock.now += 0.95  # in the last tenth of the TTL: a refresh starts, the visitor is served
    assert await get() == (b"one", "hit")
    await asyncio.sleep(0)  # the refresh's task starts
    assert cache.renders == 2
    clock.now += 0.3  # past the TTL while the refresh still runs: stale, not a wait
    assert await get() == (b"one", "stale")
    found = cache.lookup("k", live.version)
    assert found is not None
    assert (found.fresh, found.entry.body) == (False, b"one")
    assert cache.renders == 2  # one refresh at a time
    gate.set()
    await cache.settle()
    assert await get() == (b"two", "hit")
    clock.now += 5  # long after, nobody refreshed: the request renders and waits
    assert await get() == (b"three", "miss")


async def test_lookup_gives_ready_entries_and_refreshes_them_itself() -> None:
    clock, live = FakeClock(), LiveConfig()
    cache = PublicCache(clock=clock)
    count = 0

    async def render() -> Rendered:
        nonlocal count
        count += 1
        return Rendered(f"v{count}".encode(), "text/html", headers={"Vary": "Accept-Language"})

    assert cache.lookup("k", live.version) is None
    await cache.get_or_render("k", render, request(live), max_age=5)
    found = cache.lookup("k", live.version)
    assert found is not None
    entry = found.entry
    assert (found.fresh, found.label, entry.body, entry.private) == (True, "hit", b"v1", False)
    assert entry.headers["Cache-Control"] == "public, max-age=5"
    assert entry.headers["ETag"] == entry.etag
    assert (b"content-length", b"2") in entry.raw_headers
    assert (b"vary", b"Accept-Language") in entry.raw_headers
    assert entry.not_modified(entry.etag)
    assert not entry.not_modified('"other"')
    assert cache.lookup("k", live.version + 1) is None  # another config
    clock.now += 0.95
    assert cache.lookup("k", live.version) is not None  # a refresh starts here
    await cache.settle()
    refreshed = cache.lookup("k", live.version)
    assert refreshed is not None
    assert refreshed.entry.body == b"v2"
    assert refreshed.entry.headers["Cache-Control"] == "public, max-age=5"


async def test_a_failed_background_refresh_leaves_the_entry_to_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, live = FakeClock(), LiveConfig()
    cache = PublicCache(clock=clock)
    outcomes: list[bytes | None] = [b"one", None, b"three"]

    async def render() -> Rendered:
        body = outcomes.pop(0)
        if body is None:
            raise RuntimeError("database gone")
        return Rendered(body, "text/plain")

    await cache.get_or_render("k", render, request(live))
    clock.now += 0.95
    assert (await cache.get_or_render("k", render, request(live))).body == b"one"
    await cache.settle()
    assert "public cache refresh failed" in caplog.text
    clock.now += 0.1
    response = await cache.get_or_render("k", render, request(live))
    assert (response.body, response.headers["x-cache"]) == (b"three", "miss")


async def test_values_are_kept_for_their_own_ttl() -> None:
    clock = FakeClock()
    cache = PublicCache(clock=clock)
    computed = 0

    async def compute() -> int:
        nonlocal computed
        computed += 1
        await asyncio.sleep(0)
        return computed

    first = await asyncio.gather(*(cache.value("charts", compute, 60.0) for _ in range(5)))
    assert first == [1] * 5
    clock.now += 59
    assert await cache.value("charts", compute, 60.0) == 1
    clock.now += 2
    assert await cache.value("charts", compute, 60.0) == 2
    cache.invalidate()
    assert await cache.value("charts", compute, 60.0) == 3
