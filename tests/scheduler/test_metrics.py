from __future__ import annotations

import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from upstate.domain.enums import MonitorKind, Status
from upstate.scheduler.metrics import DURATION_BUCKETS, LAG_BUCKETS, EngineMetrics, PlainHistogram

# Bucket edges, values just past them, zero, negatives and values past the last bound.
VALUES = (*DURATION_BUCKETS, *LAG_BUCKETS, 0.0, -1.0, 0.0025000001, 0.0009, 31.0, 1e9)
KINDS = (MonitorKind.TCP, MonitorKind.HTTP, MonitorKind.DNS)
STATUSES = (Status.DOWN, Status.UP, Status.DEGRADED)


def feed(observe_check, observe_lag) -> None:  # type: ignore[no-untyped-def]
    for n, value in enumerate(VALUES * 3):
        observe_check(KINDS[n % 3], STATUSES[n // 3 % 3], value)
        observe_lag(value / 7)


def reference() -> str:
    """What prometheus_client's own Histogram and Counter expose for the same input."""
    registry = CollectorRegistry()
    duration = Histogram(
        "upstate_check_duration_seconds",
        "How long probes took, by monitor kind",
        ["kind"],
        buckets=DURATION_BUCKETS,
        registry=registry,
    )
    checks = Counter(
        "upstate_checks", "Checks run, by monitor kind and verdict", ["kind", "status"],
        registry=registry,
    )  # fmt: skip
    lag = Histogram(
        "upstate_scheduler_lag_seconds",
        "How late scheduled checks started (start - due)",
        buckets=LAG_BUCKETS,
        registry=registry,
    )

    def observe_check(kind: MonitorKind, status: Status, value: float) -> None:
        duration.labels(kind.value).observe(value)
        checks.labels(kind.value, status.value).inc()

    feed(observe_check, lag.observe)
    return generate_latest(registry).decode()


def without_created(text: str) -> str:
    return re.sub(r"(_created(\{[^}]*\})?) \S+", r"\1 T", text)


def test_it_exposes_what_prometheus_client_metrics_would() -> None:
    metrics = EngineMetrics(CollectorRegistry())
    feed(metrics.observe_check, metrics.lag.observe)
    text = generate_latest(metrics.registry).decode()
    per_check = text[: text.index("# HELP upstate_scheduler_skipped_runs")]
    assert without_created(per_check) == without_created(reference())
    assert "upstate_checks_created{" in per_check


def test_it_counts_by_kind_and_verdict() -> None:
    metrics = EngineMetrics(CollectorRegistry())
    for _ in range(3):
        metrics.observe_check(MonitorKind.HTTP, Status.UP, 0.02)
    metrics.observe_check(MonitorKind.HTTP, Status.DOWN, 0.02)

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert sample("upstate_checks_total", kind="http", status="up") == 3.0
    assert sample("upstate_checks_total", kind="http", status="down") == 1.0
    assert sample("upstate_check_duration_seconds_count", kind="http") == 4.0
    assert sample("upstate_check_duration_seconds_bucket", kind="http", le="0.01") == 0.0
    assert sample("upstate_check_duration_seconds_bucket", kind="http", le="0.025") == 4.0
    assert sample("upstate_check_duration_seconds_sum", kind="http") == pytest.approx(0.08)


def test_it_puts_a_value_on_a_bound_in_that_bucket() -> None:
    histogram = PlainHistogram((0.1, 1.0))
    for value in (0.1, 0.2, 1.0, 5.0):
        histogram.observe(value)
    assert histogram.counts == [1, 2, 1]
    assert histogram.sum == pytest.approx(6.3)


def test_it_refuses_a_second_registration_of_the_same_names() -> None:
    registry = CollectorRegistry()
    EngineMetrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        EngineMetrics(registry)
