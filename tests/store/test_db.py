from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, Table, inspect, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.db import TestDatabase
from upstate.store.db import IMMEDIATE, async_url, make_engine
from upstate.store.types import UtcDateTime


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///./data/upstate.db", "sqlite+aiosqlite:///./data/upstate.db"),
        ("sqlite:////var/lib/upstate.db", "sqlite+aiosqlite:////var/lib/upstate.db"),
        ("postgresql://u:p@db:5432/upstate", "postgresql+asyncpg://u:p@db:5432/upstate"),
        ("postgres://u@db/upstate", "postgresql+asyncpg://u@db/upstate"),
        (
            "postgresql://u@db/upstate?sslmode=require",
            "postgresql+asyncpg://u@db/upstate?ssl=require",
        ),
    ],
)
def test_it_picks_async_drivers(url: str, expected: str) -> None:
    assert async_url(url).render_as_string(hide_password=False) == expected


def test_it_refuses_other_databases_without_showing_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported database URL") as caught:
        async_url("mysql://root:hunter2@db/upstate")
    assert "hunter2" not in str(caught.value)


async def test_it_creates_the_folder_and_sets_sqlite_up_for_a_server(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "upstate.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        await engine.dispose()
    assert path.exists()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 5000,
    }


async def test_it_takes_the_write_lock_up_front_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "upstate.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(**IMMEDIATE)
            async with connection.begin():
                await connection.execute(text("SELECT 1"))
                other = sqlite3.connect(path, timeout=0, isolation_level=None)
                try:
                    with pytest.raises(sqlite3.OperationalError, match="locked"):
                        other.execute("BEGIN IMMEDIATE")
                finally:
                    other.close()
    finally:
        await engine.dispose()


async def test_it_rolls_back_ddl_with_the_transaction(db: TestDatabase) -> None:
    async with db.engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("CREATE TABLE doomed (id INTEGER)"))
        await transaction.rollback()
    async with db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    assert "doomed" not in names
    assert "monitors" in names


async def test_it_round_trips_aware_utc_timestamps(engine: AsyncEngine) -> None:
    table = Table("clock", MetaData(), Column("at", UtcDateTime))
    async with engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
        dublin_summer = timezone(timedelta(hours=1))
        await connection.execute(
            table.insert(), [{"at": datetime(2026, 7, 1, 13, 30, 0, 123456, tzinfo=dublin_summer)}]
        )
        stored = (await connection.execute(select(table.c.at))).scalar_one()
        earlier = (
            await connection.execute(
                select(table.c.at).where(table.c.at > datetime(2026, 7, 1, 12, 29, tzinfo=UTC))
            )
        ).scalar_one_or_none()
        await connection.run_sync(table.metadata.drop_all)
    assert stored == datetime(2026, 7, 1, 12, 30, 0, 123456, tzinfo=UTC)
    assert stored.tzinfo is UTC
    assert earlier == stored


async def test_it_refuses_naive_timestamps(engine: AsyncEngine) -> None:
    table = Table("clock", MetaData(), Column("at", UtcDateTime))
    async with engine.connect() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(table.insert(), [{"at": datetime(2026, 1, 1)}])
