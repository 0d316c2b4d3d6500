"""The dispatch loop in real time, with intervals of tens of milliseconds."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable

import pytest

from upstate.scheduler.dispatch import Dispatcher
from upstate.scheduler.heap import grid_after, phase


class Recorder:
    """A runner that takes `seconds` per run and remembers what ran at once."""

    def __init__(self, seconds: float = 0.0, host_of: Callable[[str], str] = lambda k: k) -> None:
        self.seconds = seconds
        self.host_of = host_of
        self.runs: Counter[str] = Counter()
        self.now: Counter[str] = Counter()
        self.peak: dict[str, int] = defaultdict(int)
        self.total = 0
        self.peak_total = 0
        self.peak_host: dict[str, int] = defaultdict(int)
        self.on_host: Counter[str] = Counter()

    async def __call__(self, key: str) -> None:
        host = self.host_of(key)
        self.runs[key] += 1
        self.now[key] += 1
        self.on_host[host] += 1
        self.total += 1
        self.peak[key] = max(self.peak[key], self.now[key])
        self.peak_host[host] = max(self.peak_host[host], self.on_host[host])
        self.peak_total = max(self.peak_total, self.total)
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.now[key] -= 1
            self.on_host[host] -= 1
            self.total -= 1


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Dispatcher], Dispatcher]]:
    started: list[tuple[Dispatcher, asyncio.Task[None]]] = []

    def run(dispatcher: Dispatcher) -> Dispatcher:
        started.append((dispatcher, asyncio.create_task(dispatcher.run())))
        return dispatcher

    yield run
    for dispatcher, task in started:
        dispatcher.stop()
        await task
        await dispatcher.drain(1.0)


async def test_it_never_overlaps_a_slow_monitor_with_itself(running) -> None:
    runner = Recorder(seconds=0.12)
    dispatcher = running(Dispatcher(runner))
    dispatcher.schedule("slow", 0.03, "slow.example", at_once=True)
    await asyncio.sleep(0.5)
    assert runner.runs["slow"] >= 3
    assert runner.peak["slow"] == 1
    assert dispatcher.skipped >= 5  # the runs that came due while one was going


async def test_it_holds_the_global_limit(running) -> None:
    runner = Recorder(seconds=0.04)
    dispatcher = running(Dispatcher(runner, max_concurrency=3, per_host=10))
    for n in range(12):
        dispatcher.schedule(f"m{n}", 0.05, f"host-{n}", at_once=True)
    await asyncio.sleep(0.4)
    assert runner.peak_total == 3
    assert all(runner.runs[f"m{n}"] >= 1 for n in range(12))  # queued, none starved


async def test_it_holds_the_per_host_limit_without_holding_up_other_hosts(running) -> None:
    runner = Recorder(seconds=0.1, host_of=lambda key: key.split("-")[0])
    dispatcher = running(Dispatcher(runner, max_concurrency=20, per_host=2))
    for n in range(8):
        dispatcher.schedule(f"busy-{n}", 3600.0, "busy", at_once=True)
    dispatcher.schedule("quiet-0", 3600.0, "quiet", at_once=True)
    for _ in range(100):
        await asyncio.sleep(0.005)
        if runner.runs["quiet-0"]:
            break
    busy_started = sum(runner.runs[f"busy-{n}"] for n in range(8))
    assert busy_started == 2  # quiet ran while six busy ones waited for their host
    assert dispatcher.queued == 6
    for _ in range(200):
        await asyncio.sleep(0.01)
        if sum(runner.runs[f"busy-{n}"] for n in range(8)) == 8 and not runner.total:
            break
    assert sum(runner.runs[f"busy-{n}"] for n in range(8)) == 8  # parked ones ran in turn
    assert runner.peak_host["busy"] == 2


async def test_it_runs_a_new_monitor_at_once_and_an_old_one_on_its_grid(running) -> None:
    runner = Recorder()
    dispatcher = running(Dispatcher(runner))
    now = time.time()
    old = next(  # a key whose grid time is not about to come up
        key
        for key in (f"old-{n}" for n in range(10))
        if grid_after(phase(key, 3600.0), 3600.0, now) > now + 5
    )
    dispatcher.schedule("new", 3600.0, None, at_once=True)
    dispatcher.schedule(old, 3600.0, None, at_once=False)
    await asyncio.sleep(0.1)
    assert runner.runs == Counter({"new": 1})


async def test_it_reruns_an_edited_monitor_right_after_its_current_run(running) -> None:
    runner = Recorder(seconds=0.1)
    dispatcher = running(Dispatcher(runner))
    dispatcher.schedule("api", 3600.0, None, at_once=True)
    await asyncio.sleep(0.03)
    assert dispatcher.running("api")
    dispatcher.schedule("api", 1800.0, None, at_once=True)  # edited while it runs
    await asyncio.sleep(0.05)
    assert runner.runs["api"] == 1
    await asyncio.sleep(0.1)
    assert runner.runs["api"] == 2
    assert runner.peak["api"] == 1


async def test_it_runs_exclusive_work_after_the_current_run(running) -> None:
    runner = Recorder(seconds=0.1)
    dispatcher = running(Dispatcher(runner))
    dispatcher.schedule("api", 3600.0, None, at_once=True)
    await asyncio.sleep(0.02)
    seen: list[int] = []

    async def work() -> str:
        seen.append(runner.now["api"])
        return "done"

    assert await dispatcher.exclusive("api", work) == "done"
    assert seen == [0]  # the scheduled run had ended
    assert await dispatcher.exclusive("unscheduled", work) == "done"


@pytest.mark.parametrize("coalesce", [0.0, 0.02])
async def test_it_reports_how_late_scheduled_runs_start(running, coalesce: float) -> None:
    lags: list[float] = []
    dispatcher = running(Dispatcher(Recorder(), on_lag=lags.append, coalesce=coalesce))
    for n in range(20):
        dispatcher.schedule(f"m{n}", 0.05, None, at_once=False)
    await asyncio.sleep(0.3)
    assert len(lags) >= 60
    assert all(lag >= 0 for lag in lags)
    ordered = sorted(lags)
    assert ordered[len(lags) // 2] < coalesce / 2 + 0.01  # wake-ups come together, no later
    assert ordered[int(len(lags) * 0.9)] < coalesce + 0.015


async def test_it_wakes_at_once_for_a_new_monitor_despite_coalescing(running) -> None:
    runner = Recorder()
    dispatcher = running(Dispatcher(runner, coalesce=10.0))
    dispatcher.schedule("first", 3600.0, None, at_once=True)
    await asyncio.sleep(0.05)
    dispatcher.schedule("second", 3600.0, None, at_once=True)
    await asyncio.sleep(0.05)
    assert runner.runs == Counter({"first": 1, "second": 1})


async def test_it_skips_grid_runs_that_fell_due_before_it_started(running) -> None:
    now = [1_000_000.0]
    runner = Recorder()
    dispatcher = Dispatcher(runner, wall=lambda: now[0], coalesce=0.0)
    for n in range(50):
        dispatcher.schedule(f"m{n}", 10.0, None, at_once=False)
    dispatcher.schedule("new", 10.0, None, at_once=True)
    now[0] += 10.0  # loading took a whole interval: every grid run fell due meanwhile
    running(dispatcher)
    await asyncio.sleep(0.05)
    assert runner.runs == Counter({"new": 1})  # the others wait for their next grid time


async def test_it_stops_dispatching_and_cancels_runs_past_the_grace(running) -> None:
    runner = Recorder(seconds=5.0)
    dispatcher = running(Dispatcher(runner))
    dispatcher.schedule("stuck", 0.05, None, at_once=True)
    dispatcher.schedule("gone", 0.05, None, at_once=False)
    dispatcher.remove("gone")
    await asyncio.sleep(0.05)
    dispatcher.stop()
    assert not dispatcher.alive
    assert await dispatcher.drain(0.05) == 1
    assert dispatcher.in_flight == 0
    assert runner.runs == Counter({"stuck": 1})
