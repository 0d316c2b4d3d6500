"""The monitoring engine: probes on schedule, evaluates, records; answers the web layer.

One Engine per process, built in cli.py and handed to the web app as a MonitoringEngine.
`start()` loads every monitor and its stored state, then runs four loops:

- the dispatcher (scheduler/dispatch.py): probes on each monitor's grid;
- the result writer (scheduler/writer.py): batches to the database, outages buffered;
- housekeeping, every second: regions that went stale (status.expire_regions) and push
  monitors past their deadline (push.is_late -> status.push_late), popped from keyed
  deadline heaps so a tick costs what is due, not what exists;
- retention, hourly: raw results and pings past `keep_results`, rollups past 400 days.

Composites are re-judged whenever one of their children's visible status changes.

A restart resumes: stored states are loaded as they were, monitors with a stored state
keep their grid phase (nothing runs at once), and expiry waits two intervals so a
monitor that was DOWN before the restart is still DOWN after it without a change (and
so without a second alert). Monitors that have never run (no stored state) run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from upstate.domain.enums import MonitorKind, Status
from upstate.domain.push import PushState, deadline, is_late
from upstate.domain.status import (
    MonitorState,
    expire_regions,
    push_late,
    set_maintenance,
    set_paused,
)
from upstate.errors import NotFound, UsageError
from upstate.scheduler.dispatch import COALESCE_S, Dispatcher
from upstate.scheduler.metrics import EngineMetrics
from upstate.scheduler.timers import Deadlines
from upstate.scheduler.writer import ResultWriter
from upstate.services import pipeline, runtime
from upstate.services.checks import CheckResult, run_check
from upstate.services.engine import EngineHealth, PingSignal
from upstate.services.notifier import Notifier
from upstate.services.pipeline import Outcome, Ping
from upstate.services.results import DEFAULT_RESULT_RETENTION, Sessions, purge
from upstate.services.runtime import RuntimeMonitor, StoredState

if TYPE_CHECKING:
    from upstate.probes.base import ProbeContext

logger = logging.getLogger(__name__)

MonitorLoader = Callable[..., Awaitable[list[RuntimeMonitor]]]

HOUSEKEEPING_S = 1.0
RETENTION_EVERY_S = 3600.0
RETENTION_FIRST_S = 600.0  # not in the rush of a start: the first run walks every monitor
RELOAD_DEBOUNCE_S = 0.5
RELOAD_RETRY_S = 5.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, eq=False)
class _Slot:
    """One monitor as the engine holds it: what it is and what it knows."""

    monitor: RuntimeMonitor
    state: MonitorState
    checked_at: datetime | None = None
    push: PushState | None = None


class Engine:
    def __init__(
        self,
        sessions: Sessions,
        probe_ctx: ProbeContext,
        *,
        registry: CollectorRegistry,
        clock: Callable[[], datetime] = utc_now,
        max_concurrency: int = 256,
        per_host: int = 8,
        load_monitors: MonitorLoader = runtime.load_monitors,
        keep_results: timedelta = DEFAULT_RESULT_RETENTION,
        writer: ResultWriter | None = None,
        reload_debounce: float = RELOAD_DEBOUNCE_S,
        on_lag: Callable[[float], None] | None = None,
        freeze_gc: bool = True,
        coalesce: float = COALESCE_S,
        notifier: Notifier | None = None,
    ) -> None:
        """`load_monitors(session)` lists the monitors to run; wire it with the secret box:
        partial(runtime.load_monitors, load_models=partial(load_monitor_models, secrets=box)).
        `on_lag` also hears every scheduled run's lateness in seconds (benchmarks).
        `freeze_gc`: after loading, move every object to the GC's permanent generation
        (gc.freeze): 10,000 monitors are a million long-lived objects that each full
        collection would otherwise walk, stalling the loop for tens of milliseconds.
        `coalesce`: the dispatch loop wakes at most this often (see scheduler/dispatch.py).
        `notifier`: writes the notifications of status changes with them (see writer)."""
        self._sessions = sessions
        self._ctx = probe_ctx
        self._clock = clock
        self._load_monitors = load_monitors
        self._keep_results = keep_results
        self._reload_debounce = reload_debounce
        self._on_lag = on_lag
        self._freeze_gc = freeze_gc
        self.metrics = EngineMetrics(registry)
        self.writer = writer or ResultWriter(sessions, clock, notifier=notifier)
        self.dispatcher = Dispatcher(
            self._scheduled,
            max_concurrency=max_concurrency,
            per_host=per_host,
            # The same wall clock, without a datetime per read, unless a test set the time.
            wall=time.time if clock is utc_now else lambda: clock().timestamp(),
            on_lag=self.metrics.lag.observe if on_lag is None else self._observe_lag,
            on_skip=self.metrics.skipped.inc,
            coalesce=coalesce,
        )
        self.metrics.watch(
            statuses=lambda: ((key, slot.state.status) for key, slot in self._slots.items()),
            buffered=lambda: self.writer.buffered,
            dropped=lambda: self.writer.dropped,
            database_up=lambda: 1.0 if self.writer.database_ok else 0.0,
        )
        self._slots: dict[str, _Slot] = {}
        self._tokens: dict[str, str] = {}  # ping token -> key
        self._parents: dict[str, list[str]] = {}  # child key -> composites that contain it
        self._expiry = Deadlines()  # probed monitors: when a region may go stale
        self._push_due = Deadlines()  # push monitors: when they become late
        self._judging: set[str] = set()  # composites being re-judged (a cycle guard)
        self._tasks: list[asyncio.Task[None]] = []
        self._dispatch_task: asyncio.Task[None] | None = None
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_wanted = False
        self._started = False

    # --- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Load monitors and states from the database and start the loops."""
        if self._started:
            raise RuntimeError("the engine is already started")
        async with self._sessions() as session:
            monitors = await self._load_monitors(session)
            stored = await runtime.load_stored_states(session)
        now = self._clock()
        for monitor in monitors:
            self._add(monitor, stored.get(monitor.id), now)
        self._link_composites(now)
        del monitors
        if self._freeze_gc:
            gc.collect()
            gc.freeze()
        self._started = True
        self.writer.start()
        self._dispatch_task = asyncio.create_task(self.dispatcher.run(), name="upstate-dispatch")
        self._tasks = [
            asyncio.create_task(self._housekeeping(), name="upstate-housekeeping"),
            asyncio.create_task(self._retention(), name="upstate-retention"),
        ]
        logger.info("engine started monitors=%d stored_states=%d", len(self._slots), len(stored))

    async def stop(self, grace: float = 10.0) -> None:
        """Start no more probes, let those running finish (up to `grace` seconds; each has
        its own timeout too), then write everything pending."""
        if not self._started:
            return
        self._started = False
        self.dispatcher.stop()
        if self._dispatch_task is not None:
            await self._dispatch_task
        for task in [*self._tasks, self._reload_task]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        cancelled = await self.dispatcher.drain(grace)
        if cancelled:
            logger.warning("probes cancelled at stop count=%d", cancelled)
        await self.writer.stop()
        logger.info(
            "engine stopped written=%d dropped=%d", self.writer.written, self.writer.dropped
        )

    def health(self) -> EngineHealth:
        task = self._dispatch_task
        writer = self.writer
        return EngineHealth(
            running=task is not None and not task.done() and self.dispatcher.alive,
            database_ok=writer.database_ok,
            buffered_results=writer.buffered,
            dropped_results=writer.dropped,
            last_error=writer.last_error,
        )

    # --- what the web layer asks ----------------------------------------------------------

    async def check_now(self, key: str) -> CheckResult:
        slot = self._slots.get(key)
        if slot is None:
            raise NotFound(f"no monitor has the key {key}")
        if slot.monitor.definition is None:
            raise UsageError(f"{slot.monitor.kind} monitors are not probed, so cannot be checked")

        async def work() -> CheckResult:
            return await self._check(slot)

        return await self.dispatcher.exclusive(key, work)

    async def ping(self, token: str, signal: PingSignal) -> bool:
        key = self._tokens.get(token)
        slot = self._slots.get(key) if key is not None else None
        if slot is None or slot.monitor.push is None:
            return False
        monitor = slot.monitor
        memory = slot.push or PushState(created_at=monitor.created_at or signal.at)
        try:
            outcome, duration_ms = pipeline.ping_outcome(
                monitor, slot.state, memory, signal.kind, signal.at, signal.exit_status,
                self._clock(),
            )  # fmt: skip
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
        self.writer.add_ping(
            Ping(
                monitor_id=monitor.id,
                at=signal.at,
                kind=signal.kind,
                exit_status=signal.exit_status,
                body=signal.body,
                duration_ms=duration_ms,
                remote_addr=signal.remote_addr,
            )
        )
        slot.push = outcome.push
        self._apply(slot, outcome, self._clock())
        self._arm_push(slot)
        return True

    def reload(self) -> None:
        """Pick up changed monitors soon (debounced); call from the event loop's thread."""
        self._reload_wanted = True
        if self._reload_task is None or self._reload_task.done():
            self._reload_task = asyncio.get_running_loop().create_task(self._reload_soon())

    async def reload_now(self) -> None:
        """Re-read the monitors and apply the difference: new ones run at once, edited ones
        are replaced (keeping their state) and run at once, removed ones stop."""
        async with self._sessions() as session:
            monitors = await self._load_monitors(session)
        now = self._clock()
        seen: set[str] = set()
        added = changed = 0
        for monitor in monitors:
            seen.add(monitor.key)
            slot = self._slots.get(monitor.key)
            if slot is not None and slot.monitor.id != monitor.id:
                self._remove(monitor.key)  # deleted and created again: a new monitor
                slot = None
            if slot is None:
                self._add(monitor, None, now)
                added += 1
            elif slot.monitor != monitor:
                self._replace(slot, monitor, now)
                changed += 1
        removed = [key for key in self._slots if key not in seen]
        for key in removed:
            self._remove(key)
        self._link_composites(now)
        logger.info(
            "monitors reloaded added=%d changed=%d removed=%d", added, changed, len(removed)
        )

    def apply_maintenance(self, keys: frozenset[str], now: datetime) -> int:
        """Put exactly the monitors in `keys` in maintenance (and take the others out);
        returns how many moved. Called by the maintenance loop at each window's edge."""
        moved = 0
        for key, slot in self._slots.items():
            active = key in keys
            if slot.state.in_maintenance == active:
                continue
            transition = set_maintenance(slot.state, active, now)
            self._apply(slot, pipeline.outcome_of(slot.monitor.id, transition), now)
            moved += 1
        return moved

    def states(self) -> dict[str, MonitorState]:
        """Every monitor's current state by key (a new dict; the states are frozen)."""
        return {key: slot.state for key, slot in self._slots.items()}

    def state_of(self, key: str) -> MonitorState | None:
        slot = self._slots.get(key)
        return None if slot is None else slot.state

    # --- the hot path ---------------------------------------------------------------------

    async def _scheduled(self, key: str) -> None:
        slot = self._slots.get(key)
        if slot is not None and slot.monitor.definition is not None:
            await self._check(slot)

    async def _check(self, slot: _Slot) -> CheckResult:
        monitor = slot.monitor
        definition = monitor.definition
        assert definition is not None
        checked = await run_check(definition, self._ctx)
        if slot.monitor is not monitor or self._slots.get(monitor.key) is not slot:
            return checked  # edited or removed while the probe ran: it belongs to neither
        now = self._clock()
        outcome = pipeline.evaluate(monitor, slot.state, checked, now)
        self.metrics.observe_check(
            monitor.kind, checked.verdict.status, checked.observation.duration_ms / 1000
        )
        self._apply(slot, outcome, now)
        if monitor.key not in self._expiry:
            self._arm_expiry(slot, now)
        return checked

    def _apply(self, slot: _Slot, outcome: Outcome, now: datetime) -> None:
        """Take an outcome as the monitor's new state and hand it to the writer."""
        if outcome.checked_at is None or (outcome.push is None and slot.push is not None):
            outcome = replace(
                outcome,
                checked_at=outcome.checked_at or slot.checked_at,
                push=outcome.push or slot.push,
            )
        previous = slot.state.status
        slot.state = outcome.state
        slot.checked_at = outcome.checked_at
        self.writer.add(outcome)
        if outcome.state.status is not previous:
            for parent in self._parents.get(slot.monitor.key, ()):
                self._judge_composite(parent, now)

    def _observe_lag(self, lag: float) -> None:
        self.metrics.lag.observe(lag)
        if self._on_lag is not None:
            self._on_lag(lag)

    # --- timers ---------------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """One housekeeping pass: stale regions and late push monitors due by `now`."""
        at = now.timestamp()
        for key in self._expiry.pop_due(at):
            slot = self._slots.get(key)
            if slot is not None:
                self._expire(slot, now)
        for key in self._push_due.pop_due(at):
            slot = self._slots.get(key)
            if slot is not None:
                self._check_late(slot, now)

    def _expire(self, slot: _Slot, now: datetime) -> None:
        monitor = slot.monitor
        if monitor.definition is None or monitor.paused:
            return
        transition = expire_regions(slot.state, monitor.policy, now)
        if transition.state is not slot.state:
            self._apply(slot, pipeline.outcome_of(monitor.id, transition), now)
        self._arm_expiry(slot, now)

    def _arm_expiry(
        self, slot: _Slot, now: datetime, *, not_before: datetime | None = None
    ) -> None:
        """Look again when the oldest region goes stale or the flap window lets go."""
        state, policy = slot.state, slot.monitor.policy
        times = (
            [min(region.at for region in state.regions) + policy.fresh_for] if state.regions else []
        )
        if state.flapping and state.changes:
            times.append(state.changes[0] + policy.flap_window)
        if not times:
            return
        when = min(times) + timedelta(milliseconds=1)
        if not_before is not None and when < not_before:
            when = not_before
        self._expiry.set(slot.monitor.key, max(when, now).timestamp())

    def _check_late(self, slot: _Slot, now: datetime) -> None:
        monitor = slot.monitor
        schedule = monitor.push
        if schedule is None or monitor.paused or slot.push is None:
            return
        reason = is_late(slot.push, schedule, now)
        if reason is None:
            self._arm_push(slot)
            return
        if slot.state.underlying is not Status.DOWN:
            transition = push_late(slot.state, monitor.policy, now, reason)
            self._apply(slot, pipeline.outcome_of(monitor.id, transition), now)
        # Late it stays until a ping arrives (which arms the deadline again).

    def _arm_push(self, slot: _Slot, *, not_before: datetime | None = None) -> None:
        monitor = slot.monitor
        if monitor.push is None or monitor.paused or slot.push is None:
            self._push_due.discard(monitor.key)
            return
        when = deadline(slot.push, monitor.push)
        if not_before is not None and when < not_before:
            when = not_before
        self._push_due.set(monitor.key, when.timestamp())

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_S)
            try:
                self.tick(self._clock())
            except Exception:
                logger.exception("housekeeping failed")

    async def _retention(self) -> None:
        await asyncio.sleep(RETENTION_FIRST_S)
        while True:
            try:
                purged = await purge(
                    self._sessions, now=self._clock(), keep_results=self._keep_results
                )
                logger.info(
                    "retention ran results=%d pings=%d rollups=%d",
                    purged.results,
                    purged.pings,
                    purged.rollups,
                )
            except Exception as exc:
                logger.warning("retention failed error=%s", exc)
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _reload_soon(self) -> None:
        while self._reload_wanted:
            await asyncio.sleep(self._reload_debounce)
            self._reload_wanted = False
            try:
                await self.reload_now()
            except Exception as exc:
                logger.warning("reload failed, will retry error=%s", exc)
                self._reload_wanted = True
                await asyncio.sleep(RELOAD_RETRY_S)

    # --- the set of monitors --------------------------------------------------------------

    def _add(self, monitor: RuntimeMonitor, stored: StoredState | None, now: datetime) -> None:
        """A monitor joins: with its stored state (resuming its grid) or new (runs at once)."""
        slot = _Slot(monitor, stored.state if stored else MonitorState())
        if stored is not None:
            slot.checked_at = stored.checked_at
            slot.push = stored.push
        self._slots[monitor.key] = slot
        if monitor.ping_token:
            self._tokens[monitor.ping_token] = monitor.key
        self._follow_pause(slot, now)
        self._arm(slot, now, at_once=stored is None)

    def _replace(self, slot: _Slot, monitor: RuntimeMonitor, now: datetime) -> None:
        """An edited monitor: keeps its state and runs at once."""
        old = slot.monitor
        if old.ping_token and self._tokens.get(old.ping_token) == old.key:
            del self._tokens[old.ping_token]
        if monitor.ping_token:
            self._tokens[monitor.ping_token] = monitor.key
        slot.monitor = monitor
        self._follow_pause(slot, now)
        self._arm(slot, now, at_once=True)

    def _remove(self, key: str) -> None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self.dispatcher.remove(key)
        self._expiry.discard(key)
        self._push_due.discard(key)
        token = slot.monitor.ping_token
        if token and self._tokens.get(token) == key:
            del self._tokens[token]
        self.writer.forget(slot.monitor.id)

    def _follow_pause(self, slot: _Slot, now: datetime) -> None:
        """Pausing and resuming are status changes too (PAUSED, then UNKNOWN)."""
        if slot.monitor.paused != slot.state.paused:
            transition = set_paused(slot.state, slot.monitor.paused, now)
            self._apply(slot, pipeline.outcome_of(slot.monitor.id, transition), now)

    def _arm(self, slot: _Slot, now: datetime, *, at_once: bool) -> None:
        """Put a monitor on the timers its kind and pause need (and off the others)."""
        monitor = slot.monitor
        key = monitor.key
        if monitor.paused:
            self.dispatcher.remove(key)
            self._expiry.discard(key)
            self._push_due.discard(key)
            return
        if monitor.definition is not None:
            self.dispatcher.schedule(key, monitor.interval_s, monitor.target_host, at_once=at_once)
            # After a restart, stored regions are old: let the monitor report first.
            self._arm_expiry(slot, now, not_before=now + monitor.policy.fresh_for)
        else:
            self.dispatcher.remove(key)
            self._expiry.discard(key)
        if monitor.push is not None:
            if slot.push is None:
                slot.push = PushState(created_at=monitor.created_at or now)
            # Started, resumed or edited: pings could not count meanwhile (the process was
            # down, the monitor paused), so the job gets one grace period from now.
            self._arm_push(slot, not_before=now + monitor.push.grace)
        else:
            self._push_due.discard(key)

    def _link_composites(self, now: datetime) -> None:
        parents: dict[str, list[str]] = {}
        for slot in self._slots.values():
            for child in slot.monitor.children:
                parents.setdefault(child, []).append(slot.monitor.key)
        self._parents = parents
        for key in _composites(self._slots.values()):
            self._judge_composite(key, now)

    def _judge_composite(self, key: str, now: datetime) -> None:
        slot = self._slots.get(key)
        if slot is None or slot.monitor.kind is not MonitorKind.COMPOSITE or key in self._judging:
            return
        children = {
            child: self._slots[child].state.status
            for child in slot.monitor.children
            if child in self._slots
        }
        self._judging.add(key)
        try:
            outcome = pipeline.composite_outcome(slot.monitor, slot.state, children, now)
            if outcome is not None:
                self._apply(slot, outcome, now)
        finally:
            self._judging.discard(key)


def _composites(slots: Iterable[_Slot]) -> list[str]:
    return [slot.monitor.key for slot in slots if slot.monitor.kind is MonitorKind.COMPOSITE]
