"""Raw check results: one row per probe run per region, written in batches.

Writes go through the driver's executemany with a statement compiled once per dialect
(store._sql.DriverStatement: about half the CPU per row of Core executemany, which is itself
10-40x faster than ORM objects, PERFORMANCE.md); reads page newest first with a keyset
cursor on (started_at, id), so a page never repeats or skips rows because newer results
arrived meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select
from sqlalchemy.engine import RowMapping

from upstate.domain.enums import ErrorKind, Status
from upstate.domain.frozen import quick_init
from upstate.domain.observation import Observation
from upstate.store._sql import DriverStatement, truncate
from upstate.store.db import Db
from upstate.store.tables import ERROR_MESSAGE_LENGTH, results

MAX_PAGE = 1000


class InvalidCursor(ValueError):
    """A page cursor that this code did not make (or made for another query)."""


@quick_init  # one per check: see domain/frozen.py
@dataclass(frozen=True, slots=True)
class ResultRow:
    monitor_id: int
    region: str
    started_at: datetime
    status: Status
    duration_ms: float
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None
    transfer_ms: float | None = None
    status_code: int | None = None
    error_kind: ErrorKind | None = None
    error_message: str | None = None
    extracted: Mapping[str, Any] | None = None
    id: int | None = None  # set on rows read back from the store

    @classmethod
    def from_observation(
        cls,
        monitor_id: int,
        observation: Observation,
        status: Status,
        extracted: Mapping[str, Any] | None = None,
    ) -> ResultRow:
        phases, error = observation.phases, observation.error
        # By position, in the fields' order: cheaper than keywords (once per check).
        return cls(
            monitor_id,
            observation.region,
            observation.started_at,
            status,
            observation.duration_ms,
            phases.dns,
            phases.connect,
            phases.tls,
            phases.ttfb,
            phases.transfer,
            observation.status_code,
            error.kind if error else None,
            error.message if error else None,
            extracted,
        )


@dataclass(frozen=True, slots=True)
class ResultPage:
    items: list[ResultRow]
    next_cursor: str | None  # None on the last page


_INSERT = DriverStatement(
    results, lambda _dialect: insert(results), [c.name for c in results.c if c.name != "id"]
)


async def insert_many(db: Db, rows: Sequence[ResultRow]) -> None:
    """Insert a batch in one executemany (error messages cut to 500 characters)."""
    await _INSERT.executemany(db, [_values(row) for row in rows])


async def page(
    db: Db,
    monitor_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    region: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> ResultPage:
    """Results newest first; `since` inclusive, `until` exclusive; pass next_cursor back."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(results).where(results.c.monitor_id == monitor_id)
    if since is not None:
        query = query.where(results.c.started_at >= since)
    if until is not None:
        query = query.where(results.c.started_at < until)
    if region is not None:
        query = query.where(results.c.region == region)
    if cursor is not None:
        at, last_id = decode_cursor(cursor)
        query = query.where(
            or_(
                results.c.started_at < at,
                and_(results.c.started_at == at, results.c.id < last_id),
            )
        )
    query = query.order_by(results.c.started_at.desc(), results.c.id.desc()).limit(limit + 1)
    items = [row_of(row) for row in (await db.execute(query)).mappings()]
    if len(items) <= limit:
        return ResultPage(items, None)
    items = items[:limit]
    last = items[-1]
    assert last.id is not None
    return ResultPage(items, encode_cursor(last.started_at, last.id))


async def latest_per_region(
    db: Db, monitor_id: int, regions: Iterable[str]
) -> dict[str, ResultRow]:
    """The newest result of each region that has one (one index walk per region)."""
    latest: dict[str, ResultRow] = {}
    for region in regions:
        query = (
            select(results)
            .where(results.c.monitor_id == monitor_id, results.c.region == region)
            .order_by(results.c.started_at.desc(), results.c.id.desc())
            .limit(1)
        )
        row = (await db.execute(query)).mappings().first()
        if row is not None:
            latest[region] = row_of(row)
    return latest


def encode_cursor(started_at: datetime, result_id: int) -> str:
    raw = f"{started_at.isoformat()}|{result_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, result_id = raw.rpartition("|")
        started_at = datetime.fromisoformat(at)
        if started_at.tzinfo is None:
            raise ValueError("naive")
        return started_at, int(result_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"invalid page cursor {cursor[:40]!r}") from exc


def _values(row: ResultRow) -> list[Any]:
    """The row's INSERT parameters in the table's column order (see _INSERT)."""
    return [
        row.monitor_id,
        row.region,
        row.started_at,
        str(row.status),  # StrEnum: its value, without the slower `.value` property
        row.duration_ms,
        row.dns_ms,
        row.connect_ms,
        row.tls_ms,
        row.ttfb_ms,
        row.transfer_ms,
        row.status_code,
        str(row.error_kind) if row.error_kind else None,
        truncate(row.error_message, ERROR_MESSAGE_LENGTH),
        dict(row.extracted) if row.extracted is not None else None,
    ]


def row_of(row: RowMapping) -> ResultRow:
    """A stored results row as a ResultRow (also for store/latest.py)."""
    return ResultRow(
        id=row["id"],
        monitor_id=row["monitor_id"],
        region=row["region"],
        started_at=row["started_at"],
        status=Status(row["status"]),
        duration_ms=row["duration_ms"],
        dns_ms=row["dns_ms"],
        connect_ms=row["connect_ms"],
        tls_ms=row["tls_ms"],
        ttfb_ms=row["ttfb_ms"],
        transfer_ms=row["transfer_ms"],
        status_code=row["status_code"],
        error_kind=ErrorKind(row["error_kind"]) if row["error_kind"] else None,
        error_message=row["error_message"],
        extracted=row["extracted"],
    )
