"""No secret planted in a monitor ever appears in any answer (or in the stored row)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.targets.http import HttpTarget
from upstate.store.tables import monitors

SECRETS = ["pw-PLANTED-1", "hdr-PLANTED-2", "url-PLANTED-3", "bearer-PLANTED-4"]


async def test_it_never_shows_a_secret(
    client: httpx.AsyncClient, db: TestDatabase, http_target: HttpTarget
) -> None:
    port = http_target.port
    answers = [
        await client.post(
            "/api/v1/monitors",
            json={
                "key": "api",
                "kind": "http",
                "url": f"http://monitor:url-PLANTED-3@127.0.0.1:{port}/ok",
                "headers": {"X-Api-Key": "hdr-PLANTED-2"},
                "auth": {"basic": {"username": "monitor", "password": "pw-PLANTED-1"}},
                "extra_url": f"http://u:url-PLANTED-3@127.0.0.1:{port}/metrics",
            },
        ),
        await client.post(
            "/api/v1/monitors",
            json={
                "key": "bearer",
                "kind": "http",
                "url": f"http://127.0.0.1:{port}/ok",
                "auth": {"bearer": "bearer-PLANTED-4"},
            },
        ),
    ]
    assert [a.status_code for a in answers] == [201, 201]
    answers += [
        await client.get("/api/v1/monitors"),
        await client.get("/api/v1/monitors/api"),
        await client.patch("/api/v1/monitors/api", json={"name": "API"}),
        await client.patch("/api/v1/monitors/api", json={"interval": "nonsense"}),
        await client.patch("/api/v1/monitors/api", json={"auth": {"basic": {"password": ["x"]}}}),
        await client.post("/api/v1/monitors/api/check"),
        await client.post("/api/v1/monitors/bearer/check"),
        await client.get("/api/v1/monitors/api/results"),
        await client.get("/api/v1/monitors/api/uptime"),
        await client.get("/api/v1/monitors/api/changes"),
        await client.get("/api/v1/status"),
        await client.get("/metrics"),
        await client.get("/api/openapi.json"),
    ]
    checked = answers[7].json()
    assert checked["status"] == "up"
    assert checked["status_code"] == 200
    assert checked["target"] == f"http://monitor:**********@127.0.0.1:{port}/ok"
    assert answers[5].status_code == answers[6].status_code == 422
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer.text, (answer.request.url, secret)
    async with db.sessions() as session:
        rows = (await session.execute(select(monitors.c.definition))).scalars().all()
    stored = json.dumps(rows)
    for secret in ("pw-PLANTED-1", "hdr-PLANTED-2", "bearer-PLANTED-4"):
        assert secret not in stored  # sealed at rest; URLs are not secret fields
