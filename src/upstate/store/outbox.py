"""The notification outbox: one row per event and target, delivered in id order per target.

Rows are written by whoever made the event (the notifier, the incident and maintenance
services), in the transaction of the change that caused it; `add_many` ignores a row
whose idempotency key is already there, so writing the same cause twice sends once.
The delivery loop (services/delivery.py, run by scheduler/delivery.py) reads, sends
and marks them: a row is `pending` until it is `sent`, `skipped` or `failed`; while
pending, `next_attempt_at` says when it may be tried, and only the oldest pending row of
a target may be (`head`), so a target's rows go out one after another, in id order.

A target is a channel key from the config, or "subscriber:<id>" for a status page
subscriber.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.engine import RowMapping

from upstate.store._sql import rowcount, truncate, upsert_insert
from upstate.store.db import Db
from upstate.store.tables import ERROR_MESSAGE_LENGTH, outbox

SUBSCRIBER_PREFIX = "subscriber:"


def subscriber_target(subscriber_id: int) -> str:
    return f"{SUBSCRIBER_PREFIX}{subscriber_id}"


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A row to add: `event` is notify.events.Event.to_dict(); `kind` its event kind."""

    idempotency_key: str
    target: str
    kind: str
    event: dict[str, Any]


async def add_many(db: Db, rows: Sequence[NewNotification], now: datetime) -> None:
    """Queue notifications, due at once; rows whose idempotency key exists are skipped."""
    if not rows:
        return
    statement = upsert_insert(db, outbox).on_conflict_do_nothing(
        index_elements=[outbox.c.idempotency_key]
    )
    await db.execute(
        statement,
        [
            {
                "idempotency_key": row.idempotency_key,
                "target": row.target,
                "kind": row.kind,
                "event": row.event,
                "state": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
            for row in rows
        ],
    )


PENDING, SENT, SKIPPED, FAILED = "pending", "sent", "skipped", "failed"
DONE_STATES = (SENT, SKIPPED, FAILED)
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    idempotency_key: str
    target: str
    kind: str
    event: dict[str, Any]
    state: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    done_at: datetime | None
    status_code: int | None
    error: str | None

    @property
    def done(self) -> bool:
        return self.state != PENDING


def _row(mapping: RowMapping) -> OutboxRow:
    return OutboxRow(**{name: mapping[name] for name in OutboxRow.__slots__})


def _heads() -> Select[tuple[int]]:
    """The id of each target's oldest pending row: the only row of a target that may be
    sent (the rows after it wait, so a target's notifications arrive in order)."""
    return select(func.min(outbox.c.id)).where(outbox.c.state == PENDING).group_by(outbox.c.target)


async def due_targets(
    db: Db, now: datetime, *, limit: int, exclude: Collection[str] = ()
) -> list[str]:
    """Targets whose oldest pending row is due, oldest first (at most `limit`)."""
    statement = (
        select(outbox.c.target)
        .where(outbox.c.id.in_(_heads()), outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if exclude:
        statement = statement.where(outbox.c.target.not_in(list(exclude)))
    return list((await db.execute(statement)).scalars())


async def head(db: Db, target: str) -> OutboxRow | None:
    """The target's oldest pending row."""
    statement = (
        select(outbox)
        .where(outbox.c.target == target, outbox.c.state == PENDING)
        .order_by(outbox.c.id)
        .limit(1)
    )
    found = (await db.execute(statement)).mappings().first()
    return _row(found) if found else None


async def get(db: Db, row_id: int) -> OutboxRow | None:
    found = (await db.execute(select(outbox).where(outbox.c.id == row_id))).mappings().first()
    return _row(found) if found else None


async def get_by_key(db: Db, idempotency_key: str) -> OutboxRow | None:
    statement = select(outbox).where(outbox.c.idempotency_key == idempotency_key)
    found = (await db.execute(statement)).mappings().first()
    return _row(found) if found else None


async def claim(db: Db, row_id: int, now: datetime, until: datetime) -> bool:
    """Take a due pending row for one attempt (counted in `attempts`): last_attempt_at is
    now, and no one else (another process) takes it before `until`. False when someone
    else was first."""
    result = await db.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == PENDING, outbox.c.next_attempt_at <= now)
        .values(last_attempt_at=now, next_attempt_at=until, attempts=outbox.c.attempts + 1)
    )
    return rowcount(result) == 1


async def finish(
    db: Db,
    row_id: int,
    state: str,
    now: datetime,
    *,
    status_code: int | None = None,
    error: str | None = None,
) -> bool:
    """Mark a pending row sent, skipped or failed."""
    if state not in DONE_STATES:
        raise ValueError(f"not a final state: {state!r}")
    result = await db.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == PENDING)
        .values(
            state=state,
            done_at=now,
            status_code=status_code,
            error=truncate(error, ERROR_MESSAGE_LENGTH),
        )
    )
    return rowcount(result) == 1


async def reschedule(
    db: Db,
    row_id: int,
    *,
    next_attempt_at: datetime,
    status_code: int | None,
    error: str | None,
) -> bool:
    """Leave a pending row for another attempt at `next_attempt_at`."""
    result = await db.execute(
        update(outbox)
        .where(outbox.c.id == row_id, outbox.c.state == PENDING)
        .values(
            next_attempt_at=next_attempt_at,
            status_code=status_code,
            error=truncate(error, ERROR_MESSAGE_LENGTH),
        )
    )
    return rowcount(result) == 1


async def give_up_before(
    db: Db, target: str, created_before: datetime, now: datetime, *, error: str
) -> int:
    """Fail the target's pending rows created before `created_before`; returns how many."""
    result = await db.execute(
        update(outbox)
        .where(
            outbox.c.target == target,
            outbox.c.state == PENDING,
            outbox.c.created_at <= created_before,
        )
        .values(state=FAILED, done_at=now, error=truncate(error, ERROR_MESSAGE_LENGTH))
    )
    return rowcount(result)


async def pending_counts(db: Db) -> dict[str, int]:
    """Pending rows by target."""
    statement = (
        select(outbox.c.target, func.count())
        .where(outbox.c.state == PENDING)
        .group_by(outbox.c.target)
    )
    return {target: int(count) for target, count in (await db.execute(statement)).all()}


async def list_rows(
    db: Db,
    *,
    limit: int = 100,
    before: int | None = None,
    target: str | None = None,
    state: str | None = None,
    kind: str | None = None,
) -> list[OutboxRow]:
    """The delivery log, newest first; `before` is an id (the next page's cursor)."""
    statement = select(outbox).order_by(outbox.c.id.desc()).limit(min(limit, MAX_PAGE))
    if before is not None:
        statement = statement.where(outbox.c.id < before)
    if target is not None:
        statement = statement.where(outbox.c.target == target)
    if state is not None:
        statement = statement.where(outbox.c.state == state)
    if kind is not None:
        statement = statement.where(outbox.c.kind == kind)
    return [_row(found) for found in (await db.execute(statement)).mappings()]


async def purge_done(db: Db, done_before: datetime) -> int:
    """Delete rows finished (sent, skipped, failed) before `done_before`; returns how many."""
    result = await db.execute(
        delete(outbox).where(outbox.c.state != PENDING, outbox.c.done_at < done_before)
    )
    return rowcount(result)
