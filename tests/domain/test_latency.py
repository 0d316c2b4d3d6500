from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstate.domain.latency import (
    BOUNDS_MS,
    BUCKETS,
    RATIO,
    bucket_of,
    bucket_range,
    histogram,
    quantile,
)

latencies = st.floats(min_value=0.0, max_value=59_999.0, allow_nan=False)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def test_it_spans_one_millisecond_to_a_minute_geometrically() -> None:
    assert len(BOUNDS_MS) == BUCKETS - 1
    assert BOUNDS_MS[0] == 1.0
    assert BOUNDS_MS[-1] == 60_000.0
    ratios = [b / a for a, b in itertools.pairwise(BOUNDS_MS)]
    assert all(abs(r - RATIO) < 0.01 for r in ratios)
    assert 1.4 < RATIO < 1.6


@pytest.mark.parametrize(
    ("ms", "bucket"),
    [(-0.3, 0), (0.0, 0), (0.99, 0), (1.0, 1), (59_999.0, BUCKETS - 2), (60_000.0, BUCKETS - 1)],
)
def test_it_puts_edges_in_the_bucket_they_open(ms: float, bucket: int) -> None:
    assert bucket_of(ms) == bucket


@given(latencies)
def test_it_puts_every_latency_inside_its_bucket_range(ms: float) -> None:
    low, high = bucket_range(bucket_of(ms))
    assert low <= ms < high


def test_it_refuses_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        bucket_of(math.nan)


def test_it_has_no_quantile_without_samples() -> None:
    assert quantile([0] * BUCKETS, 0.5) is None


def test_it_refuses_a_quantile_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="quantile"):
        quantile(histogram([5.0]), 1.5)


def test_it_is_exact_when_min_and_max_pin_a_single_value() -> None:
    counts = histogram([42.0] * 10)
    assert quantile(counts, 0.99, low=42.0, high=42.0) == 42.0


def test_it_interpolates_inside_the_bucket() -> None:
    counts = [0] * BUCKETS
    counts[bucket_of(100.0)] = 4
    low, high = bucket_range(bucket_of(100.0))
    assert quantile(counts, 0.5) == pytest.approx(low + (high - low) / 2)


def test_it_uses_the_maximum_as_the_top_of_the_open_last_bucket() -> None:
    counts = histogram([70_000.0, 90_000.0])
    assert quantile(counts, 1.0) == 60_000.0
    assert quantile(counts, 1.0, high=90_000.0) == 90_000.0


@given(st.lists(latencies, min_size=1, max_size=300), st.floats(min_value=0.0, max_value=1.0))
def test_it_stays_within_one_bucket_of_the_exact_quantile(values: list[float], q: float) -> None:
    exact = nearest_rank(values, q)
    estimate = quantile(histogram(values), q, low=min(values), high=max(values))
    assert estimate is not None
    low, high = bucket_range(bucket_of(exact))
    assert low <= estimate <= high
    # Relative error bound of a geometric bucket, plus 1 ms for the [0, 1 ms) bucket.
    assert abs(estimate - exact) <= (RATIO - 1) * exact + 1.0


@given(
    st.lists(latencies, min_size=1, max_size=100),
    st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_it_is_monotonic_in_q(values: list[float], q1: float, q2: float) -> None:
    counts = histogram(values)
    a, b = quantile(counts, min(q1, q2)), quantile(counts, max(q1, q2))
    assert a is not None
    assert b is not None
    assert a <= b


@given(st.lists(latencies, max_size=50), st.lists(latencies, max_size=50))
def test_it_adds_histograms_bucket_by_bucket(first: list[float], second: list[float]) -> None:
    merged = [a + b for a, b in zip(histogram(first), histogram(second), strict=True)]
    assert merged == histogram(first + second)
