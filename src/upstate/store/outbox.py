"""The notification outbox: one row per event and target, delivered in id order per target.

Rows are written by whoever made the event (the notifier, the incident and maintenance
services), in the transaction of the change that caused it; `add_many` ignores a row
whose idempotency key is already there, so writing the same cause twice sends once.
The delivery loop (scheduler/delivery.py) reads, sends and marks them.

A target is a channel key from the config, or "subscriber:<id>" for a status page
subscriber.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from upstate.store._sql import upsert_insert
from upstate.store.db import Db
from upstate.store.tables import outbox

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
