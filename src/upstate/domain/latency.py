"""A fixed log-bucket latency histogram: cheap to store, to add up in SQL, to read quantiles from.

Rollups keep one integer per bucket, so an hour or a day of results costs 30 integers
however many checks ran, and two histograms add bucket by bucket (an SQL upsert can do
it). The price is resolution: a quantile is only known to lie inside one bucket.

Bucket 0 holds [0, 1 ms); buckets 1..28 are geometric from 1 ms to 60 s (each about
1.48x the previous); bucket 29 holds 60 s and more. `quantile` interpolates linearly
inside the bucket where the wanted rank falls, so its estimate lies in the same bucket
as the exact (nearest-rank) quantile: at most RATIO - 1 (~48 %) off in the worst case,
usually far less. The observed min and max, when given, narrow the end buckets.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence

BUCKETS = 30
FIRST_BOUND_MS = 1.0
LAST_BOUND_MS = 60_000.0
RATIO = (LAST_BOUND_MS / FIRST_BOUND_MS) ** (1 / (BUCKETS - 2))

BOUNDS_MS: tuple[float, ...] = (
    *(round(FIRST_BOUND_MS * RATIO**i, 3) for i in range(BUCKETS - 2)),
    LAST_BOUND_MS,
)
"""Upper bound (exclusive) of bucket i, for i < BUCKETS - 1; the last bucket has none."""


def bucket_of(ms: float) -> int:
    """The bucket index of a duration in milliseconds (negative clock skew counts as 0)."""
    if math.isnan(ms):
        raise ValueError("a latency cannot be NaN")
    return bisect_right(BOUNDS_MS, ms)


def bucket_range(index: int) -> tuple[float, float]:
    """[low, high) of a bucket in milliseconds; the last bucket's high is infinity."""
    low = 0.0 if index == 0 else BOUNDS_MS[index - 1]
    high = BOUNDS_MS[index] if index < len(BOUNDS_MS) else math.inf
    return low, high


def histogram(values_ms: Iterable[float]) -> list[int]:
    counts = [0] * BUCKETS
    for value in values_ms:
        counts[bucket_of(value)] += 1
    return counts


def quantile(
    counts: Sequence[int],
    q: float,
    *,
    low: float | None = None,
    high: float | None = None,
) -> float | None:
    """Estimate the q-quantile (0 <= q <= 1) of the samples counted in `counts`.

    `low` and `high` are the observed minimum and maximum, when known (rollups keep
    them): they narrow the first and last occupied buckets, and give the open-ended
    last bucket an upper edge. Returns None when there are no samples.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    if len(counts) != BUCKETS:
        raise ValueError(f"expected {BUCKETS} bucket counts, got {len(counts)}")
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    before = 0
    for index, count in enumerate(counts):
        if count and before + count >= rank:
            return _interpolate(index, (rank - before) / count, low, high)
        before += count
    raise AssertionError("unreachable: the rank is at most the total")


def _interpolate(index: int, fraction: float, low: float | None, high: float | None) -> float:
    """The value `fraction` of the way through bucket `index`, narrowed to [low, high]."""
    lo, hi = bucket_range(index)
    if low is not None:
        lo = max(lo, low)
    if high is not None:
        hi = min(hi, high)
    if math.isinf(hi) or hi < lo:
        return lo
    return lo + (hi - lo) * max(fraction, 0.0)
