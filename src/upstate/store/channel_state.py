"""A target's health as the delivery loop last saw it: failing or not, and why.

`failing` is set by a permanent failure (a webhook's 401, a refused SMTP login) together
with `fingerprint`, a hash of the channel's config at that moment: while the config is
the same, sending again cannot help, so the target's rows wait. A new fingerprint (the
config was fixed) or a person's "resume" clears it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import RowMapping

from upstate.store._sql import rowcount, truncate, upsert_insert
from upstate.store.db import Db
from upstate.store.tables import ERROR_MESSAGE_LENGTH, channel_state


@dataclass(frozen=True, slots=True)
class ChannelState:
    target: str
    failing: bool
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    fingerprint: str | None


def _state(mapping: RowMapping) -> ChannelState:
    return ChannelState(**{name: mapping[name] for name in ChannelState.__slots__})


async def get(db: Db, target: str) -> ChannelState | None:
    statement = select(channel_state).where(channel_state.c.target == target)
    found = (await db.execute(statement)).mappings().first()
    return _state(found) if found else None


async def get_all(db: Db) -> dict[str, ChannelState]:
    rows = (await db.execute(select(channel_state))).mappings()
    return {row["target"]: _state(row) for row in rows}


async def _upsert(db: Db, target: str, values: dict[str, object]) -> None:
    insert = upsert_insert(db, channel_state).values(
        {
            "target": target,
            "failing": False,
            "last_error": None,
            "last_error_at": None,
            "last_success_at": None,
            "fingerprint": None,
        }
        | values
    )
    await db.execute(
        insert.on_conflict_do_update(index_elements=[channel_state.c.target], set_=values)
    )


async def mark_failing(db: Db, target: str, error: str, at: datetime, fingerprint: str) -> None:
    await _upsert(
        db,
        target,
        {
            "failing": True,
            "last_error": truncate(error, ERROR_MESSAGE_LENGTH),
            "last_error_at": at,
            "fingerprint": fingerprint,
        },
    )


async def note_error(db: Db, target: str, error: str | None, at: datetime) -> None:
    """A failure worth another try: remembered for the channel's owner, not failing."""
    await _upsert(
        db, target, {"last_error": truncate(error, ERROR_MESSAGE_LENGTH), "last_error_at": at}
    )


async def mark_success(db: Db, target: str, at: datetime) -> None:
    await _upsert(db, target, {"failing": False, "fingerprint": None, "last_success_at": at})


async def clear_failing(db: Db, target: str) -> bool:
    """Stop waiting for a config change; True when the target was failing."""
    result = await db.execute(
        update(channel_state)
        .where(channel_state.c.target == target, channel_state.c.failing.is_(True))
        .values(failing=False, fingerprint=None)
    )
    return rowcount(result) == 1
