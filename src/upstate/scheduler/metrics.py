"""The engine's Prometheus metrics, on the registry it is given (never the global one).

Label cardinality is chosen for 10,000 monitors: per-monitor series only where one value
per monitor is the point (`upstate_monitor_up`, `upstate_monitor_status`); distributions
and counters are by kind (and verdict).

The per-monitor series are not metric objects: prometheus_client keeps a lock and a value
object per labelled child, ~700 bytes, and the one-hot status is 7 children per monitor,
50 MB at 10,000 monitors. A collector reads the engine's statuses at scrape time
instead, so they cost nothing between scrapes and can never disagree with the engine.

The per-check series (duration, checks, scheduler lag) are not metric objects either, but
plain numbers exposed by another collector (CheckMetrics) with the names, labels and
samples prometheus_client's Histogram and Counter would give them: theirs take a lock per
value behind several Python calls (2.3 µs per check between the three, 0.6 µs here),
and the engine only counts from the event loop's thread, so locks buy nothing.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from math import inf

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class PlainHistogram:
    """One histogram series: a count per bucket (not cumulative, +Inf last) and the sum.

    `observe` is what prometheus_client's Histogram.observe does (a value counts in the
    first bucket whose bound is >= it), minus the locks.
    """

    __slots__ = ("bounds", "counts", "created", "les", "sum")

    def __init__(self, buckets: Iterable[float]) -> None:
        self.bounds = (*(float(bound) for bound in buckets), inf)
        # The `le` labels as prometheus_client writes them ("1.0", "+Inf").
        self.les: list[str] = [floatToGoString(b) for b in self.bounds]  # type: ignore[no-untyped-call]
        self.counts = [0] * len(self.bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def add_samples(self, metric: Metric, labels: dict[str, str]) -> None:
        name = metric.name
        total = 0.0
        for le, count in zip(self.les, self.counts, strict=True):
            total += count
            metric.add_sample(f"{name}_bucket", {**labels, "le": le}, total)
        metric.add_sample(f"{name}_count", labels, total)
        metric.add_sample(f"{name}_sum", labels, self.sum)
        if prometheus_metrics._use_created:  # honours disable_created_metrics() as theirs do
            metric.add_sample(f"{name}_created", labels, self.created)


_DURATION = ("upstate_check_duration_seconds", "How long probes took, by monitor kind")
_CHECKS = ("upstate_checks", "Checks run, by monitor kind and verdict")
_LAG = ("upstate_scheduler_lag_seconds", "How late scheduled checks started (start - due)")


class CheckMetrics(Collector):
    """The per-check series, counted in plain numbers and read when scraped."""

    def __init__(self) -> None:
        self.durations: dict[MonitorKind, PlainHistogram] = {}
        self.checks: dict[tuple[MonitorKind, Status], float] = {}
        self.checks_created: dict[tuple[MonitorKind, Status], float] = {}
        self.lag = PlainHistogram(LAG_BUCKETS)

    def describe(self) -> list[Metric]:
        return [
            Metric(*_DURATION, "histogram"),
            Metric(*_CHECKS, "counter"),
            Metric(*_LAG, "histogram"),
        ]

    def collect(self) -> Iterator[Metric]:
        duration, checks, lag = self.describe()
        for kind, series in list(self.durations.items()):
            series.add_samples(duration, {"kind": kind.value})
        created = prometheus_metrics._use_created
        for (kind, status), count in list(self.checks.items()):
            labels = {"kind": kind.value, "status": status.value}
            checks.add_sample("upstate_checks_total", labels, count)
            if created:
                checks.add_sample(
                    "upstate_checks_created", labels, self.checks_created[kind, status]
                )
        self.lag.add_samples(lag, {})
        yield duration
        yield checks
        yield lag


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._per_check = CheckMetrics()
        registry.register(self._per_check)
        self._durations = self._per_check.durations
        self._checks = self._per_check.checks
        self.lag = self._per_check.lag
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
        # PlainHistogram.observe and a counter's increment, written out: once per check.
        series = self._durations.get(kind)
        if series is None:
            series = self._durations[kind] = PlainHistogram(DURATION_BUCKETS)
        series.counts[bisect_left(series.bounds, duration_s)] += 1
        series.sum += duration_s
        key = (kind, status)
        checks = self._checks
        if key in checks:
            checks[key] += 1.0
        else:
            checks[key] = 1.0
            self._per_check.checks_created[key] = time.time()
