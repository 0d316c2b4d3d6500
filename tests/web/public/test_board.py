"""The board over HTTP: /api/status (shape, cache headers, one collection for many
viewers, nothing secret or internal), /board rendered without JavaScript, /board.js."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tests.fixtures.db import TestDatabase
from tests.web.conftest import NOW
from upstate.config.models import Board, UpstateConfig
from upstate.domain.enums import Status
from upstate.services.board import board_cache
from upstate.store import monitors, states
from upstate.store.states import StateRecord
from upstate.web.public.board import meter

PASSWORD = "Pa55-w0rd-canary"
BEARER = "bearer-canary-0123456789"
LOOPBACK_URL = "http://127.0.0.1:18080/internal/health"


async def add_monitor(
    client: httpx.AsyncClient, db: TestDatabase, status: Status, **body: Any
) -> None:
    answer = await client.post("/api/v1/monitors", json={"kind": "http", **body})
    assert answer.status_code == 201, answer.text
    async with db.sessions() as session:
        record = await monitors.get_by_key(session, body["key"])
        assert record is not None
        await states.put_state(session, StateRecord(record.id, status, NOW, NOW, {}, NOW))
        await session.commit()


def without_systemctl(app: FastAPI) -> None:
    """The cache cli.py would share, built for a host without systemctl."""
    state = app.state.upstate
    state.live.swap(UpstateConfig(board=Board(monitors="all")))
    app.state.board_cache = board_cache(
        state.sessions, state.live, state.clock, systemctl="/nonexistent/systemctl"
    )


async def test_it_serves_the_snapshot_in_camel_case_with_cache_headers(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    without_systemctl(app)
    await add_monitor(
        client,
        db,
        Status.UP,
        key="api",
        url="https://api.example.com/health",
        unit="api.service",
        critical=True,
    )
    first = await client.get("/api/status")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["x-status-cache"] == "miss"
    body = first.json()
    assert set(body) == {"generatedAt", "overall", "host", "components", "upstreams"}
    assert body["generatedAt"] == "2026-03-14T12:00:00Z"
    assert body["overall"] == "operational"
    assert set(body["host"]) == {
        "hostname",
        "platform",
        "uptimeSec",
        "cpus",
        "load",
        "loadRatio",
        "memTotal",
        "memUsed",
        "memUsedRatio",
        "disks",
    }
    assert set(body["host"]["disks"][0]) == {"mount", "total", "used", "usedRatio"}
    (api,) = body["components"]
    assert set(api) == {
        "key",
        "label",
        "role",
        "host",
        "url",
        "critical",
        "unit",
        "probe",
        "unitState",
    }
    assert api["unitState"] == {"active": "unknown", "sub": "unknown", "uptimeSec": None}
    assert api["probe"]["up"] is True
    assert body["upstreams"] == []

    second = await client.get("/api/status")
    assert second.headers["x-status-cache"] == "hit"
    assert second.headers["cache-control"] == "no-store"
    assert second.json() == body


async def test_it_collects_once_for_fifty_concurrent_requests(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    without_systemctl(app)
    await add_monitor(client, db, Status.UP, key="api", url="https://api.example.com/")
    answers = await asyncio.gather(*(client.get("/api/status") for _ in range(50)))
    assert {a.status_code for a in answers} == {200}
    assert [a.headers["x-status-cache"] for a in answers].count("miss") == 1
    assert app.state.board_cache.collections == 1


async def test_it_shows_no_secret_and_no_internal_url(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    without_systemctl(app)
    await add_monitor(
        client,
        db,
        Status.DOWN,
        key="secret-api",
        url=f"https://admin:{PASSWORD}@api.example.com/health?key={PASSWORD}",
        headers={"Authorization": f"Bearer {BEARER}"},
    )
    await add_monitor(
        client,
        db,
        Status.UP,
        key="internal",
        url=LOOPBACK_URL,
        extra_url="http://127.0.0.1:18081/abuse",
    )
    api = await client.get("/api/status")
    page = await client.get("/board")
    for text in (api.text, page.text):
        for canary in (PASSWORD, BEARER, "127.0.0.1", "/internal/health", "/abuse"):
            assert canary not in text
    by_key = {c["key"]: c for c in api.json()["components"]}
    assert by_key["internal"]["url"] is None
    assert by_key["secret-api"]["url"] == "https://api.example.com"


async def test_it_renders_the_board_without_javascript(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    without_systemctl(app)
    await add_monitor(
        client,
        db,
        Status.UP,
        key="api",
        name="Public API",
        url="https://api.example.com/",
        critical=True,
    )
    await add_monitor(
        client, db, Status.DOWN, key="web", name="Website", url="https://w.example.com/"
    )
    page = await client.get("/board")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "Partial degradation" in html  # a non-critical component is down
    assert 'class="overall-degraded"' in html
    assert "Public API" in html
    assert "Website" in html
    assert re.search(r"updated <span id=\"age\" data-age=\"\d+\">\d+</span>s ago", html)
    meters = re.findall(r'<div class="meter (ok|warn|bad)"[^>]*>((?:<i[^>]*></i>)+)</div>', html)
    assert len(meters) >= 2  # load and memory, then disks
    assert all(cells.count("<i") == 20 for _, cells in meters)
    assert '<script src="/board.js" defer></script>' in html
    assert '<meta http-equiv="refresh"' in html  # inside <noscript>


def test_it_colours_meters_by_thresholds() -> None:
    assert meter(0.0) == {"filled": 0, "cells": 20, "level": "ok", "percent": 0}
    assert meter(0.59)["level"] == "ok"
    assert meter(0.6)["level"] == "warn"
    assert meter(0.849)["level"] == "warn"
    assert meter(0.85)["level"] == "bad"
    assert meter(2.5)["filled"] == 20  # load can exceed the CPUs
    assert meter(None)["filled"] == 0


async def test_it_serves_the_script_with_caching_headers(client: httpx.AsyncClient) -> None:
    answer = await client.get("/board.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert "max-age" in answer.headers["cache-control"]
    assert "document.hidden" in answer.text
    assert "7000" in answer.text
    again = await client.get("/board.js", headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304


async def test_it_works_without_a_token_when_the_api_needs_one(
    make_app: Callable[..., FastAPI], make_client: Callable[..., httpx.AsyncClient]
) -> None:
    app = make_app(api_token="t" * 32)
    client = make_client(app)
    assert (await client.get("/api/v1/monitors")).status_code == 401
    assert (await client.get("/api/status")).status_code == 200
    assert (await client.get("/board")).status_code == 200


async def test_it_sends_the_bytes_encoded_once_per_collection_as_json_response_did(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    without_systemctl(app)
    await add_monitor(
        client, db, Status.UP, key="cafe", name="Café ✓", url="https://api.example.com/"
    )
    first = await client.get("/api/status")
    second = await client.get("/api/status")
    snapshot, _, _ = await app.state.board_cache.get()
    assert first.content == second.content == JSONResponse(snapshot).body
    assert first.headers["content-type"] == "application/json"
    assert first.headers["content-length"] == str(len(first.content))
    assert (first.headers["x-status-cache"], second.headers["x-status-cache"]) == ("miss", "hit")
    assert second.headers["cache-control"] == "no-store"
    assert int(second.headers["age"]) >= 0
    assert "Café ✓".encode() in first.content  # UTF-8, not \u escapes
    assert app.state.board_cache.collections == 1
