"""The public subscribe routes end to end: a form post, the confirmation mail through a
real SMTP server (aiosmtpd), its link, the audience, one-click unsubscribe, the rate limit
and the refusal of webhooks into private networks."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.targets.smtp import SmtpServers
from tests.web.conftest import BASE, Clock, LoopbackEngine
from upstate import notify
from upstate.config import Settings
from upstate.config.loader import load_config_text
from upstate.notify.base import NotifyContext, http_client
from upstate.notify.delivery import Outcome
from upstate.notify.smtp_url import parse_smtp_url
from upstate.services import subscribers
from upstate.services.live import LiveConfig
from upstate.services.secrets import SecretBox
from upstate.store import outbox
from upstate.store.tables import outbox as outbox_table
from upstate.web.app import create_app
from upstate.web.public.subscribe import SlidingWindow

CONFIG = load_config_text(
    """
status_pages:
  - slug: acme
    title: Acme <Cloud>
    components: [{name: API}, {name: Website, key: web}]
"""
)
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def app(
    db: TestDatabase,
    loop_engine: LoopbackEngine,
    registry: CollectorRegistry,
    box: SecretBox,
    clock: Clock,
) -> FastAPI:
    return create_app(
        settings=Settings(_env_file=None, database_url=db.url),
        session_factory=db.sessions,
        engine=loop_engine,
        registry=registry,
        secrets=box,
        clock=clock,
        live=LiveConfig(CONFIG),
    )


@pytest.fixture
async def notify_ctx(smtp_servers: SmtpServers) -> AsyncIterator[NotifyContext]:
    async with http_client() as http:
        yield NotifyContext(
            http=http,
            smtp=parse_smtp_url(smtp_servers.plain.url()),
            smtp_from="status@acme.example",
        )


def address() -> str:
    return f"visitor-{uuid.uuid4().hex[:10]}@example.com"


def parts(message: EmailMessage) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content()
        for part in message.iter_parts()
        if isinstance(part, EmailMessage)
    }


async def deliver_pending(db: TestDatabase, box: SecretBox, ctx: NotifyContext) -> list[Outcome]:
    """What the delivery loop does for subscriber rows: resolve the target, send."""
    outcomes = []
    async with db.sessions() as session:
        rows = (
            await session.execute(
                select(outbox_table).where(outbox_table.c.state == "pending").order_by("id")
            )
        ).all()
        for row in rows:
            channel = await subscribers.channel_for(session, row.target, secrets=box, base_url=BASE)
            assert channel is not None
            delivery = await notify.send(channel, notify.Event.from_dict(row.event), ctx)
            outcomes.append(delivery.outcome)
            await session.execute(
                outbox_table.update().where(outbox_table.c.id == row.id).values(state="sent")
            )
        await session.commit()
    return outcomes


async def test_it_runs_the_double_opt_in_from_form_to_audience(
    client: httpx.AsyncClient,
    db: TestDatabase,
    box: SecretBox,
    smtp_servers: SmtpServers,
    notify_ctx: NotifyContext,
) -> None:
    to = address()
    posted = await client.post(
        "/s/acme/subscribe", content=f"email={to}&components=acme.api", headers=FORM
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == "/s/acme?subscribed=1"
    async with db.sessions() as session:
        assert await subscribers.audience(session, "acme", ["acme.api"]) == []

    assert await deliver_pending(db, box, notify_ctx) == [Outcome.OK]

    (mail,) = smtp_servers.mailbox.received_by(to)
    message = mail.message
    assert message["Subject"] == "[Upstate] Confirm your subscription to Acme <Cloud>"
    assert message["X-Upstate-Event"] == "subscription.confirm"
    bodies = parts(message)
    link = re.search(r"Confirm subscription: (\S+)", bodies["text/plain"])
    assert link is not None
    assert f'href="{link[1]}"' in bodies["text/html"]
    unsubscribe_link = message["List-Unsubscribe"].strip("<>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"Unsubscribe: {unsubscribe_link}" in bodies["text/plain"]

    confirmed = await client.get(link[1].removeprefix(BASE))

    assert confirmed.status_code == 200
    assert "Subscription confirmed" in confirmed.text
    assert "Acme &lt;Cloud&gt;" in confirmed.text
    async with db.sessions() as session:
        (subscriber_id,) = await subscribers.audience(session, "acme", ["acme.api"])
        assert await subscribers.audience(session, "acme", ["acme.web"]) == []
        target = outbox.subscriber_target(subscriber_id)
        assert await subscribers.channel_for(session, target, secrets=box, base_url=BASE)

    gone = await client.post(
        unsubscribe_link.removeprefix(BASE),
        content="List-Unsubscribe=One-Click",
        headers=FORM,
    )

    assert gone.status_code == 200
    assert "Unsubscribed" in gone.text
    async with db.sessions() as session:
        assert await subscribers.audience(session, "acme", []) == []
        assert await subscribers.channel_for(session, target, secrets=box, base_url=BASE) is None


async def test_it_answers_json_the_same_whether_subscribed_or_not(
    client: httpx.AsyncClient, db: TestDatabase
) -> None:
    body = {"email": address(), "components": ["web"]}

    first = await client.post("/s/acme/subscribe", json=body)
    again = await client.post("/s/acme/subscribe", json=body)

    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert first.json()["status"] == "pending"
    async with db.sessions() as session:
        rows = (await session.execute(select(outbox_table.c.kind))).all()
    assert [row.kind for row in rows] == ["subscription.confirm"]  # not sent twice


async def test_it_shows_an_unsubscribe_button_before_unsubscribing(
    client: httpx.AsyncClient, db: TestDatabase, box: SecretBox
) -> None:
    assert (await client.post("/s/acme/subscribe", json={"email": address()})).status_code == 202
    async with db.sessions() as session:
        (subscriber,) = (await subscribers.list_subscribers(session, secrets=box)).items
        token = (await subscribers.get_subscriber(session, subscriber.id)).token
    path = f"/s/acme/unsubscribe/{token}"

    shown = await client.get(path)

    assert shown.status_code == 200
    assert f'<form method="post" action="{path}">' in shown.text
    assert '<button type="submit">Unsubscribe</button>' in shown.text
    async with db.sessions() as session:
        assert await subscribers.by_token(session, token) is not None

    assert (await client.post(path)).status_code == 200
    assert (await client.get(path)).status_code == 404
    assert (await client.post(path)).status_code == 200  # one-click again: still fine


async def test_it_refuses_links_of_another_page_or_unknown_tokens(
    client: httpx.AsyncClient, db: TestDatabase, box: SecretBox
) -> None:
    assert (await client.post("/s/acme/subscribe", json={"email": address()})).status_code == 202
    async with db.sessions() as session:
        (view,) = (await subscribers.list_subscribers(session, secrets=box)).items
        token = (await subscribers.get_subscriber(session, view.id)).token

    assert (await client.get(f"/s/other/confirm/{token}")).status_code == 404
    assert (await client.get("/s/acme/confirm/not-a-token")).status_code == 404
    assert (await client.post(f"/s/other/unsubscribe/{token}")).status_code == 200
    async with db.sessions() as session:
        still = await subscribers.get_subscriber(session, view.id)
    assert still.confirmed is False  # neither confirmed nor removed through another page


async def test_it_explains_a_refused_form_in_html(client: httpx.AsyncClient) -> None:
    bad = await client.post("/s/acme/subscribe", content="email=nope", headers=FORM)
    unknown = await client.post("/s/nope/subscribe", content=f"email={address()}", headers=FORM)

    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("text/html")
    assert "not a valid email address" in bad.text
    assert unknown.status_code == 404


async def test_it_refuses_a_webhook_into_a_private_network(
    client: httpx.AsyncClient, db: TestDatabase, box: SecretBox
) -> None:
    url = "http://127.0.0.1:8500/v1/agent/secret-internal-thing"

    refused = await client.post("/s/acme/subscribe", json={"webhook": url})

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "a webhook URL must point to a public address, not a private network"
    )
    assert url not in refused.text
    async with db.sessions() as session:
        assert (await subscribers.list_subscribers(session, secrets=box)).items == []


async def test_it_subscribes_a_public_webhook_at_once(
    client: httpx.AsyncClient, db: TestDatabase
) -> None:
    answer = await client.post(
        "/s/acme/subscribe", json={"webhook": "https://93.184.216.34/hook?t=x"}
    )

    assert answer.status_code == 202
    assert answer.json()["status"] == "subscribed"
    async with db.sessions() as session:
        assert len(await subscribers.audience(session, "acme", [])) == 1


async def test_it_limits_subscribing_per_client_address(
    app: FastAPI,
    client: httpx.AsyncClient,
    clock: Clock,
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    app.state.subscribe_limiter = SlidingWindow(3, 600)
    answers = [
        (await client.post("/s/acme/subscribe", json={"email": address()})).status_code
        for _ in range(4)
    ]
    form = await client.post("/s/acme/subscribe", content=f"email={address()}", headers=FORM)
    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 5000)), base_url=BASE
    )
    async with elsewhere:
        other = await elsewhere.post("/s/acme/subscribe", json={"email": address()})

    assert answers == [202, 202, 202, 429]
    limited = await client.post("/s/acme/subscribe", json={"email": address()})
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 600
    assert limited.json()["error"]["code"] == "too_many_requests"
    assert form.status_code == 429
    assert form.headers["content-type"].startswith("text/html")
    assert other.status_code == 202
    clock.advance(601)
    assert (await client.post("/s/acme/subscribe", json={"email": address()})).status_code == 202


def test_the_window_slides_and_forgets_the_least_recent_keys() -> None:
    window = SlidingWindow(2, 10, max_keys=2)

    assert window.hit("a", 0) is None
    assert window.hit("a", 5) is None
    assert window.hit("a", 6) == 4
    assert window.hit("a", 10) is None  # the hit at 0 left the window
    assert window.hit("b", 11) is None
    assert window.hit("c", 12) is None  # "a" is forgotten
    assert window.hit("a", 12) is None
