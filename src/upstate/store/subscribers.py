"""Status page subscribers: rows in, frozen Subscriber dataclasses out.

A subscriber is one address (an email address in clear, or a webhook URL encrypted by the
caller) on one page, unique per (page, kind, address_hash). `token` is the secret of its
confirm and unsubscribe links. Nothing here decrypts or validates: services/subscribers.py
does; this module only reads and writes rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import RowMapping

from upstate.store._sql import rowcount, upsert_insert
from upstate.store.db import Db
from upstate.store.tables import outbox, subscribers

MAX_LIST = 500


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    page: str
    kind: str  # "email" | "webhook"
    address: str  # the email address, or the webhook URL encrypted (SecretBox)
    address_hash: str
    components: tuple[str, ...]  # component codes; empty: all of the page
    token: str
    confirmed_at: datetime | None
    created_at: datetime

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    page: str
    kind: str
    address: str
    address_hash: str
    components: tuple[str, ...]
    token: str
    confirmed_at: datetime | None


async def add_or_get(db: Db, new: NewSubscriber, now: datetime) -> tuple[Subscriber, bool]:
    """Insert `new` unless its (page, kind, address_hash) is there; (the row, inserted?).

    Two requests for the same address at once both end with the one row."""
    statement = (
        upsert_insert(db, subscribers)
        .values(
            page=new.page,
            kind=new.kind,
            address=new.address,
            address_hash=new.address_hash,
            components=list(new.components),
            token=new.token,
            confirmed_at=new.confirmed_at,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["page", "kind", "address_hash"])
    )
    inserted = rowcount(await db.execute(statement)) == 1
    row = await get_by_address(db, new.page, new.kind, new.address_hash)
    if row is None:  # pragma: no cover - deleted between the two statements
        raise LookupError("the subscriber vanished while being added")
    return row, inserted


async def get(db: Db, subscriber_id: int) -> Subscriber | None:
    return await _one(db, subscribers.c.id == subscriber_id)


async def get_by_token(db: Db, token: str) -> Subscriber | None:
    return await _one(db, subscribers.c.token == token)


async def get_by_address(db: Db, page: str, kind: str, address_hash: str) -> Subscriber | None:
    return await _one(
        db,
        (subscribers.c.page == page)
        & (subscribers.c.kind == kind)
        & (subscribers.c.address_hash == address_hash),
    )


async def list_subscribers(
    db: Db,
    *,
    page: str | None = None,
    kind: str | None = None,
    after: int | None = None,
    limit: int = 100,
) -> list[Subscriber]:
    """In id order, those with an id above `after` (keyset paging)."""
    query = select(subscribers).order_by(subscribers.c.id).limit(min(limit, MAX_LIST))
    if page is not None:
        query = query.where(subscribers.c.page == page)
    if kind is not None:
        query = query.where(subscribers.c.kind == kind)
    if after is not None:
        query = query.where(subscribers.c.id > after)
    return [_subscriber(row._mapping) for row in await db.execute(query)]


async def confirmed_of_page(db: Db, page: str) -> list[Subscriber]:
    query = (
        select(subscribers)
        .where((subscribers.c.page == page) & subscribers.c.confirmed_at.is_not(None))
        .order_by(subscribers.c.id)
    )
    return [_subscriber(row._mapping) for row in await db.execute(query)]


async def confirm(db: Db, subscriber_id: int, now: datetime) -> None:
    """Mark confirmed at `now`, unless it already was (the first time stays)."""
    await db.execute(
        update(subscribers)
        .where((subscribers.c.id == subscriber_id) & subscribers.c.confirmed_at.is_(None))
        .values(confirmed_at=now)
    )


async def set_components(db: Db, subscriber_id: int, components: Sequence[str]) -> None:
    await db.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(components=list(components))
    )


async def delete_subscriber(db: Db, subscriber_id: int, target: str) -> bool:
    """Delete the row and its notifications still pending for `target` ("subscriber:<id>"):
    SQLite may give a later subscriber the same id, who must not inherit them."""
    result = await db.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))
    await db.execute(
        delete(outbox).where((outbox.c.target == target) & (outbox.c.state == "pending"))
    )
    return rowcount(result) == 1


async def last_queued_at(db: Db, target: str, kind: str, since: datetime) -> datetime | None:
    """When a notification of `kind` was last queued for `target` (an outbox target), at
    `since` or later (a subscriber's creation: an earlier one with its id is not it)."""
    query = select(func.max(outbox.c.created_at)).where(
        (outbox.c.target == target) & (outbox.c.kind == kind) & (outbox.c.created_at >= since)
    )
    value: datetime | None = (await db.execute(query)).scalar_one()
    return value


async def _one(db: Db, condition: Any) -> Subscriber | None:
    row = (await db.execute(select(subscribers).where(condition))).first()
    return _subscriber(row._mapping) if row is not None else None


def _subscriber(row: RowMapping) -> Subscriber:
    return Subscriber(
        id=int(row["id"]),
        page=row["page"],
        kind=row["kind"],
        address=row["address"],
        address_hash=row["address_hash"],
        components=tuple(row["components"] or ()),
        token=row["token"],
        confirmed_at=row["confirmed_at"],
        created_at=row["created_at"],
    )
