"""Bring a database to the newest schema: at `upstate serve` start and by `upstate db upgrade`.

Everything happens in one transaction, so a failed migration leaves the database as it
was. SQLite needs two extra cares: its DDL is only transactional because db.py emits
BEGIN itself, and batch migrations rebuild tables (create new, copy, drop old, rename),
so foreign keys must be off while they run — or dropping the old `monitors` would
cascade-delete every result. Off means unchecked, so `PRAGMA foreign_key_check` runs
before the commit and any dangling reference aborts the migration.

Several processes may start at once: PostgreSQL serializes them with an advisory lock,
SQLite with BEGIN IMMEDIATE. The second one then finds nothing left to do. The same
locks keep concurrent calls within one process apart, which matters: Alembic keeps its
migration context in module globals, so two upgrades must never interleave.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from upstate.store.db import IMMEDIATE, make_engine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x75707374  # "upst": the advisory lock all migrating processes queue on


class MigrationError(RuntimeError):
    """The migrated database would be inconsistent; nothing was committed."""


def alembic_config() -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:
        raise MigrationError("the migrations folder has no head revision")
    return revision


async def current(url: str) -> str | None:
    """The database's revision, or None for a database never migrated."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    engine = make_engine(url, foreign_keys=False)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**IMMEDIATE)
            async with connection.begin():
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY}
                    )
                before = await connection.run_sync(_current)
                await connection.run_sync(_upgrade, revision)
                if connection.dialect.name == "sqlite":
                    await _check_foreign_keys(connection)
                after = await connection.run_sync(_current)
    finally:
        await engine.dispose()
    if before != after:
        logger.info("database migrated from=%s to=%s", before, after)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def _check_foreign_keys(connection: AsyncConnection) -> None:
    problems: list[Any] = list(await connection.exec_driver_sql("PRAGMA foreign_key_check"))
    if problems:
        shown = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in problems[:10])
        raise MigrationError(
            f"migration left {len(problems)} rows pointing at missing parents: {shown}"
        )
