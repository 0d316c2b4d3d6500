"""Small helpers the repositories share; not part of the store's API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from upstate.store.db import Db, dialect_name
from upstate.store.types import UtcDateTime


def upsert_insert(db: Db | str, table: Table) -> Any:
    """INSERT … ON CONFLICT for the dialect in use (both speak it, with different classes)."""
    dialect = db if isinstance(db, str) else dialect_name(db)
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def truncate(text: str | None, limit: int) -> str | None:
    """At most `limit` characters; NUL (PostgreSQL text refuses it) becomes U+FFFD."""
    if text is None:
        return None
    text = text.replace("\x00", "\ufffd")
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (a session types its results more loosely)."""
    return cast(CursorResult[Any], result).rowcount


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
    calls, ~3 µs a value) is replaced by `utc_text` / `utc_aware`, which store the same
    values (the tests compare them). Errors still arrive as SQLAlchemy's DBAPIError
    subclasses.
    """

    def __init__(
        self,
        table: Table,
        build: Callable[[str], Any],
        columns: Sequence[str],
        *,
        ready: Sequence[str] = (),
    ) -> None:
        """`build(dialect_name)` makes the statement; `columns` are its parameters in order.

        Values of the `ready` columns arrive as the driver takes them, unconverted: JSON
        columns as the text json.dumps would give (their bind processor on both dialects).
        """
        self._table = table
        self._build = build
        self.columns = tuple(columns)
        self._ready = frozenset(ready)
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
                if name not in self._ready
                and (converter := _converter(self._table, index, name, dialect)) is not None
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
        return index, utc_text if dialect.name == "sqlite" else utc_aware, True
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return None if processor is None else (index, processor, False)


def utc_aware(value: datetime | None) -> datetime | None:
    """UtcDateTime's bind value on PostgreSQL: aware, in UTC; a naive datetime is a bug."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Upstate stores timezone-aware UTC")
    return value.astimezone(UTC)


def utc_text(value: datetime | None) -> str | None:
    """UtcDateTime's bind value on SQLite: naive UTC in SQLAlchemy's fixed-width text."""
    if value is not None and value.tzinfo is UTC:  # the usual case: cut "+00:00" off
        return value.isoformat(" ", "microseconds")[:-6]
    value = utc_aware(value)
    if value is None:
        return None
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")
