"""Builders for scheduler and engine tests: monitors in a real database, outcomes, outages."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tests.fixtures.db import TestDatabase
from tests.targets.tcp import free_port
from upstate.domain.durations import parse_duration
from upstate.domain.enums import MonitorKind, Status
from upstate.domain.status import MonitorState, RegionResult
from upstate.services import runtime
from upstate.services.pipeline import ChangeRow, Outcome, ResultRow
from upstate.services.runtime import RuntimeMonitor
from upstate.store import monitors
from upstate.store.db import make_engine, session_factory
from upstate.store.monitors import MonitorDraft, MonitorRecord, MonitorSource

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


async def add_monitor(db: TestDatabase, key: str, **definition: Any) -> MonitorRecord:
    """A monitor stored the way config sync stores one: its settings as the definition."""
    definition.setdefault("kind", "http")
    if definition["kind"] == "http":
        definition.setdefault("url", f"http://127.0.0.1:9/{key}")
    kind = MonitorKind(definition["kind"])
    draft = MonitorDraft(
        key=key,
        name=key,
        kind=kind,
        source=MonitorSource.API,
        definition={"key": key, **definition},
        interval_s=parse_duration(str(definition.get("interval", "60s"))),
        paused=bool(definition.get("paused", False)),
        ping_token=definition.get("token"),
    )
    async with db.sessions() as session:
        record = await monitors.upsert(session, draft, now=datetime.now(UTC))
        await session.commit()
    return record


async def delete_monitor(db: TestDatabase, key: str) -> None:
    async with db.sessions() as session:
        await monitors.delete_by_key(session, key)
        await session.commit()


async def count(db: TestDatabase, table: Table, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    async with db.sessions() as session:
        return int((await session.execute(query)).scalar_one())


async def eventually(condition: Callable[[], object], seconds: float = 3.0) -> None:
    """Wait until `condition()` (or the coroutine it returns) is true; fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def until_rows(
    db: TestDatabase, table: Table, check: Callable[[int], bool], seconds: float = 3.0, **where: Any
) -> int:
    """Wait until the number of matching rows passes `check`; returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        rows = await count(db, table, **where)
        if check(rows):
            return rows
        assert loop.time() < deadline, f"{table.name}: {rows} rows, never enough"
        await asyncio.sleep(0.02)


def row(
    monitor_id: int, seconds: float = 0.0, status: Status = Status.UP, *, at: datetime = NOW
) -> ResultRow:
    return ResultRow(
        monitor_id=monitor_id,
        region="local",
        started_at=at + timedelta(seconds=seconds),
        status=status,
        duration_ms=1.5,
    )


def outcome(
    monitor_id: int, seconds: float = 0.0, *, change: tuple[Status, Status] | None = None
) -> Outcome:
    at = NOW + timedelta(seconds=seconds)
    status = change[1] if change else Status.UP
    state = MonitorState(
        status=status,
        since=at,
        underlying=status,
        regions=(RegionResult("local", status, at, "test"),),
    )
    changes = ()
    if change is not None:
        changes = (ChangeRow(monitor_id, change[0], change[1], at, "test", region="local"),)
    return Outcome(monitor_id, state, changes, row(monitor_id, seconds, status), at)


@dataclass
class Outage:
    """A session factory that reaches the real database, or, while `down`, one that cannot.

    The failure is real: on SQLite a database file whose folder is gone, on PostgreSQL a
    port nothing listens on.
    """

    real: async_sessionmaker[AsyncSession]
    broken: async_sessionmaker[AsyncSession]
    engine: AsyncEngine
    down: bool = False
    calls: int = field(default=0)

    def __call__(self) -> AsyncSession:
        self.calls += 1
        return (self.broken if self.down else self.real)()


def outage(db: TestDatabase, tmp_path: Path) -> Outage:
    if db.kind == "sqlite":
        folder = tmp_path / "vanished"
        engine = make_engine(f"sqlite:///{folder / 'upstate.db'}")  # creates the folder
        shutil.rmtree(folder)
    else:
        url = make_url(db.url).set(host="127.0.0.1", port=free_port())
        engine = make_engine(url.render_as_string(hide_password=False))
    return Outage(db.sessions, session_factory(engine), engine)


def fast(interval: float, **policy: Any):
    """A monitor loader whose monitors run every `interval` seconds (config allows >= 1 s)."""

    async def load(session: AsyncSession) -> list[RuntimeMonitor]:
        return [shrink(m, interval, **policy) for m in await runtime.load_monitors(session)]

    return load


def shrink(monitor: RuntimeMonitor, interval: float, **policy: Any) -> RuntimeMonitor:
    if monitor.definition is None:
        return monitor
    return replace(
        monitor, interval_s=interval, policy=replace(monitor.policy, interval_s=interval, **policy)
    )
