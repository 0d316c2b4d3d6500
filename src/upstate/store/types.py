"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every database.

    PostgreSQL stores `timestamptz`. SQLite has no time zones, so the value is stored
    as naive UTC text (fixed width, so it sorts and compares correctly) and the zone is
    put back on the way out. A naive datetime is refused: it is always a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Upstate stores timezone-aware UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere. Python None is SQL NULL
# (not the JSON literal null), so `IS NULL` means what it says.
Json: Any = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the rowid alias.
BigId: Any = BigInteger().with_variant(Integer(), "sqlite")
