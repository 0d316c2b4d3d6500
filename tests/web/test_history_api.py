"""Results, uptime, changes and the overall status, read through the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.db import TestDatabase
from tests.web.conftest import NOW, Clock
from upstate.domain.enums import ErrorKind, Status
from upstate.store import changes, monitors, results, rollups, states
from upstate.store.changes import StatusChange
from upstate.store.results import ResultRow
from upstate.store.states import StateRecord

HTTP = {"key": "api", "kind": "http", "url": "http://127.0.0.1:9/health"}


async def monitor_id(client: httpx.AsyncClient, db: TestDatabase, **body: Any) -> int:
    answer = await client.post("/api/v1/monitors", json={**HTTP, **body})
    assert answer.status_code == 201, answer.text
    async with db.sessions() as session:
        record = await monitors.get_by_key(session, answer.json()["key"])
    assert record is not None
    return record.id


def row(mid: int, at: datetime, **values: Any) -> ResultRow:
    fields: dict[str, Any] = {"region": "local", "status": Status.UP, "duration_ms": 20.0}
    fields.update(values)
    return ResultRow(monitor_id=mid, started_at=at, **fields)


async def add_rows(db: TestDatabase, rows: list[ResultRow]) -> None:
    async with db.sessions() as session:
        await results.insert_many(session, rows)
        await rollups.apply(session, rows)
        await session.commit()


async def add_changes(db: TestDatabase, mid: int, steps: list[tuple[float, Status]]) -> None:
    """(hours before NOW, new status) in order; `previous` follows from the list."""
    previous = Status.UNKNOWN
    async with db.sessions() as session:
        for hours, status in steps:
            at = NOW - timedelta(hours=hours)
            await changes.add(session, StatusChange(mid, previous, status, at, f"to {status}"))
            previous = status
        await session.commit()


async def test_it_pages_results_newest_first_and_stable_while_new_ones_arrive(
    client: httpx.AsyncClient, db: TestDatabase
) -> None:
    mid = await monitor_id(client, db)
    same = NOW - timedelta(minutes=30)  # several rows share a timestamp: the id breaks ties
    await add_rows(db, [row(mid, NOW - timedelta(minutes=m)) for m in range(1, 8)])
    await add_rows(db, [row(mid, same, region=f"r{i}") for i in range(3)])
    seen: list[tuple[str, str]] = []
    page = (await client.get("/api/v1/monitors/api/results", params={"limit": 4})).json()
    await add_rows(db, [row(mid, NOW)])  # newer than the first page: must not shift pages
    while True:
        seen += [(item["started_at"], item["region"]) for item in page["items"]]
        if page["next_cursor"] is None:
            break
        page = (
            await client.get(
                "/api/v1/monitors/api/results", params={"limit": 4, "cursor": page["next_cursor"]}
            )
        ).json()
    assert len(seen) == 10
    assert len(set(seen)) == 10
    assert [s[0] for s in seen] == sorted((s[0] for s in seen), reverse=True)


async def test_it_filters_results_and_shows_phases_and_errors(
    client: httpx.AsyncClient, db: TestDatabase
) -> None:
    mid = await monitor_id(client, db)
    await add_rows(
        db,
        [
            row(mid, NOW - timedelta(minutes=1), dns_ms=1.5, connect_ms=2.0, status_code=200),
            row(
                mid,
                NOW - timedelta(minutes=2),
                region="eu",
                status=Status.DOWN,
                error_kind=ErrorKind.TIMEOUT,
                error_message="no answer within 10s",
            ),
            row(mid, NOW - timedelta(minutes=3)),
        ],
    )
    since = (NOW - timedelta(minutes=2)).isoformat()
    items = (await client.get("/api/v1/monitors/api/results", params={"since": since})).json()
    assert [i["region"] for i in items["items"]] == ["local", "eu"]
    first, second = items["items"]
    assert first["phases"] == {
        "dns_ms": 1.5,
        "connect_ms": 2.0,
        "tls_ms": None,
        "ttfb_ms": None,
        "transfer_ms": None,
    }
    assert first["status_code"] == 200
    assert first["error"] is None
    assert second["status"] == "down"
    assert second["error"] == {"kind": "timeout", "message": "no answer within 10s"}
    eu = await client.get("/api/v1/monitors/api/results", params={"region": "eu"})
    assert [i["region"] for i in eu.json()["items"]] == ["eu"]
    naive_until = (NOW - timedelta(minutes=2)).replace(tzinfo=None).isoformat()
    older = await client.get("/api/v1/monitors/api/results", params={"until": naive_until})
    assert len(older.json()["items"]) == 1


async def test_it_refuses_a_forged_cursor_and_a_huge_page(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/monitors", json=HTTP)
    forged = await client.get("/api/v1/monitors/api/results", params={"cursor": "bm9wZQ"})
    assert forged.status_code == 400
    assert forged.json()["error"]["code"] == "bad_request"
    huge = await client.get("/api/v1/monitors/api/results", params={"limit": 5000})
    assert huge.status_code == 422
    assert huge.json()["error"]["issues"][0]["field"] == "limit"


async def test_it_computes_uptime_from_changes_and_latency_from_rollups(
    client: httpx.AsyncClient, db: TestDatabase, clock: Clock
) -> None:
    mid = await monitor_id(client, db)
    # Down from 30h ago to 23h ago (1h inside the 24h window), down again 2h..1h30 ago,
    # and in maintenance for 4h: 1.5h down out of 20h counted.
    await add_changes(
        db,
        mid,
        [
            (40, Status.UP),
            (30, Status.DOWN),
            (23, Status.UP),
            (10, Status.MAINTENANCE),
            (6, Status.UP),
            (2, Status.DOWN),
            (1.5, Status.UP),
        ],
    )
    await add_rows(
        db, [row(mid, NOW - timedelta(hours=1), duration_ms=float(ms)) for ms in range(1, 101)]
    )
    answer = await client.get("/api/v1/monitors/api/uptime", params={"window": "24h"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["window"] == "24h"
    assert body["downtime_s"] == 1.5 * 3600
    assert body["counted_s"] == 20 * 3600
    assert body["outages"] == 2
    assert body["uptime_percent"] == round(100 * (1 - 1.5 / 20), 4)
    assert body["checks"] == 100
    latency = body["latency_ms"]
    assert latency["min"] == 1.0
    assert latency["max"] == 100.0
    assert latency["avg"] == 50.5
    assert 35 <= latency["p50"] <= 75
    assert 80 <= latency["p99"] <= 100
    assert latency["p50"] <= latency["p95"] <= latency["p99"]
    week = (await client.get("/api/v1/monitors/api/uptime", params={"window": "7d"})).json()
    assert week["downtime_s"] == 7.5 * 3600
    assert week["counted_s"] == 36 * 3600
    clock.advance(-20 * 3600)  # a window that ends before the second outage
    early = (await client.get("/api/v1/monitors/api/uptime")).json()
    assert early["outages"] == 1
    assert early["downtime_s"] == 7 * 3600


async def test_it_has_no_uptime_for_a_monitor_never_judged(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/monitors", json=HTTP)
    body = (await client.get("/api/v1/monitors/api/uptime", params={"window": "90d"})).json()
    assert body["uptime_percent"] is None
    assert body["outages"] == 0
    assert body["checks"] == 0
    assert body["latency_ms"]["p50"] is None
    bad = await client.get("/api/v1/monitors/api/uptime", params={"window": "1y"})
    assert bad.status_code == 422


async def test_it_lists_changes_newest_first(client: httpx.AsyncClient, db: TestDatabase) -> None:
    mid = await monitor_id(client, db)
    await add_changes(db, mid, [(3, Status.UP), (2, Status.DOWN), (1, Status.UP)])
    body = (await client.get("/api/v1/monitors/api/changes")).json()
    assert [(c["previous"], c["status"]) for c in body["items"]] == [
        ("down", "up"),
        ("up", "down"),
        ("unknown", "up"),
    ]
    assert body["items"][0]["reason"] == "to up"
    assert body["items"][0]["flapping"] is False
    until = body["items"][0]["at"]
    older = (await client.get("/api/v1/monitors/api/changes", params={"until": until})).json()
    assert len(older["items"]) == 2
    one = (await client.get("/api/v1/monitors/api/changes", params={"limit": 1})).json()
    assert len(one["items"]) == 1


async def test_it_tells_the_overall_status(client: httpx.AsyncClient, db: TestDatabase) -> None:
    ids = {
        key: await monitor_id(client, db, key=key, critical=critical)
        for key, critical in (("api", True), ("blog", False), ("cdn", False))
    }

    async def put(key: str, status: Status) -> None:
        async with db.sessions() as session:
            await states.put_state(
                session,
                StateRecord(ids[key], status, NOW, NOW, {"flapping": key == "cdn"}, NOW),
            )
            await session.commit()

    async def overall() -> dict[str, Any]:
        answer = await client.get("/api/v1/status")
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    assert (await overall())["status"] == "operational"  # all unknown
    await put("api", Status.UP)
    await put("blog", Status.UP)
    await put("cdn", Status.DEGRADED)
    assert (await overall())["status"] == "degraded"
    await put("cdn", Status.UP)
    await put("blog", Status.DOWN)
    assert (await overall())["status"] == "degraded"
    await put("api", Status.DOWN)
    body = await overall()
    assert body["status"] == "down"
    assert [(m["key"], m["status"], m["critical"]) for m in body["monitors"]] == [
        ("api", "down", True),
        ("blog", "down", False),
        ("cdn", "up", False),
    ]
    cdn = (await client.get("/api/v1/monitors/cdn")).json()
    assert cdn["status"] == "up"
    assert cdn["flapping"] is True
    assert cdn["since"] == cdn["last_checked_at"] == "2026-03-14T12:00:00Z"
