"""The one loop that starts probes when they are due, never two of one monitor at once.

Not one sleeping task per monitor: a single loop sleeps until the earliest due time in
the Timetable, moves what is due to a ready queue, and starts one task per due probe
while the concurrency limits allow. Creating 100,000 tasks at once blocks the loop for
hundreds of milliseconds (PERFORMANCE.md); a task per *due* probe keeps it responsive
and costs memory only for what runs.

- A run that comes due while the monitor's previous run is still going (or still
  waiting for a slot) is skipped and counted: a monitor never overlaps itself.
- The loop never sleeps less than 1 ms: uvloop's timers have 1 ms resolution and a
  shorter sleep returns at once, which would spin the CPU.
- Runs come in batches: due times sit on the Timetable's 250 ms slot grid (heap.py), so
  the monitors of a slot start in one pass and their probes' events come back together.
  Started one by one, each probe pays for its own trips through an idle loop (measured
  ~790 µs CPU a probe at 200/s one at a time, ~420 µs in bursts of five, ~300 µs in
  250 ms slots). Wake-ups off the grid are coalesced too: after a pass, the loop sleeps
  at least `coalesce` seconds (20 ms) before the next one (a new or edited monitor
  still wakes it at once); their price is lateness of up to `coalesce`.
- Lateness (start - due) of every run on the grid is reported through `on_lag`; runs
  asked for at once (new or edited monitors) are not lateness of the schedule.
- Grid runs that fell due before the loop started (loading 100,000 monitors takes half
  a minute) wait for their next grid time instead of all starting late at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from upstate.scheduler.heap import Timetable
from upstate.scheduler.limits import Limits

logger = logging.getLogger(__name__)

T = TypeVar("T")
Runner = Callable[[str], Awaitable[None]]

MIN_SLEEP_S = 0.001
EARLY_S = 0.0005  # start what is due within half a timer tick rather than sleep for it
IDLE_WAIT_S = 60.0
COALESCE_S = 0.02

_IDLE, _READY, _RUNNING = 0, 1, 2


@dataclass(slots=True)
class _Job:
    host: str | None
    state: int = _IDLE
    rerun: bool = False  # run again as soon as the current run ends
    waiters: list[asyncio.Future[None]] | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)  # the scheduled run


_Ready = tuple[str, _Job, float, bool]  # key, job, due, on grid


class Dispatcher:
    def __init__(
        self,
        runner: Runner,
        *,
        max_concurrency: int = 256,
        per_host: int = 8,
        wall: Callable[[], float] = time.time,
        on_lag: Callable[[float], None] | None = None,
        on_skip: Callable[[], None] | None = None,
        coalesce: float = COALESCE_S,
    ) -> None:
        self._runner = runner
        self._coalesce = coalesce
        self._wall = wall
        self._on_lag = on_lag
        self._on_skip = on_skip
        self._timetable = Timetable()
        self._limits: Limits[_Ready] = Limits(max_concurrency, per_host)
        self._jobs: dict[str, _Job] = {}
        self._ready: deque[_Ready] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self.skipped = 0  # runs that came due while the previous one still ran
        self.started = 0

    # --- what is scheduled ----------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return key in self._jobs

    def schedule(self, key: str, interval: float, host: str | None, *, at_once: bool) -> None:
        """Add `key`, or replace its interval and host; `at_once` runs it now (or, while
        it runs, right after the current run), then on its grid."""
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _Job(host)
        else:
            job.host = host
        busy = job.state != _IDLE
        self._timetable.set(key, interval, self._wall(), at_once=at_once and not busy)
        if at_once and busy:
            job.rerun = True
        self._kick()

    def run_now(self, key: str) -> bool:
        job = self._jobs.get(key)
        if job is None:
            return False
        if job.state != _IDLE:
            job.rerun = True
            return True
        self._timetable.run_now(key, self._wall())
        self._kick()
        return True

    def remove(self, key: str) -> None:
        """Stop scheduling `key`; a run in progress finishes, a queued one never starts."""
        self._jobs.pop(key, None)
        self._timetable.remove(key)

    def running(self, key: str) -> bool:
        job = self._jobs.get(key)
        return job is not None and job.state == _RUNNING

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def queued(self) -> int:
        return len(self._ready) + self._limits.parked

    @property
    def alive(self) -> bool:
        return self._wake is not None and not self._stopping

    async def exclusive(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` as a run of `key` (outside the limits): after the current run, if one
        is going, and keeping the schedule's runs out until it ends."""
        loop = asyncio.get_running_loop()
        job = self._jobs.get(key)
        while job is not None and job.state != _IDLE:
            waiter: asyncio.Future[None] = loop.create_future()
            if job.waiters is None:
                job.waiters = []
            job.waiters.append(waiter)
            await waiter
            job = self._jobs.get(key)
        if job is None:
            return await work()
        job.state = _RUNNING
        try:
            return await work()
        finally:
            self._finish(key, job, None, limited=False)

    # --- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch until stop(); in-flight runs are left to drain()."""
        loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()
        timetable, jobs, ready = self._timetable, self._jobs, self._ready
        logger.info("scheduler started monitors=%d", len(jobs))
        opened = self._wall()
        while not self._stopping:
            passed_at = self._wall()
            for due in timetable.pop_due(passed_at + EARLY_S):
                if due.on_grid and due.at < opened:
                    continue  # fell due while the engine was loading: its next time, not late
                job = jobs[due.key]
                if job.state == _IDLE:
                    job.state = _READY
                    ready.append((due.key, job, due.at, due.on_grid))
                else:
                    self.skipped += 1
                    if self._on_skip is not None:
                        self._on_skip()
            if ready:
                self._pump()
            following = timetable.next_due()
            now = self._wall()
            delay = IDLE_WAIT_S if following is None else following - now
            delay = max(delay, passed_at + self._coalesce - now, MIN_SLEEP_S)
            wake.clear()
            timer = loop.call_later(delay, wake.set)
            await wake.wait()
            timer.cancel()
        logger.info("scheduler stopped in_flight=%d", len(self._tasks))

    def stop(self) -> None:
        """Start nothing more; runs in progress go on (see drain)."""
        self._stopping = True
        self._kick()

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` seconds for runs in progress; cancel the rest; how many."""
        tasks = list(self._tasks)
        if not tasks:
            return 0
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _pump(self) -> None:
        """Start ready runs while the limits allow; park those whose host is busy."""
        ready, limits, jobs = self._ready, self._limits, self._jobs
        loop = asyncio.get_running_loop()
        while ready and not limits.full:
            item = ready.popleft()
            key, job, due, on_grid = item
            if jobs.get(key) is not job:
                continue  # removed (or replaced) while it waited
            host = job.host
            if not limits.admit(host, item):
                continue
            job.state = _RUNNING
            self.started += 1
            # The run leaves self._tasks itself as it ends (see _run): cheaper than a done
            # callback, which the loop would schedule as one more handle per run.
            task = job.task = loop.create_task(self._run(key, job, due, on_grid, host))
            self._tasks.add(task)

    async def _run(self, key: str, job: _Job, due: float, on_grid: bool, host: str | None) -> None:
        if on_grid and self._on_lag is not None:
            lag = self._wall() - due
            self._on_lag(lag if lag > 0.0 else 0.0)
        try:
            await self._runner(key)
        except Exception:
            logger.exception("check crashed key=%s", key)
        finally:
            task, job.task = job.task, None
            if task is not None:
                self._tasks.discard(task)
            self._finish(key, job, host, limited=True)

    def _finish(self, key: str, job: _Job, host: str | None, *, limited: bool) -> None:
        job.state = _IDLE
        if limited:
            parked = self._limits.release(host)
            if parked is not None:
                self._ready.appendleft(parked)
        if job.waiters:
            for waiter in job.waiters:
                if not waiter.done():
                    waiter.set_result(None)
            job.waiters = None
        if job.rerun and self._jobs.get(key) is job:
            job.rerun = False
            self._timetable.run_now(key, self._wall())
            self._kick()
        if not self._stopping and self._ready:
            self._pump()
