"""The engine end to end: a real database, real probes against loopback targets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from tests.scheduler.helpers import (
    add_monitor,
    count,
    delete_monitor,
    eventually,
    fast,
    outage,
    until_rows,
)
from tests.targets.http import HttpTarget, Request, Response
from tests.targets.tcp import TcpTargets
from upstate.domain.enums import Status
from upstate.errors import NotFound, UsageError
from upstate.probes.base import ProbeContext
from upstate.scheduler.engine import Engine
from upstate.services.engine import PingKind, PingSignal
from upstate.store.tables import pings, results, status_changes

TOKEN = "t0ken-for-the-nightly-job"


@dataclass
class Switch:
    """A target whose health the test flips."""

    target: HttpTarget
    healthy: bool = True

    def __post_init__(self) -> None:
        self.target.route("/switch", self._answer)

    def _answer(self, _: Request) -> Response:
        return Response(200 if self.healthy else 503, b"switch")

    @property
    def url(self) -> str:
        return self.target.url("/switch")


@pytest.fixture
def switch(start_http_target: Callable[..., HttpTarget]) -> Switch:
    return Switch(start_http_target())


@pytest.fixture
async def engines(db: TestDatabase) -> AsyncIterator[Callable[..., Engine]]:
    made: list[Engine] = []

    def make(**options: object) -> Engine:
        options.setdefault("load_monitors", fast(0.2))
        sessions = options.pop("sessions", db.sessions)
        context = ProbeContext(clock=options["clock"]) if "clock" in options else ProbeContext()  # type: ignore[arg-type]
        engine = Engine(sessions, context, registry=CollectorRegistry(), **options)  # type: ignore[arg-type]
        engine.writer.flush_every = 0.05  # tests read the database: no need to wait a second
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop(grace=1.0)


def sample(engine: Engine, name: str, **labels: str) -> float | None:
    return engine.metrics.registry.get_sample_value(name, labels)


async def test_it_checks_monitors_on_schedule_and_stores_what_it_saw(
    db: TestDatabase, engines, http_target: HttpTarget
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"))
    await add_monitor(db, "b", url=http_target.url("/status/503"))
    engine = engines()
    await engine.start()

    def checks(status: str) -> float:
        return sample(engine, "upstate_checks_total", kind="http", status=status) or 0.0

    await eventually(lambda: checks("up") >= 3 and checks("down") >= 3)
    await until_rows(db, results, lambda n: n >= 6)
    assert engine.health().running
    state_a, state_b = engine.state_of("a"), engine.state_of("b")
    assert state_a is not None
    assert state_b is not None
    assert (state_a.status, state_b.status) == (Status.UP, Status.DOWN)
    assert sample(engine, "upstate_monitor_up", monitor="a") == 1
    assert sample(engine, "upstate_monitor_up", monitor="b") == 0
    assert sample(engine, "upstate_monitor_status", monitor="b", status="down") == 1
    assert sample(engine, "upstate_monitor_status", monitor="b", status="up") == 0
    assert sample(engine, "upstate_check_duration_seconds_count", kind="http") >= 6  # type: ignore[operator]
    lag_runs = sample(engine, "upstate_scheduler_lag_seconds_count")
    assert lag_runs is not None
    assert lag_runs >= 2  # after their first (at once) runs, both ran on their grid
    assert sample(engine, "upstate_database_up") == 1
    exposed = generate_latest(engine.metrics.registry).decode()
    assert 'upstate_monitor_status{monitor="a",status="up"} 1.0' in exposed
    await engine.stop()
    assert not engine.health().running
    changes = await count(db, status_changes)
    assert changes == 2  # each monitor's first verdict, UNKNOWN -> UP and UNKNOWN -> DOWN
    stored = await count(db, results)
    assert stored >= 6
    assert engine.writer.pending == 0  # everything reached the database at stop


async def test_it_runs_new_and_edited_monitors_at_once_and_drops_removed_ones(
    db: TestDatabase, engines, switch: Switch
) -> None:
    await add_monitor(db, "a", url=switch.url)
    engine = engines(load_monitors=fast(86_400.0))
    await engine.start()
    await until_rows(db, results, lambda n: n == 1)  # new: at once, then hourly
    await add_monitor(db, "b", url=switch.url)
    await engine.reload_now()
    await until_rows(db, results, lambda n: n == 2)

    switch.healthy = False
    await add_monitor(db, "a", url=switch.url + "?edited=1")
    await engine.reload_now()
    await until_rows(db, results, lambda n: n == 1, status="down")
    await engine.reload_now()  # unchanged: nothing runs
    await delete_monitor(db, "b")
    await engine.reload_now()
    assert engine.state_of("b") is None
    assert sample(engine, "upstate_monitor_up", monitor="b") is None
    await asyncio.sleep(0.3)
    assert await count(db, results) == 2  # a's two runs (b's went with b); nothing else ran


async def test_it_reloads_soon_after_being_told(db: TestDatabase, engines, switch: Switch) -> None:
    engine = engines(load_monitors=fast(86_400.0), reload_debounce=0.05)
    await engine.start()
    await add_monitor(db, "late", url=switch.url)
    engine.reload()
    engine.reload()  # debounced: one reload
    await eventually(lambda: engine.state_of("late") is not None, 2.0)
    await until_rows(db, results, lambda n: n == 1)


async def test_it_checks_a_monitor_now_and_records_it(
    db: TestDatabase, engines, http_target: HttpTarget
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"))
    await add_monitor(db, "cron", kind="push", period="1h", grace="1m", token=TOKEN)
    engine = engines(load_monitors=fast(86_400.0))
    await engine.start()
    await until_rows(db, results, lambda n: n == 1)
    checked = await engine.check_now("a")
    assert checked.observation.status_code == 200
    assert checked.verdict.status is Status.UP
    assert checked.definition.key == "a"
    await until_rows(db, results, lambda n: n == 2)
    with pytest.raises(NotFound):
        await engine.check_now("nope")
    with pytest.raises(UsageError, match="not probed"):
        await engine.check_now("cron")


async def test_it_resumes_after_a_restart_without_a_second_alert(
    db: TestDatabase, engines, tcp_target: TcpTargets
) -> None:
    await add_monitor(db, "db", kind="tcp", host="127.0.0.1", port=tcp_target.refused)
    first = engines(load_monitors=fast(0.2, failure_threshold=1))
    await first.start()
    await until_rows(db, status_changes, lambda n: n == 1, status="down")
    await first.stop()
    probed = await count(db, results)

    later = timedelta(minutes=10)  # stored regions are long stale by the restart

    def clock() -> datetime:
        return datetime.now(UTC) + later

    second = engines(load_monitors=fast(0.2, failure_threshold=1), clock=clock)
    await second.start()
    state = second.state_of("db")
    assert state is not None
    assert state.status is Status.DOWN  # at once, before any new result
    second.tick(clock())  # expiry waits for the monitor to report first
    await until_rows(db, results, lambda n: n >= probed + 3)
    state = second.state_of("db")
    assert state is not None
    assert state.status is Status.DOWN
    assert state.failures > 1
    await second.stop()
    assert await count(db, status_changes) == 1  # UNKNOWN -> DOWN, once


async def test_it_resumes_the_schedule_instead_of_running_everything_at_start(
    db: TestDatabase, engines, http_target: HttpTarget
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"))
    first = engines(load_monitors=fast(86_400.0))
    await first.start()
    await until_rows(db, results, lambda n: n == 1)
    await first.stop()
    second = engines(load_monitors=fast(86_400.0))
    await second.start()
    await asyncio.sleep(0.3)
    assert await count(db, results) == 1  # it has a state: it waits for its grid time


async def test_it_keeps_probing_through_a_database_outage(
    db: TestDatabase, engines, http_target: HttpTarget, tmp_path: Path
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"))
    sessions = outage(db, tmp_path)
    try:
        engine = engines(sessions=sessions, load_monitors=fast(0.1))
        engine.writer.max_backoff = 0.2
        await engine.start()
        sessions.down = True
        await eventually(lambda: not engine.health().database_ok)
        await eventually(lambda: engine.health().buffered_results >= 5)
        health = engine.health()
        assert health.running
        assert health.last_error
        assert sample(engine, "upstate_database_up") == 0
        assert sample(engine, "upstate_writer_buffered_results") >= 5  # type: ignore[operator]
        buffered_while_down = health.buffered_results
        sessions.down = False
        await eventually(lambda: engine.health().database_ok)
        assert await count(db, results) >= buffered_while_down
        assert engine.health().dropped_results == 0
    finally:
        await sessions.engine.dispose()


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def test_it_takes_pings_and_notices_silence(db: TestDatabase, engines) -> None:
    cron = await add_monitor(db, "cron", kind="push", period="1h", grace="5m", token=TOKEN)
    clock = FakeClock(datetime.now(UTC))
    engine = engines(clock=clock)
    await engine.start()
    assert await engine.ping("no-such-token", PingSignal(PingKind.SUCCESS, clock.now)) is False
    start = PingSignal(PingKind.START, clock.now, remote_addr="127.0.0.1")
    assert await engine.ping(TOKEN, start)
    clock.now += timedelta(seconds=30)
    assert await engine.ping(TOKEN, PingSignal(PingKind.SUCCESS, clock.now, body="done"))
    state = engine.state_of("cron")
    assert state is not None
    assert state.status is Status.UP

    clock.now += timedelta(hours=1, minutes=4)
    engine.tick(clock.now)
    assert engine.state_of("cron").status is Status.UP  # type: ignore[union-attr]
    clock.now += timedelta(minutes=1, seconds=1)
    engine.tick(clock.now)
    state = engine.state_of("cron")
    assert state is not None
    assert state.status is Status.DOWN
    assert state.reason.startswith("no ping since")
    engine.tick(clock.now + timedelta(hours=2))  # late once: no more rounds, no more rows

    with pytest.raises(UsageError):
        await engine.ping(TOKEN, PingSignal(PingKind.EXIT, clock.now, exit_status=256))
    await engine.stop()
    async with db.sessions() as session:
        rows = (await session.execute(select(pings.c.kind, pings.c.duration_ms))).all()
    assert sorted(rows, key=lambda r: r[0]) == [("start", None), ("success", 30_000.0)]
    reasons = await count(db, status_changes, monitor_id=cron.id)
    assert reasons == 2  # UNKNOWN -> UP, UP -> DOWN


async def test_it_judges_a_composite_when_a_child_changes(
    db: TestDatabase, engines, switch: Switch, http_target: HttpTarget
) -> None:
    await add_monitor(db, "web", url=switch.url)
    await add_monitor(db, "api", url=http_target.url("/ok"))
    await add_monitor(db, "shop", kind="composite", monitors=["web", "api"])
    engine = engines(load_monitors=fast(0.1, failure_threshold=1))
    await engine.start()
    await eventually(lambda: engine.state_of("shop").status is Status.UP)  # type: ignore[union-attr]
    switch.healthy = False
    await eventually(lambda: engine.state_of("shop").status is Status.DOWN)  # type: ignore[union-attr]
    assert "web down" in engine.state_of("shop").reason  # type: ignore[union-attr]
    switch.healthy = True
    await eventually(lambda: engine.state_of("shop").status is Status.UP)  # type: ignore[union-attr]


async def test_it_pauses_and_resumes_monitors(
    db: TestDatabase, engines, http_target: HttpTarget
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"), paused=True)
    engine = engines(load_monitors=fast(0.1))
    await engine.start()
    await asyncio.sleep(0.3)
    assert engine.state_of("a").status is Status.PAUSED  # type: ignore[union-attr]
    assert await count(db, results) == 0
    await add_monitor(db, "a", url=http_target.url("/ok"), paused=False)
    await engine.reload_now()
    await eventually(lambda: engine.state_of("a").status is Status.UP)  # type: ignore[union-attr]
    await engine.stop()
    async with db.sessions() as session:
        query = select(status_changes.c.previous, status_changes.c.status).order_by(
            status_changes.c.id
        )
        flips = [(Status(a), Status(b)) for a, b in (await session.execute(query)).all()]
    assert flips == [
        (Status.UNKNOWN, Status.PAUSED),
        (Status.PAUSED, Status.UNKNOWN),
        (Status.UNKNOWN, Status.UP),
    ]


async def test_it_forgets_a_result_gone_stale_on_the_housekeeping_tick(
    db: TestDatabase, engines, http_target: HttpTarget
) -> None:
    await add_monitor(db, "a", url=http_target.url("/ok"))
    clock = FakeClock(datetime.now(UTC))
    engine = engines(load_monitors=fast(60.0), clock=clock)
    await engine.start()  # new: runs at once (on the fake clock's time)
    await eventually(lambda: engine.state_of("a").status is Status.UP)  # type: ignore[union-attr]
    clock.now += timedelta(seconds=119)
    engine.tick(clock.now)
    assert engine.state_of("a").status is Status.UP  # type: ignore[union-attr]
    clock.now += timedelta(seconds=2)  # two intervals without a result
    engine.tick(clock.now)
    state = engine.state_of("a")
    assert state is not None
    assert state.status is Status.UNKNOWN
    assert state.reason == "no results for 2m"
