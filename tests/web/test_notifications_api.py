"""/api/v1/notifications: the delivery log, newest first, paged, filtered."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.fixtures.db import TestDatabase
from tests.web.conftest import NOW
from upstate.store import outbox
from upstate.store.outbox import NewNotification


def event(kind: str, **parts: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "kind": kind, "monitor": None, "incident": None, "maintenance": None} | parts


async def seed(db: TestDatabase) -> list[int]:
    rows = [
        NewNotification(
            "change:1/ops",
            "ops",
            "monitor.down",
            event("monitor.down", monitor={"key": "api", "name": "API", "status": "down"}),
        ),
        NewNotification(
            "incident:7:0/subscriber:3",
            "subscriber:3",
            "incident.opened",
            event("incident.opened", incident={"id": 7, "title": "Slow"}),
        ),
        NewNotification(
            "maintenance:m1:scheduled/ops",
            "ops",
            "maintenance.scheduled",
            event("maintenance.scheduled", maintenance={"id": "m1", "title": "DB"}),
        ),
    ]
    async with db.sessions() as session:
        await outbox.add_many(session, rows, NOW)
        ids = [r.id for r in reversed(await outbox.list_rows(session))]
        assert await outbox.claim(session, ids[0], NOW, NOW + timedelta(seconds=60))
        await outbox.finish(
            session,
            ids[0],
            outbox.FAILED,
            NOW + timedelta(seconds=1),
            status_code=401,
            error="HTTP 401: nope",
        )
        await session.commit()
    return ids


async def test_it_lists_deliveries_newest_first_with_what_they_were_about(
    db: TestDatabase, client: httpx.AsyncClient
) -> None:
    first, second, third = await seed(db)

    response = await client.get("/api/v1/notifications")

    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [third, second, first]
    assert body["next_before"] is None
    failed = body["items"][2]
    assert failed == {
        "id": first,
        "target": "ops",
        "kind": "monitor.down",
        "state": "failed",
        "attempts": 1,
        "created_at": "2026-03-14T12:00:00Z",
        "next_attempt_at": None,
        "last_attempt_at": "2026-03-14T12:00:00Z",
        "done_at": "2026-03-14T12:00:01Z",
        "status_code": 401,
        "error": "HTTP 401: nope",
        "idempotency_key": "change:1/ops",
        "monitor": "api",
        "incident": None,
        "maintenance": None,
    }
    assert body["items"][1]["incident"] == "7"
    assert body["items"][1]["next_attempt_at"] == "2026-03-14T12:00:00Z"
    assert body["items"][0]["maintenance"] == "m1"


async def test_it_pages_by_id(db: TestDatabase, client: httpx.AsyncClient) -> None:
    first, second, third = await seed(db)

    page = (await client.get("/api/v1/notifications", params={"limit": 2})).json()
    rest = await client.get(
        "/api/v1/notifications", params={"limit": 2, "before": page["next_before"]}
    )

    assert [item["id"] for item in page["items"]] == [third, second]
    assert page["next_before"] == second
    assert [item["id"] for item in rest.json()["items"]] == [first]
    assert rest.json()["next_before"] is None


async def test_it_filters_by_target_state_and_kind(
    db: TestDatabase, client: httpx.AsyncClient
) -> None:
    first, second, third = await seed(db)

    async def ids(**params: str) -> list[int]:
        response = await client.get("/api/v1/notifications", params=params)
        assert response.status_code == 200
        return [item["id"] for item in response.json()["items"]]

    assert await ids(target="ops") == [third, first]
    assert await ids(state="pending") == [third, second]
    assert await ids(state="failed", target="ops") == [first]
    assert await ids(kind="incident.opened") == [second]
    assert await ids(target="nobody") == []


async def test_it_refuses_bad_filters_and_pages(client: httpx.AsyncClient) -> None:
    for params in ({"state": "lost"}, {"limit": "501"}, {"limit": "0"}, {"before": "x"}):
        response = await client.get("/api/v1/notifications", params=params)
        assert response.status_code == 422, params


async def test_one_notification_by_id(db: TestDatabase, client: httpx.AsyncClient) -> None:
    first, _, _ = await seed(db)

    found = await client.get(f"/api/v1/notifications/{first}")
    missing = await client.get("/api/v1/notifications/999999")

    assert found.json()["idempotency_key"] == "change:1/ops"
    assert missing.status_code == 404


async def test_the_log_needs_the_token(make_app: Any, make_client: Any) -> None:
    client = make_client(make_app(api_token="tok"))

    assert (await client.get("/api/v1/notifications")).status_code == 401
    authorized = await client.get("/api/v1/notifications", headers={"Authorization": "Bearer tok"})
    assert authorized.status_code == 200
