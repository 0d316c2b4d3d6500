"""Pings of push monitors: a job calls /ping/<token> (or /start, /fail, /<exit status>)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select
from sqlalchemy.engine import RowMapping

from upstate.store.db import Db
from upstate.store.tables import PING_BODY_BYTES, pings

MAX_LIST = 1000


class PingKind(StrEnum):
    SUCCESS = "success"
    START = "start"
    FAIL = "fail"
    EXIT = "exit"  # carries exit_status; 0 counts as success for the evaluator


@dataclass(frozen=True, slots=True)
class Ping:
    monitor_id: int
    at: datetime
    kind: PingKind
    exit_status: int | None = None
    body: str | None = None  # cut to 10 KiB of UTF-8 on the way in
    duration_ms: float | None = None  # since the matching start, when there was one
    remote_addr: str | None = None
    id: int | None = None  # set on rows read back from the store


async def add(db: Db, ping: Ping) -> int:
    statement = (
        insert(pings)
        .values(
            monitor_id=ping.monitor_id,
            at=ping.at,
            kind=ping.kind.value,
            exit_status=ping.exit_status,
            body=cut_body(ping.body),
            duration_ms=ping.duration_ms,
            remote_addr=ping.remote_addr,
        )
        .returning(pings.c.id)
    )
    return int((await db.execute(statement)).scalar_one())


async def recent(
    db: Db, monitor_id: int, *, before: datetime | None = None, limit: int = 50
) -> list[Ping]:
    """Newest first; pass the oldest `at` seen as `before` for the next page."""
    query = select(pings).where(pings.c.monitor_id == monitor_id)
    if before is not None:
        query = query.where(pings.c.at < before)
    query = query.order_by(pings.c.at.desc(), pings.c.id.desc()).limit(max(1, min(limit, MAX_LIST)))
    return [_ping(row) for row in (await db.execute(query)).mappings()]


async def last(db: Db, monitor_id: int, kinds: Iterable[PingKind] | None = None) -> Ping | None:
    """The newest ping, or the newest of the given kinds (e.g. the last `start`)."""
    query = select(pings).where(pings.c.monitor_id == monitor_id)
    if kinds is not None:
        query = query.where(pings.c.kind.in_([kind.value for kind in kinds]))
    query = query.order_by(pings.c.at.desc(), pings.c.id.desc()).limit(1)
    row = (await db.execute(query)).mappings().first()
    return None if row is None else _ping(row)


def cut_body(body: str | None) -> str | None:
    """At most 10 KiB of UTF-8, never splitting a character; NUL (PostgreSQL refuses it)
    becomes U+FFFD."""
    if body is None:
        return None
    body = body.replace("\x00", "\ufffd")
    encoded = body.encode()
    if len(encoded) <= PING_BODY_BYTES:
        return body
    return encoded[:PING_BODY_BYTES].decode(errors="ignore")


def _ping(row: RowMapping) -> Ping:
    return Ping(
        id=row["id"],
        monitor_id=row["monitor_id"],
        at=row["at"],
        kind=PingKind(row["kind"]),
        exit_status=row["exit_status"],
        body=row["body"],
        duration_ms=row["duration_ms"],
        remote_addr=row["remote_addr"],
    )
