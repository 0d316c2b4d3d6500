"""/api/v1/channels: health without secrets, "send a test" through a running delivery
loop to real receivers, and "resume"."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from tests.fixtures.db import TestDatabase
from tests.targets.http import Response
from tests.targets.receivers import PAGERDUTY_ROUTING_KEY, Inbox
from tests.web.conftest import NOW, Clock, LoopbackEngine
from upstate.config import Settings
from upstate.config.notifications import (
    AppriseChannel,
    Channel,
    EmailChannel,
    PagerDutyChannel,
    WebhookChannel,
)
from upstate.notify.base import NotifyContext, http_client
from upstate.scheduler.delivery import DeliveryLoop
from upstate.services.delivery import Deliverer, wait_done
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.services.secrets import SecretBox
from upstate.store import channel_state, outbox
from upstate.web.app import create_app

URL_TOKEN = "T0ken-in-the-url-7d1f"
HEADER_SECRET = "Bearer hdr-s3cret-99ab"
SIGNING_SECRET = "whsec-sign-5e5e"
SMTP_PASSWORD = "smtp-pa55-c0ffee"
APPRISE_TOKEN = "apprise-tok-4242"

MakeApp = Callable[..., FastAPI]


def webhook(key: str, url: str, **fields: Any) -> WebhookChannel:
    return WebhookChannel.model_validate({"key": key, "url": url, **fields})


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(verify=False) as client:
        yield client


@pytest.fixture
async def make_channels_app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
    http: httpx.AsyncClient,
) -> AsyncIterator[MakeApp]:
    """The app with these channels configured and, with `deliver=True`, a delivery loop
    running beside it (woken by the notifier, as `upstate serve` wires it)."""
    loops: list[DeliveryLoop] = []

    def make(channels: Mapping[str, Channel], *, deliver: bool = False, **values: Any) -> FastAPI:
        async def resolve(target: str) -> Channel | None:
            return channels.get(target)

        notifier = Notifier(NotifyConfig(channels=channels), states=dict)
        if deliver:
            deliverer = Deliverer(db.sessions, resolve, NotifyContext(http=http), clock=clock)
            loop = DeliveryLoop(deliverer, poll_every=60)
            loop.start()
            loops.append(loop)
            notifier.wake = loop.wake
        return create_app(
            settings=Settings(_env_file=None, database_url=db.url, **values),
            session_factory=db.sessions,
            engine=loop_engine,
            registry=registry,
            secrets=box,
            clock=clock,
            notifier=notifier,
        )

    yield make
    for loop in loops:
        await loop.stop()


async def test_it_lists_every_channel_with_its_health_and_no_secret(
    db: TestDatabase,
    make_channels_app: MakeApp,
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    channels: dict[str, Channel] = {
        "hook": webhook(
            "hook",
            f"https://hooks.example.com/services/{URL_TOKEN}?token={URL_TOKEN}",
            secret=SIGNING_SECRET,
            headers={"Authorization": HEADER_SECRET},
            name="Ops hook",
        ),
        "pager": PagerDutyChannel.model_validate(
            {"key": "pager", "routing_key": PAGERDUTY_ROUTING_KEY}
        ),
        "mail": EmailChannel.model_validate(
            {
                "key": "mail",
                "to": ["ops@example.com"],
                "smtp_url": f"smtp://mailer:{SMTP_PASSWORD}@mail.internal.example:587",
            }
        ),
        "chat": AppriseChannel.model_validate(
            {"key": "chat", "url": f"slack://{APPRISE_TOKEN}/B0000/C0000"}
        ),
    }
    async with db.sessions() as session:
        await outbox.add_many(
            session,
            [
                outbox.NewNotification(f"k{n}/hook", "hook", "monitor.down", {"n": n})
                for n in range(3)
            ],
            NOW,
        )
        await channel_state.mark_failing(session, "hook", "HTTP 401: nope", NOW, "f" * 64)
        await channel_state.mark_success(session, "pager", NOW)
        await session.commit()
    client = make_client(make_channels_app(channels))

    response = await client.get("/api/v1/channels")

    assert response.status_code == 200
    items = {item["key"]: item for item in response.json()["items"]}
    assert set(items) == {"hook", "pager", "mail", "chat"}
    assert items["hook"] == {
        "key": "hook",
        "kind": "webhook",
        "name": "Ops hook",
        "failing": True,
        "last_error": "HTTP 401: nope",
        "last_error_at": "2026-03-14T12:00:00Z",
        "last_success_at": None,
        "pending": 3,
    }
    assert items["pager"]["failing"] is False
    assert items["pager"]["last_success_at"] == "2026-03-14T12:00:00Z"
    assert items["mail"]["name"] == "mail"
    for secret in (
        URL_TOKEN,
        "hooks.example.com",
        HEADER_SECRET,
        "hdr-s3cret",
        SIGNING_SECRET,
        SMTP_PASSWORD,
        "mail.internal.example",
        PAGERDUTY_ROUTING_KEY,
        APPRISE_TOKEN,
        "f" * 64,
    ):
        assert secret not in response.text
    one = await client.get("/api/v1/channels/hook")
    assert one.json() == items["hook"]


async def test_send_a_test_waits_for_the_outcome(
    db: TestDatabase,
    make_channels_app: MakeApp,
    make_client: Callable[..., httpx.AsyncClient],
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver()
    client = make_client(make_channels_app({"hook": webhook("hook", inbox.url)}, deliver=True))

    response = await client.post("/api/v1/channels/hook/test", params={"wait": 10})

    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["status_code"], body["kind"]) == ("sent", 200, "test")
    assert body["idempotency_key"].startswith("test:")
    assert body["idempotency_key"].endswith("/hook")
    (received,) = inbox.bodies()
    assert received["event"] == "test"
    assert received["id"] == body["idempotency_key"]
    second = await client.post("/api/v1/channels/hook/test", params={"wait": 10})
    assert second.json()["idempotency_key"] != body["idempotency_key"]  # not deduplicated
    assert len(inbox.requests) == 2


async def test_a_rejected_test_marks_the_channel_failing_until_resumed(
    db: TestDatabase,
    make_channels_app: MakeApp,
    make_client: Callable[..., httpx.AsyncClient],
    webhook_receiver: Callable[..., Inbox],
) -> None:
    inbox = webhook_receiver(Response(401, b"who are you"))
    client = make_client(make_channels_app({"hook": webhook("hook", inbox.url)}, deliver=True))

    failed = await client.post("/api/v1/channels/hook/test", params={"wait": 10})
    waiting = await client.post("/api/v1/channels/hook/test", params={"wait": 0.3})
    listed = (await client.get("/api/v1/channels")).json()["items"][0]
    resumed = await client.post("/api/v1/channels/hook/resume")

    assert failed.status_code == 200
    assert (failed.json()["state"], failed.json()["error"]) == ("failed", "HTTP 401: who are you")
    assert waiting.status_code == 202
    assert waiting.json()["state"] == "pending"
    assert (listed["failing"], listed["last_error"], listed["pending"]) == (
        True,
        "HTTP 401: who are you",
        1,
    )
    assert resumed.status_code == 200
    assert resumed.json()["failing"] is False
    done = await wait_done(db.sessions, waiting.json()["id"], 5)
    assert (done.state, done.attempts) == ("sent", 1)
    assert len(inbox.requests) == 2


async def test_send_a_test_without_wait_answers_202_with_the_queued_row(
    db: TestDatabase,
    make_channels_app: MakeApp,
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    client = make_client(make_channels_app({"hook": webhook("hook", "http://127.0.0.1:9/")}))

    response = await client.post("/api/v1/channels/hook/test")

    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "pending"
    async with db.sessions() as session:
        row = await outbox.get_by_key(session, body["idempotency_key"])
    assert row is not None
    assert (row.id, row.target, row.kind) == (body["id"], "hook", "test")


async def test_unknown_channels_and_long_waits_are_refused(
    make_channels_app: MakeApp, make_client: Callable[..., httpx.AsyncClient]
) -> None:
    client = make_client(make_channels_app({"hook": webhook("hook", "http://127.0.0.1:9/")}))

    missing = await client.post("/api/v1/channels/nope/test")
    resume = await client.post("/api/v1/channels/nope/resume")
    too_long = await client.post("/api/v1/channels/hook/test", params={"wait": 31})

    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no channel has the key 'nope'"
    assert resume.status_code == 404
    assert too_long.status_code == 422


async def test_the_channels_api_needs_the_token(
    make_channels_app: MakeApp, make_client: Callable[..., httpx.AsyncClient]
) -> None:
    app = make_channels_app({"hook": webhook("hook", "http://127.0.0.1:9/")}, api_token="tok")
    client = make_client(app)

    assert (await client.get("/api/v1/channels")).status_code == 401
    assert (await client.post("/api/v1/channels/hook/test")).status_code == 401
    authorized = await client.get("/api/v1/channels", headers={"Authorization": "Bearer tok"})
    assert authorized.status_code == 200
