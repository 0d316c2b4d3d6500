"""Raw check results: one row per probe run per region, written in batches.

Writes go through the driver's executemany with a statement compiled once per dialect
(DriverStatement, below: about half the CPU per row of Core executemany, which is itself
10-40x faster than ORM objects, PERFORMANCE.md); reads page newest first with a keyset
cursor on (started_at, id), so a page never repeats or skips rows because newer results
arrived meanwhile.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, and_, insert, or_, select
from sqlalchemy.engine import Dialect, RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from upstate.domain.enums import ErrorKind, Status
from upstate.domain.observation import Observation
from upstate.store._sql import truncate
from upstate.store.db import Db
from upstate.store.tables import ERROR_MESSAGE_LENGTH, results
from upstate.store.types import UtcDateTime

MAX_PAGE = 1000


class InvalidCursor(ValueError):
    """A page cursor that this code did not make (or made for another query)."""


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
        return cls(
            monitor_id=monitor_id,
            region=observation.region,
            started_at=observation.started_at,
            status=status,
            duration_ms=observation.duration_ms,
            dns_ms=phases.dns,
            connect_ms=phases.connect,
            tls_ms=phases.tls,
            ttfb_ms=phases.ttfb,
            transfer_ms=phases.transfer,
            status_code=observation.status_code,
            error_kind=error.kind if error else None,
            error_message=error.message if error else None,
            extracted=extracted,
        )


@dataclass(frozen=True, slots=True)
class ResultPage:
    items: list[ResultRow]
    next_cursor: str | None  # None on the last page


class DriverStatement:
    """An INSERT (or upsert) compiled once per dialect, run with the driver's executemany.

    Core executemany prepares each row through the compiled statement: a dict per row,
    then every column's key looked up and its bind processor called, ~1 µs per column
    per row on this project's machine, which made 42-column rollup rows the result
    writer's largest cost. Here the SQL is compiled once; rows are plain lists in the
    table's column order (checked against the compiled statement); only the columns
    whose type converts values on this dialect (datetimes, JSON, SQLite's floats) go
    through SQLAlchemy's own bind processors, so what is stored is exactly what Core
    would have stored. UtcDateTime is the exception: its processor chain (three Python
    calls, ~3 µs a value) is replaced by `_utc_text` / `_utc_aware`, which store the same
    values (the tests compare them). Errors still arrive as SQLAlchemy's DBAPIError
    subclasses.
    """

    def __init__(self, table: Table, build: Callable[[str], Any], columns: Sequence[str]) -> None:
        """`build(dialect_name)` makes the statement; `columns` are its parameters in order."""
        self._table = table
        self._build = build
        self.columns = tuple(columns)
        self._compiled: dict[str, tuple[str, tuple[_Converter, ...]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[_Converter, ...]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self._build(dialect.name).compile(
                dialect=dialect, column_keys=list(self.columns)
            )
            if tuple(compiled.positiontup or ()) != self.columns:
                raise RuntimeError(f"{self._table.name}: parameters {compiled.positiontup}")
            converters = tuple(
                converter
                for index, name in enumerate(self.columns)
                if (converter := _converter(self._table, index, name, dialect)) is not None
            )
            found = self._compiled[dialect.name] = (str(compiled), converters)
        return found

    async def executemany(self, db: Db, rows: list[list[Any]]) -> None:
        """Run the statement once per row (each a list in `columns` order, converted in place)."""
        if not rows:
            return
        connection = db if isinstance(db, AsyncConnection) else await db.connection()
        sql, converters = self._for(connection.dialect)
        for index, convert, repeats in converters:
            if repeats:  # a batch's rows share a few times (its bucket starts, its `now`)
                done: dict[Any, Any] = {}
                for row in rows:
                    value = row[index]
                    converted = done.get(value)
                    if converted is None:
                        converted = done[value] = convert(value)
                    row[index] = converted
            else:
                for row in rows:
                    row[index] = convert(row[index])
        await connection.exec_driver_sql(sql, list(map(tuple, rows)))


# A column's place in the row, its bind processor, and whether its values are hashable
# and often repeat within a batch (then each distinct value is converted once).
_Converter = tuple[int, Callable[[Any], Any], bool]


def _converter(table: Table, index: int, name: str, dialect: Dialect) -> _Converter | None:
    column_type = table.c[name].type
    if isinstance(column_type, UtcDateTime):
        return index, _utc_text if dialect.name == "sqlite" else _utc_aware, True
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return None if processor is None else (index, processor, False)


def _utc_aware(value: datetime | None) -> datetime | None:
    """UtcDateTime's bind value on PostgreSQL: aware, in UTC; a naive datetime is a bug."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Upstate stores timezone-aware UTC")
    return value.astimezone(UTC)


def _utc_text(value: datetime | None) -> str | None:
    """UtcDateTime's bind value on SQLite: naive UTC in SQLAlchemy's fixed-width text."""
    value = _utc_aware(value)
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


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
    items = [_row(row) for row in (await db.execute(query)).mappings()]
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
            latest[region] = _row(row)
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


def _row(row: RowMapping) -> ResultRow:
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
