"""The subscribers repository on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW
from upstate.store import outbox
from upstate.store import subscribers as store
from upstate.store.subscribers import NewSubscriber
from upstate.store.tables import outbox as outbox_table


def new(address: str = "ada@example.com", **changes: object) -> NewSubscriber:
    values: dict[str, object] = {
        "page": "acme",
        "kind": "email",
        "address": address,
        "address_hash": f"hash-of-{address}",
        "components": ("acme.api",),
        "token": f"token-{address}",
        "confirmed_at": None,
    }
    values.update(changes)
    return NewSubscriber(**values)  # type: ignore[arg-type]


async def test_it_adds_once_per_address_and_page(session: AsyncSession) -> None:
    first, inserted = await store.add_or_get(session, new(), NOW)
    again, inserted_again = await store.add_or_get(session, new(token="other"), NOW)
    other_page, _ = await store.add_or_get(session, new(page="beta", token="t2"), NOW)

    assert inserted is True
    assert inserted_again is False
    assert again == first
    assert first.token == "token-ada@example.com"
    assert first.components == ("acme.api",)
    assert first.confirmed is False
    assert first.created_at == NOW
    assert other_page.id != first.id


async def test_it_finds_by_token_and_confirms_once(session: AsyncSession) -> None:
    added, _ = await store.add_or_get(session, new(), NOW)

    await store.confirm(session, added.id, NOW)
    await store.confirm(session, added.id, NOW + timedelta(hours=1))

    found = await store.get_by_token(session, added.token)
    assert found is not None
    assert found.confirmed_at == NOW
    assert await store.get_by_token(session, "nope") is None


async def test_it_lists_confirmed_subscribers_of_a_page(session: AsyncSession) -> None:
    ada, _ = await store.add_or_get(session, new("ada@example.com", confirmed_at=NOW), NOW)
    await store.add_or_get(session, new("bob@example.com"), NOW)
    await store.add_or_get(session, new("cy@example.com", page="beta", confirmed_at=NOW), NOW)

    confirmed = await store.confirmed_of_page(session, "acme")

    assert [s.id for s in confirmed] == [ada.id]


async def test_it_pages_in_id_order(session: AsyncSession) -> None:
    ids = [(await store.add_or_get(session, new(f"u{n}@example.com"), NOW))[0].id for n in range(5)]

    first = await store.list_subscribers(session, limit=2)
    rest = await store.list_subscribers(session, after=first[-1].id, limit=10)
    webhooks = await store.list_subscribers(session, kind="webhook")

    assert [s.id for s in first] == ids[:2]
    assert [s.id for s in rest] == ids[2:]
    assert webhooks == []


async def test_it_deletes_with_the_pending_notifications(session: AsyncSession) -> None:
    added, _ = await store.add_or_get(session, new(), NOW)
    target = outbox.subscriber_target(added.id)
    await outbox.add_many(
        session, [outbox.NewNotification("k1", target, "incident.opened", {"x": 1})], NOW
    )
    assert await store.last_queued_at(session, target, "incident.opened", NOW) == NOW
    assert (
        await store.last_queued_at(session, target, "incident.opened", NOW + timedelta(1)) is None
    )

    assert await store.delete_subscriber(session, added.id, target) is True
    assert await store.delete_subscriber(session, added.id, target) is False

    assert await store.get(session, added.id) is None
    left = (await session.execute(select(outbox_table.c.id))).all()
    assert left == []
