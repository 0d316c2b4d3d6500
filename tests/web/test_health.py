from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.web.conftest import LoopbackEngine
from upstate.store.db import make_engine, session_factory


@pytest.fixture
async def unreachable() -> AsyncIterator[AsyncEngine]:
    """An engine for a PostgreSQL server that is not there (nothing listens on port 1)."""
    engine = make_engine("postgresql://upstate@127.0.0.1:1/upstate")
    yield engine
    await engine.dispose()


async def test_it_is_alive(client: httpx.AsyncClient) -> None:
    answer = await client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


async def test_it_is_ready_with_a_database_and_a_running_engine(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "reasons": [],
        "engine": {
            "running": True,
            "database_ok": True,
            "buffered_results": 3,
            "dropped_results": 0,
        },
    }


async def test_it_is_not_ready_when_the_database_is_unreachable(
    make_app: Callable[..., FastAPI],
    make_client: Callable[..., httpx.AsyncClient],
    unreachable: AsyncEngine,
) -> None:
    client = make_client(make_app(sessions=session_factory(unreachable)))
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["reasons"] == ["database: unreachable (ConnectionRefusedError)"]
    api = await client.get("/api/v1/monitors")
    assert api.status_code == 503
    assert api.json()["error"]["code"] == "database_unavailable"


async def test_it_is_not_ready_when_the_engine_says_so(
    client: httpx.AsyncClient, loop_engine: LoopbackEngine
) -> None:
    loop_engine.running = False
    loop_engine.database_ok = False
    answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reasons"] == [
        "scheduler: not running",
        "results: the last write did not reach the database",
    ]


async def test_it_serves_prometheus_metrics(client: httpx.AsyncClient) -> None:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert 'upstate_monitor_up{monitor="api"} 1.0' in answer.text


async def test_it_documents_the_api_without_the_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text
    assert "cdn" not in page.text.lower()
    assert "<code>/api/v1/monitors/{key}/uptime</code>" in page.text
    schema = (await client.get("/api/openapi.json")).json()
    assert {"/api/v1/monitors", "/ping/{token}", "/readyz"} <= set(schema["paths"])
    assert set(schema["paths"]["/ping/{token}"]) == {"get", "post", "head"}


async def test_it_answers_unknown_routes_in_the_error_shape(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/v1/nothing")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    wrong = await client.put("/api/v1/monitors")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
