"""The engine's Prometheus metrics, on the registry it is given (never the global one).

Label cardinality is chosen for 10,000 monitors: per-monitor series only where one value
per monitor is the point (`upstate_monitor_up`, `upstate_monitor_status`); distributions
and counters are by kind, their children looked up once and cached (`labels()` costs a
few microseconds per call).

The per-monitor series are not metric objects: prometheus_client keeps a lock and a value
object per labelled child, ~700 bytes, and the one-hot status is 7 children per monitor,
50 MB at 10,000 monitors. A collector reads the engine's statuses at scrape time
instead, so they cost nothing between scrapes and can never disagree with the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from upstate.domain.enums import MonitorKind, Status

_STATUSES = tuple(status.value for status in Status)
_UP_LIKE = (Status.UP, Status.DEGRADED)
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Fine around 20-50 ms: the scheduler's goal is a lag p99 under 50 ms.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


Statuses = Callable[[], Iterable[tuple[str, Status]]]


class MonitorStatuses(Collector):
    """`upstate_monitor_up` and the one-hot `upstate_monitor_status`, read when scraped."""

    def __init__(self, read: Statuses) -> None:
        self._read = read

    def describe(self) -> list[Metric]:
        return []  # names are known; spare the registry a collect() at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "upstate_monitor_up",
            "1 while the monitor is up or degraded, else 0",
            labels=["monitor"],
        )
        status = GaugeMetricFamily(
            "upstate_monitor_status",
            "The monitor's status: 1 for the current one, 0 for the others",
            labels=["monitor", "status"],
        )
        for key, current in self._read():
            up.add_metric([key], 1.0 if current in _UP_LIKE else 0.0)
            for name in _STATUSES:
                status.add_metric([key, name], 1.0 if name == current.value else 0.0)
        yield up
        yield status


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "upstate_check_duration_seconds",
            "How long probes took, by monitor kind",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.checks = Counter(
            "upstate_checks",
            "Checks run, by monitor kind and verdict",
            ["kind", "status"],
            registry=registry,
        )
        self.lag = Histogram(
            "upstate_scheduler_lag_seconds",
            "How late scheduled checks started (start - due)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.skipped = Counter(
            "upstate_scheduler_skipped_runs",
            "Runs not started because the monitor's previous run was still going",
            registry=registry,
        )
        self.buffered = Gauge(
            "upstate_writer_buffered_results",
            "Results waiting to be written to the database",
            registry=registry,
        )
        self.dropped = Gauge(
            "upstate_writer_dropped_results",
            "Results lost because the buffer was full, since start",
            registry=registry,
        )
        self.database_up = Gauge(
            "upstate_database_up",
            "1 while the last write reached the database",
            registry=registry,
        )
        self._duration: dict[MonitorKind, Histogram] = {}
        self._checks: dict[tuple[MonitorKind, Status], Counter] = {}

    def watch(
        self,
        *,
        statuses: Statuses,
        buffered: Callable[[], float],
        dropped: Callable[[], float],
        database_up: Callable[[], float],
    ) -> None:
        """What is read at scrape time: the engine's statuses, the writer's counts."""
        self.registry.register(MonitorStatuses(statuses))
        self.buffered.set_function(buffered)
        self.dropped.set_function(dropped)
        self.database_up.set_function(database_up)

    def observe_check(self, kind: MonitorKind, status: Status, duration_s: float) -> None:
        histogram = self._duration.get(kind)
        if histogram is None:
            histogram = self._duration[kind] = self.duration.labels(kind.value)
        histogram.observe(duration_s)
        counter = self._checks.get((kind, status))
        if counter is None:
            counter = self._checks[(kind, status)] = self.checks.labels(kind.value, status.value)
        counter.inc()
