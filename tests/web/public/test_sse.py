"""Live updates: one shared watch per page, its events over a real HTTP server (uvicorn),
heartbeats, and the bound on connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.browser import seed
from tests.fixtures.db import TestDatabase
from tests.web.conftest import Clock
from upstate.domain.enums import Status
from upstate.web.public import pages
from upstate.web.public.pages import PageWatch, Watches


@pytest.fixture
def db_kind() -> str:
    return "sqlite"


@pytest.fixture
async def world(db: TestDatabase, app: FastAPI, clock: Clock) -> FastAPI:
    clock.now = seed.NOW
    async with db.sessions() as session:
        await seed.seed(session)
        await session.commit()
    app.state.upstate.live.swap(seed.config())
    return app


@pytest.fixture
async def server(world: FastAPI) -> AsyncIterator[str]:
    config = uvicorn.Config(world, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    while not running.started:
        await asyncio.sleep(0.01)
    port = running.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    await task


async def set_status(db: TestDatabase, key: str, status: Status) -> None:
    async with db.sessions() as session:
        await seed.set_status(session, key, status, seed.NOW)
        await session.commit()


async def test_it_builds_the_view_once_for_every_listener(world: FastAPI, db: TestDatabase) -> None:
    watch = PageWatch(world.state.upstate, "main", period=3600)
    first, second = watch.subscribe(), watch.subscribe()
    try:
        assert await watch.check() is False  # the first look only learns the state
        assert await watch.check() is False  # nothing changed
        await set_status(db, "web", Status.DOWN)
        assert await watch.check() is True
        assert first.get_nowait() == second.get_nowait() == watch.current
        await set_status(db, "web", Status.UP)
        await watch.check()
        await set_status(db, "web", Status.DOWN)
        await watch.check()
        assert first.qsize() == 1  # a slow listener holds the latest change, not a backlog
        # one build per check (and the loop's first look), not one per listener
        assert watch.builds == 6
    finally:
        watch.unsubscribe(first)
        watch.unsubscribe(second)


async def test_it_ignores_a_growing_downtime_count(world: FastAPI, db: TestDatabase) -> None:
    watch = PageWatch(world.state.upstate, "main", period=3600)
    queue = watch.subscribe()
    try:
        await set_status(db, "web", Status.DOWN)
        await watch.check()
        world.state.upstate.clock.advance(timedelta(seconds=5).total_seconds())
        assert await watch.check() is False
    finally:
        watch.unsubscribe(queue)


async def read_until(lines: AsyncIterator[str], wanted: str, seconds: float) -> list[str]:
    seen: list[str] = []
    async with asyncio.timeout(seconds):
        async for line in lines:
            seen.append(line)
            if line.startswith(wanted):
                return seen
    raise AssertionError(f"stream ended before {wanted!r}: {seen}")


async def test_it_sends_a_change_event_when_the_page_changes(
    server: str, world: FastAPI, db: TestDatabase
) -> None:
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as client,
        client.stream("GET", "/s/main/events") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        await read_until(lines, ": connected", 5)
        watches: Watches = world.state.page_watches
        assert watches.listeners == 1
        await asyncio.sleep(1.2)  # the watch has seen the page once
        await set_status(db, "search", Status.DOWN)
        seen = await read_until(lines, "data: ", 5)
        assert "event: change" in seen
    for _ in range(100):  # the server notices the closed stream
        if watches.listeners == 0:
            break
        await asyncio.sleep(0.02)
    assert watches.listeners == 0


async def test_it_sends_heartbeats(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "HEARTBEAT_S", 0.05)
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as client,
        client.stream("GET", "/s/main/events") as stream,
    ):
        await read_until(stream.aiter_lines(), ": heartbeat", 3)


async def test_it_bounds_the_number_of_listeners(
    world: FastAPI, make_client: object, server: str
) -> None:
    world.state.page_watches = Watches(world.state.upstate, limit=0)
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        answer = await client.get("/s/main/events")
    assert answer.status_code == 503
