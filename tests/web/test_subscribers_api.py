"""/api/v1/subscribers: admin list, add, read, delete; webhook URLs never shown."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.targets.http import Request
from tests.targets.receivers import Inbox
from tests.web.conftest import BASE, Clock, LoopbackEngine
from upstate import notify
from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.notify.base import http_client
from upstate.notify.delivery import Outcome
from upstate.notify.events import EventIncident, EventKind
from upstate.services import subscribers
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.store import outbox
from upstate.store.tables import outbox as outbox_table
from upstate.web.app import create_app

CONFIG = load_config_text(
    """
status_pages:
  - slug: acme
    title: Acme
    components: [{name: API}, {name: Website, key: web}]
"""
)
HOOK_TOKEN = "hook-token-5f3a9c"


@pytest.fixture
def app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
) -> FastAPI:
    return create_app(
        settings=Settings(_env_file=None, database_url=db.url, api_token="admin-token-1234"),
        session_factory=db.sessions,
        engine=loop_engine,
        registry=registry,
        secrets=box,
        clock=clock,
        live=LiveConfig(CONFIG),
    )


@pytest.fixture
def admin(app: FastAPI, make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(app, headers={"Authorization": "Bearer admin-token-1234"})


async def test_it_needs_the_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/subscribers")).status_code == 401


async def test_it_adds_lists_reads_and_deletes(admin: httpx.AsyncClient, db: TestDatabase) -> None:
    added = await admin.post(
        "/api/v1/subscribers",
        json={"page": "acme", "kind": "email", "address": "ops@example.com", "components": ["web"]},
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert body["email"] == "ops@example.com"
    assert body["webhook_host"] is None
    assert body["components"] == ["acme.web"]
    assert body["confirmed"] is False
    assert "token" not in body
    async with db.sessions() as session:
        kinds = (await session.execute(select(outbox_table.c.kind))).scalars().all()
    assert kinds == ["subscription.confirm"]

    listed = await admin.get("/api/v1/subscribers", params={"page": "acme"})
    assert listed.json() == {"items": [body], "next_cursor": None}
    assert (await admin.get(f"/api/v1/subscribers/{body['id']}")).json() == body

    assert (await admin.delete(f"/api/v1/subscribers/{body['id']}")).status_code == 204
    assert (await admin.get(f"/api/v1/subscribers/{body['id']}")).status_code == 404
    assert (await admin.delete(f"/api/v1/subscribers/{body['id']}")).status_code == 404


async def test_it_adds_a_confirmed_subscriber_without_a_mail(
    admin: httpx.AsyncClient, db: TestDatabase
) -> None:
    added = await admin.post(
        "/api/v1/subscribers",
        json={"page": "acme", "kind": "email", "address": "ops@example.com", "confirmed": True},
    )

    assert added.json()["confirmed"] is True
    async with db.sessions() as session:
        assert (await session.execute(select(outbox_table.c.id))).all() == []
        assert await subscribers.audience(session, "acme", ["acme.api"]) == [added.json()["id"]]


async def test_it_pages(admin: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        body = {"page": "acme", "kind": "email", "address": f"{name}@example.com"}
        assert (await admin.post("/api/v1/subscribers", json=body)).status_code == 201

    first = (await admin.get("/api/v1/subscribers", params={"limit": 2})).json()
    rest = (
        await admin.get("/api/v1/subscribers", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [s["email"] for s in first["items"]] == ["a@example.com", "b@example.com"]
    assert [s["email"] for s in rest["items"]] == ["c@example.com"]
    assert rest["next_cursor"] is None
    bad = await admin.get("/api/v1/subscribers", params={"cursor": "x"})
    assert bad.status_code == 400


async def test_it_refuses_an_unknown_page_or_component(admin: httpx.AsyncClient) -> None:
    page = await admin.post(
        "/api/v1/subscribers", json={"page": "nope", "kind": "email", "address": "a@example.com"}
    )
    component = await admin.post(
        "/api/v1/subscribers",
        json={"page": "acme", "kind": "email", "address": "a@example.com", "components": ["db"]},
    )

    assert page.status_code == 404
    assert component.status_code == 400
    assert component.json()["error"]["message"] == "the page 'acme' has no component 'db'"


async def test_it_never_shows_a_webhook_url_and_delivers_to_it(
    admin: httpx.AsyncClient,
    db: TestDatabase,
    box: SecretBox,
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    url = f"{inbox.url}?token={HOOK_TOKEN}"

    added = await admin.post(
        "/api/v1/subscribers", json={"page": "acme", "kind": "webhook", "address": url}
    )
    listed = await admin.get("/api/v1/subscribers")
    read = await admin.get(f"/api/v1/subscribers/{added.json()['id']}")

    assert added.status_code == 201
    for answer in (added, listed, read):
        assert HOOK_TOKEN not in answer.text
        assert inbox.path not in answer.text
    assert read.json()["webhook_host"] == "127.0.0.1"
    assert read.json()["confirmed"] is True

    async with db.sessions() as session:
        (subscriber_id,) = await subscribers.audience(session, "acme", ["acme.api"])
        stored = await subscribers.get_subscriber(session, subscriber_id)
        channel = await subscribers.channel_for(
            session, outbox.subscriber_target(subscriber_id), secrets=box, base_url=BASE
        )
    assert HOOK_TOKEN not in stored.address
    assert channel is not None
    event = notify.Event(
        kind=EventKind.INCIDENT_OPENED,
        occurred_at=Clock().now,
        idempotency_key="incident:x:0/subscriber",
        incident=EventIncident("x", "API down", "investigating", "major"),
    )
    async with http_client() as http:
        delivery = await notify.send(channel, event, notify.NotifyContext(http=http))

    assert delivery.outcome is Outcome.OK
    (request,) = inbox.requests
    assert isinstance(request, Request)
    assert request.param("token") == HOOK_TOKEN
    assert request.header("List-Unsubscribe") == (f"<{BASE}/s/acme/unsubscribe/{stored.token}>")
