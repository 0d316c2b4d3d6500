from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.services.test_maintenance import FILE
from tests.store.helpers import add_monitor
from tests.web.conftest import Clock
from upstate.config.loader import load_config_text
from upstate.services import maintenance
from upstate.store.tables import maintenance as maintenance_table

WINDOW: dict[str, Any] = {
    "title": "Database upgrade",
    "description": "Postgres 17",
    "monitors": ["api"],
    "start": "2026-03-14T14:00:00Z",  # the clock starts at 12:00 UTC
    "duration": "1h",
}


@pytest.fixture(autouse=True)
async def monitors(db: TestDatabase) -> None:
    async with db.sessions() as session:
        await add_monitor(session, "api")
        await add_monitor(session, "db")
        await session.commit()


async def create(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/api/v1/maintenance", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def test_it_creates_reads_and_lists_a_window(client: httpx.AsyncClient, clock: Clock) -> None:
    body = await create(client, WINDOW)
    assert body["title"] == "Database upgrade"
    assert body["description"] == "Postgres 17"
    assert body["source"] == "api"
    assert body["monitors"] == ["api"]
    assert body["start"] == "2026-03-14T14:00:00Z"
    assert body["end"] == "2026-03-14T15:00:00Z"
    assert body["schedule"] is None
    assert body["status"] == "scheduled"
    assert body["occurrence_start"] == "2026-03-14T14:00:00Z"
    assert body["occurrence_end"] == "2026-03-14T15:00:00Z"
    clock.advance(2.5 * 3600)
    read = (await client.get(f"/api/v1/maintenance/{body['id']}")).json()
    assert read["status"] == "in_progress"
    nightly = await create(
        client,
        {
            "title": "Nightly",
            "monitors": ["db"],
            "schedule": "0 3 * * *",
            "duration": "30m",
            "timezone": "Europe/Paris",
        },
    )
    assert (nightly["duration_s"], nightly["timezone"]) == (1800.0, "Europe/Paris")
    assert nightly["start"] is None
    assert nightly["occurrence_start"] == "2026-03-15T02:00:00Z"  # 03:00 in Paris
    listed = (await client.get("/api/v1/maintenance")).json()["items"]
    assert [w["id"] for w in listed] == [body["id"], nightly["id"]]


async def test_it_refuses_bad_windows_naming_the_field(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/api/v1/maintenance", json={**WINDOW, "monitors": ["ghost"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["issues"][0]["field"] == "monitors[0]"
    unitless = await client.post("/api/v1/maintenance", json={**WINDOW, "duration": 3600})
    assert unitless.status_code == 422
    assert unitless.json()["error"]["issues"][0]["field"] == "duration"
    assert (await client.get("/api/v1/maintenance/nope")).status_code == 404
    assert (await client.get("/api/v1/maintenance")).json()["items"] == []


async def test_it_patches_ends_early_and_deletes(client: httpx.AsyncClient, clock: Clock) -> None:
    window = await create(client, WINDOW)
    path = f"/api/v1/maintenance/{window['id']}"
    longer = await client.patch(path, json={"duration": "2h", "description": None})
    assert longer.status_code == 200, longer.text
    assert longer.json()["end"] == "2026-03-14T16:00:00Z"
    assert longer.json()["description"] is None
    clock.advance(2.5 * 3600)
    ended = await client.patch(path, json={"status": "completed"})
    assert ended.json()["status"] == "completed"
    assert ended.json()["end"] == "2026-03-14T14:30:00Z"
    wrong = await client.patch(path, json={"status": "scheduled"})
    assert wrong.status_code == 400
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    assert (await client.delete(path)).status_code == 404


async def test_config_windows_are_read_only(
    client: httpx.AsyncClient, db: TestDatabase, clock: Clock
) -> None:
    async with db.sessions() as session:
        await maintenance.sync_config(session, load_config_text(FILE), clock.now)
        await session.commit()
    listed = (await client.get("/api/v1/maintenance")).json()["items"]
    assert {w["source"] for w in listed} == {"config"}
    path = f"/api/v1/maintenance/{maintenance.config_id('Upgrade')}"
    for answer in (await client.patch(path, json={"title": "x"}), await client.delete(path)):
        assert answer.status_code == 409
        assert "upstate.yaml; edit the file instead" in answer.json()["error"]["message"]
    assert (await client.get(path)).json()["title"] == "Upgrade"


async def test_each_write_tells_the_maintenance_loop_after_its_commit(
    app: FastAPI, client: httpx.AsyncClient, db: TestDatabase
) -> None:
    seen: list[int] = []

    def changed() -> None:  # what the loop would re-read: the committed windows
        async def count() -> None:
            async with db.sessions() as session:
                seen.append(len((await session.execute(select(maintenance_table))).all()))

        tasks.append(asyncio.ensure_future(count()))

    tasks: list[asyncio.Task[None]] = []
    app.state.upstate = replace(app.state.upstate, maintenance_changed=changed)
    window = await create(client, WINDOW)
    path = f"/api/v1/maintenance/{window['id']}"
    assert (await client.patch(path, json={"duration": "2h"})).status_code == 200
    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404  # reads tell nobody
    await asyncio.gather(*tasks)
    assert seen == [1, 1, 0]
