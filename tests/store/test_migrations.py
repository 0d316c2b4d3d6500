from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tests.fixtures.db import TestDatabase
from upstate.store import migrate
from upstate.store.tables import metadata


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def test_it_migrates_to_exactly_the_tables_of_the_code(db: TestDatabase) -> None:
    """`alembic check`: models and migrations cannot drift apart."""
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_it_reports_the_head_revision_after_upgrade(db: TestDatabase) -> None:
    assert await migrate.current(db.url) == migrate.head()


async def test_it_upgrades_an_up_to_date_database_as_a_no_op(db: TestDatabase) -> None:
    await migrate.upgrade(db.url)
    assert await migrate.current(db.url) == migrate.head()


async def test_it_names_constraints_by_convention(db: TestDatabase) -> None:
    async with db.engine.connect() as connection:
        foreign_keys = await connection.run_sync(
            lambda sync: inspect(sync).get_foreign_keys("results")
        )
    assert [fk["name"] for fk in foreign_keys] == ["fk_results_monitor_id_monitors"]
    assert foreign_keys[0]["options"].get("ondelete") == "CASCADE"


async def test_it_knows_a_fresh_database_has_no_revision(empty_database_url: str) -> None:
    assert await migrate.current(empty_database_url) is None


async def test_it_lets_concurrent_starters_migrate_once(empty_database_url: str) -> None:
    url = empty_database_url
    await asyncio.gather(migrate.upgrade(url), migrate.upgrade(url), migrate.upgrade(url))
    assert await migrate.current(url) == migrate.head()


async def test_it_refuses_to_commit_dangling_references_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    await migrate.upgrade(f"sqlite:///{path}")
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA foreign_keys=OFF")
    raw.execute(
        "INSERT INTO pings (monitor_id, at, kind) VALUES (42, '2026-01-01 00:00:00', 'start')"
    )
    raw.commit()
    raw.close()
    with pytest.raises(migrate.MigrationError, match="1 rows pointing at missing parents: pings"):
        await migrate.upgrade(f"sqlite:///{path}")
