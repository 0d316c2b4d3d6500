"""Small helpers the repositories share; not part of the store's API."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Result, Table
from sqlalchemy.dialects import postgresql, sqlite

from upstate.store.db import Db, dialect_name


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
