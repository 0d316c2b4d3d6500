from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.fixtures.db import TestDatabase
from tests.services.test_incidents import PAGES, RecordingNotifier, outbox_keys
from tests.web.conftest import Clock, LoopbackEngine
from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.notify.events import EventKind
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.web.app import create_app

OPEN = {
    "title": "API errors",
    "impact": "major",
    "components": [{"code": "main.api", "status": "major_outage"}],
    "body": "We are **looking** into it.",
}


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
    notifier: RecordingNotifier,
) -> FastAPI:
    return create_app(
        settings=Settings(_env_file=None, database_url=db.url),
        session_factory=db.sessions,
        engine=loop_engine,
        registry=registry,
        secrets=box,
        clock=clock,
        live=LiveConfig(load_config_text(PAGES)),
        notifier=notifier,
    )


@pytest.fixture
def client(app: FastAPI, make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(app)


async def open_incident(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/incidents", json={**OPEN, **changes})
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


async def test_it_opens_reads_and_lists_an_incident(
    client: httpx.AsyncClient, clock: Clock, notifier: RecordingNotifier, db: TestDatabase
) -> None:
    body = await open_incident(client)
    assert body["title"] == "API errors"
    assert body["status"] == "investigating"
    assert body["impact"] == "major"
    assert body["draft"] is False
    assert body["auto"] is False
    assert body["pages"] == ["main"]
    assert body["components"] == [{"code": "main.api", "name": "API", "status": "major_outage"}]
    assert body["monitors"] == []
    assert body["resolved_at"] is None
    assert body["duration_s"] == 0.0
    (first,) = body["updates"]
    assert first["status"] == "investigating"
    assert first["body_html"] == "<p>We are <strong>looking</strong> into it.</p>\n"
    assert first["affected_components"] == [
        {
            "code": "main.api",
            "name": "API",
            "old_status": "operational",
            "new_status": "major_outage",
        }
    ]
    assert notifier.incidents == [(body["id"], EventKind.INCIDENT_OPENED, 1, False)]
    assert notifier.wakes == 1
    async with db.sessions() as session:  # committed, with its notification
        assert await outbox_keys(session) == [f"test:{body['id']}:1:incident.opened"]

    clock.advance(90)
    read = await client.get(f"/api/v1/incidents/{body['id']}")
    assert read.status_code == 200
    assert read.json()["duration_s"] == 90.0
    listed = (await client.get("/api/v1/incidents")).json()["items"]
    assert [i["id"] for i in listed] == [body["id"]]


async def test_updates_move_it_to_resolved_with_a_timeline(
    client: httpx.AsyncClient, clock: Clock, notifier: RecordingNotifier
) -> None:
    incident = await open_incident(client)
    path = f"/api/v1/incidents/{incident['id']}/updates"
    clock.advance(60)
    identified = await client.post(
        path,
        json={
            "status": "identified",
            "body": "A bad deploy",
            "components": [{"code": "main.api", "status": "partial_outage"}],
        },
    )
    assert identified.status_code == 201, identified.text
    assert identified.json()["components"][0]["status"] == "partial_outage"
    clock.advance(60)
    resolved = await client.post(path, json={"status": "resolved"})
    body = resolved.json()
    assert body["status"] == "resolved"
    assert body["duration_s"] == 120.0
    assert body["resolved_at"] is not None
    assert [u["status"] for u in body["updates"]] == ["investigating", "identified", "resolved"]
    assert body["components"][0]["status"] == "operational"
    assert [kind for _, kind, _, _ in notifier.incidents] == [
        EventKind.INCIDENT_OPENED,
        EventKind.INCIDENT_UPDATED,
        EventKind.INCIDENT_RESOLVED,
    ]
    reopen = await client.post(path, json={"status": "investigating", "body": "again"})
    assert reopen.status_code == 409
    assert "new incident" in reopen.json()["error"]["message"]


async def test_an_update_body_cannot_carry_a_script(client: httpx.AsyncClient) -> None:
    incident = await open_incident(client)
    answer = await client.post(
        f"/api/v1/incidents/{incident['id']}/updates",
        json={"status": "monitoring", "body": '<script>alert("x")</script><img src=x onerror=y>'},
    )
    html = answer.json()["updates"][-1]["body_html"]
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


async def test_it_refuses_bad_requests_naming_the_problem(client: httpx.AsyncClient) -> None:
    unknown = await client.post(
        "/api/v1/incidents",
        json={**OPEN, "components": [{"code": "main.nope", "status": "major_outage"}]},
    )
    assert unknown.status_code == 400
    assert "main.nope" in unknown.json()["error"]["message"]
    nowhere = await client.post("/api/v1/incidents", json={**OPEN, "components": []})
    assert nowhere.status_code == 400
    assert "name a page or a component" in nowhere.json()["error"]["message"]
    bad_status = await client.post("/api/v1/incidents", json={**OPEN, "status": "fixed"})
    assert bad_status.status_code == 422
    bad_impact = await client.post("/api/v1/incidents", json={**OPEN, "impact": "huge"})
    assert bad_impact.status_code == 422
    extra = await client.post("/api/v1/incidents", json={**OPEN, "severity": "high"})
    assert extra.status_code == 422
    missing = await client.get("/api/v1/incidents/nope")
    assert missing.status_code == 404
    assert (await client.get("/api/v1/incidents")).json()["items"] == []


async def test_patch_edits_and_publishes_a_draft(
    client: httpx.AsyncClient, notifier: RecordingNotifier
) -> None:
    draft = await open_incident(client, draft=True)
    path = f"/api/v1/incidents/{draft['id']}"
    renamed = await client.patch(path, json={"title": "API slow", "impact": "minor"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["impact"]) == ("API slow", "minor")
    drafts = (await client.get("/api/v1/incidents", params={"draft": "true"})).json()["items"]
    assert [i["id"] for i in drafts] == [draft["id"]]
    published = await client.patch(path, json={"draft": False})
    assert published.json()["draft"] is False
    assert notifier.incidents[-1] == (draft["id"], EventKind.INCIDENT_OPENED, 1, False)
    back = await client.patch(path, json={"draft": True})
    assert back.status_code == 409
    assert (await client.get("/api/v1/incidents", params={"draft": "true"})).json()["items"] == []


async def test_the_list_filters_and_pages(client: httpx.AsyncClient, clock: Clock) -> None:
    first = await open_incident(client)
    await client.post(f"/api/v1/incidents/{first['id']}/updates", json={"status": "resolved"})
    clock.advance(60)
    second = await open_incident(
        client, title="Docs down", components=[], pages=["docs"], impact="minor"
    )

    async def ids(**params: Any) -> list[str]:
        answer = await client.get("/api/v1/incidents", params=params)
        assert answer.status_code == 200, answer.text
        return [i["id"] for i in answer.json()["items"]]

    assert await ids() == [second["id"], first["id"]]
    assert await ids(status="open") == [second["id"]]
    assert await ids(status="resolved") == [first["id"]]
    assert await ids(page="docs") == [second["id"]]
    assert await ids(limit=1, offset=1) == [first["id"]]
    since = (clock.now - timedelta(seconds=30)).replace(tzinfo=None).isoformat()
    assert await ids(since=since) == [second["id"]]
    assert await ids(before=since) == [first["id"]]
    bad = await client.get("/api/v1/incidents", params={"status": "closed"})
    assert bad.status_code == 422
