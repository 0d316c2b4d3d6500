"""Subscribing, confirming, who hears what, and the channels of subscribers, on both
databases. No network: webhook hosts are IP literals or names refused before resolving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from upstate.config.loader import load_config_text
from upstate.config.notifications import WebhookChannel
from upstate.errors import NotFound, UsageError
from upstate.notify.email import SubscriberEmailChannel
from upstate.notify.events import Event, EventKind
from upstate.services import subscribers
from upstate.services.secrets import SecretBox
from upstate.store import outbox
from upstate.store import subscribers as store
from upstate.store.tables import outbox as outbox_table

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
BASE = "https://status.example"
CONFIG = load_config_text(
    """
status_pages:
  - slug: acme
    title: Acme
    components: [{name: API}, {name: Website, key: web}]
  - slug: beta
    title: Beta
    components: [{name: Beta API}]
"""
)
PUBLIC_HOOK = "https://93.184.216.34/hooks/abc?token=s3cret-hook-token"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox.from_text(SecretBox.new_key())


async def add(
    session: AsyncSession,
    box: SecretBox,
    address: str = "ada@example.com",
    components: tuple[str, ...] = (),
    *,
    kind: str = "email",
    page: str = "acme",
    now: datetime = NOW,
    **options: Any,
) -> store.Subscriber:
    return await subscribers.subscribe(
        session,
        page,
        kind,
        address,
        list(components),
        config=CONFIG,
        secrets=box,
        now=now,
        base_url=BASE,
        **options,
    )


async def queued(session: AsyncSession) -> list[Any]:
    rows = await session.execute(select(outbox_table).order_by(outbox_table.c.id))
    return [row._mapping for row in rows]


async def test_it_queues_a_confirmation_mail_for_a_new_email_subscriber(
    session: AsyncSession, box: SecretBox
) -> None:
    subscriber = await add(session, box, " Ada@Example.com ", ("api",))

    assert subscriber.kind == "email"
    assert subscriber.address == "Ada@Example.com"
    assert subscriber.components == ("acme.api",)
    assert subscriber.confirmed is False
    (row,) = await queued(session)
    assert row["target"] == outbox.subscriber_target(subscriber.id)
    assert row["kind"] == "subscription.confirm"
    event = Event.from_dict(row["event"])
    assert event.kind is EventKind.SUBSCRIPTION_CONFIRM
    assert "Acme" in event.title
    assert [link.href for link in event.links] == [f"{BASE}/s/acme/confirm/{subscriber.token}"]


async def test_it_resends_the_confirmation_at_most_every_ten_minutes(
    session: AsyncSession, box: SecretBox
) -> None:
    first = await add(session, box)
    again = await add(session, box, "ADA@example.com", now=NOW + timedelta(minutes=9))
    later = await add(session, box, now=NOW + timedelta(minutes=10))

    assert first.id == again.id == later.id
    assert len(await queued(session)) == 2


async def test_it_changes_nothing_for_an_address_already_confirmed(
    session: AsyncSession, box: SecretBox
) -> None:
    first = await add(session, box, components=("web",))
    await subscribers.confirm(session, first.token, NOW)

    again = await add(session, box, components=("api",), now=NOW + timedelta(hours=1))

    assert again.id == first.id
    assert again.components == ("acme.web",)
    assert len(await queued(session)) == 1  # the first confirmation only


async def test_it_lets_an_admin_skip_the_opt_in(session: AsyncSession, box: SecretBox) -> None:
    subscriber = await add(session, box, confirmed=True)

    assert subscriber.confirmed_at == NOW
    assert await queued(session) == []


@pytest.mark.parametrize(
    ("page", "address", "components", "error"),
    [
        ("nope", "ada@example.com", (), NotFound),
        ("acme", "ada@example.com", ("beta.beta-api",), UsageError),
        ("acme", "ada@example.com", ("db",), UsageError),
        ("acme", "not an address", (), UsageError),
        ("acme", "ada@localhost", (), UsageError),
        ("acme", "ada@example.com\r\nBcc: eve@example.com", (), UsageError),
    ],
)
async def test_it_refuses_what_is_not_valid(
    session: AsyncSession,
    box: SecretBox,
    page: str,
    address: str,
    components: tuple[str, ...],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await add(session, box, address, components, page=page)
    assert await store.list_subscribers(session) == []


async def test_it_stores_a_webhook_encrypted_and_confirmed(
    session: AsyncSession, box: SecretBox
) -> None:
    subscriber = await add(session, box, PUBLIC_HOOK, kind="webhook")

    assert subscriber.confirmed is True
    assert "s3cret-hook-token" not in subscriber.address
    assert box.decrypt(subscriber.address) == PUBLIC_HOOK
    assert await queued(session) == []
    shown = subscribers.view(subscriber, box)
    assert shown.webhook_host == "93.184.216.34"
    assert shown.email is None
    assert "s3cret" not in repr(shown)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
    ],
)
async def test_it_refuses_webhooks_into_private_networks(
    session: AsyncSession, box: SecretBox, url: str
) -> None:
    with pytest.raises(UsageError) as refused:
        await add(session, box, url, kind="webhook")
    assert url not in refused.value.message
    assert await store.list_subscribers(session) == []


async def test_it_allows_private_webhooks_when_told(session: AsyncSession, box: SecretBox) -> None:
    subscriber = await add(
        session, box, "http://127.0.0.1:9/hook", kind="webhook", allow_private=True
    )

    assert subscriber.confirmed is True


async def test_it_names_the_audience_of_an_incident(session: AsyncSession, box: SecretBox) -> None:
    everything = await add(session, box, "all@example.com", confirmed=True)
    api = await add(session, box, "api@example.com", ("api",), confirmed=True)
    web = await add(session, box, "web@example.com", ("web",), confirmed=True)
    await add(session, box, "pending@example.com")  # never confirmed
    await add(session, box, "other@example.com", page="beta", confirmed=True)

    assert await subscribers.audience(session, "acme", ["acme.api"]) == [everything.id, api.id]
    assert await subscribers.audience(session, "acme", {"acme.web", "acme.api"}) == [
        everything.id,
        api.id,
        web.id,
    ]
    assert await subscribers.audience(session, "acme", []) == [everything.id, api.id, web.id]
    assert await subscribers.audience(session, "gone", []) == []


async def test_it_confirms_by_token(session: AsyncSession, box: SecretBox) -> None:
    subscriber = await add(session, box)

    confirmed = await subscribers.confirm(session, subscriber.token, NOW + timedelta(minutes=3))

    assert confirmed.confirmed_at == NOW + timedelta(minutes=3)
    assert await subscribers.audience(session, "acme", []) == [subscriber.id]
    with pytest.raises(NotFound):
        await subscribers.confirm(session, "not-a-token", NOW)


async def test_it_gives_the_channel_of_an_email_subscriber(
    session: AsyncSession, box: SecretBox
) -> None:
    subscriber = await add(session, box)

    channel = await subscribers.channel_for(
        session, outbox.subscriber_target(subscriber.id), secrets=box, base_url=BASE
    )

    assert isinstance(channel, SubscriberEmailChannel)
    assert channel.kind == "email"
    assert channel.to == ("ada@example.com",)
    assert channel.unsubscribe_url == f"{BASE}/s/acme/unsubscribe/{subscriber.token}"


async def test_it_gives_the_channel_of_a_webhook_subscriber(
    session: AsyncSession, box: SecretBox
) -> None:
    subscriber = await add(session, box, PUBLIC_HOOK, kind="webhook")

    channel = await subscribers.channel_for(
        session, outbox.subscriber_target(subscriber.id), secrets=box, base_url=BASE
    )

    assert isinstance(channel, WebhookChannel)
    assert channel.url == PUBLIC_HOOK
    header = channel.headers["List-Unsubscribe"].get_secret_value()
    assert header == f"<{BASE}/s/acme/unsubscribe/{subscriber.token}>"


async def test_it_gives_no_channel_once_unsubscribed(session: AsyncSession, box: SecretBox) -> None:
    subscriber = await add(session, box)
    target = outbox.subscriber_target(subscriber.id)

    removed = await subscribers.unsubscribe(session, subscriber.token)

    assert removed is not None
    assert removed.id == subscriber.id
    assert await subscribers.unsubscribe(session, subscriber.token) is None
    assert await subscribers.channel_for(session, target, secrets=box, base_url=BASE) is None
    assert await subscribers.channel_for(session, "ops-mail", secrets=box, base_url=BASE) is None
    assert await queued(session) == []  # its pending confirmation went with it


async def test_it_confirms_a_new_subscriber_who_got_an_old_id(
    session: AsyncSession, box: SecretBox
) -> None:
    old = await add(session, box, "old@example.com")
    await subscribers.delete_subscriber(session, old.id)

    new = await add(session, box, "new@example.com", now=NOW + timedelta(minutes=1))

    (row,) = await queued(session)
    assert row["target"] == outbox.subscriber_target(new.id)
    with pytest.raises(NotFound):
        await subscribers.delete_subscriber(session, old.id if old.id != new.id else -1)
