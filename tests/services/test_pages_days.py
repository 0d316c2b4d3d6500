"""The day figures' fast path against the slow one: `downtime` for every day.

services.pages._monitor_days skips `downtime` for days without a change, and page_view
shares one list between monitors without changes. Both must give the very same floats
as calling `downtime` for each day, on any timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from upstate.domain.enums import Status
from upstate.services.pages import DAYS, _monitor_days
from upstate.services.queries import downtime

FIRST_DAY = datetime(2025, 12, 15, tzinfo=UTC)
DAY_STARTS = [FIRST_DAY + timedelta(days=n) for n in range(DAYS)]
WINDOW_S = DAYS * 86_400


def slow_days(
    at_start: Status, changes: list[tuple[datetime, Status]], now: datetime
) -> list[tuple[float, float]]:
    """What _monitor_days did before its fast path: `downtime` for each day."""
    figures, status, index = [], at_start, 0
    for start in DAY_STARTS:
        end = min(start + timedelta(days=1), now)
        inside = []
        while index < len(changes) and changes[index][0] < end:
            inside.append(changes[index])
            index += 1
        outcome = downtime(status, inside, start, end)
        figures.append((outcome.down_s, outcome.counted_s))
        if inside:
            status = inside[-1][1]
    return figures


statuses = st.sampled_from(list(Status))
# Offsets in microseconds from the first day, some on day boundaries, up to `now`.
offsets = st.one_of(
    st.integers(0, WINDOW_S * 1_000_000 - 1),
    st.integers(0, DAYS - 1).map(lambda day: day * 86_400 * 1_000_000),
)


@settings(max_examples=400, deadline=None)
@given(
    at_start=statuses,
    changes=st.lists(st.tuples(offsets, statuses), max_size=12),
    now_offset=st.integers(1, WINDOW_S * 1_000_000),
)
def test_it_gives_the_slow_paths_figures_on_random_timelines(
    at_start: Status, changes: list[tuple[int, Status]], now_offset: int
) -> None:
    now = FIRST_DAY + timedelta(microseconds=now_offset)
    timeline = sorted(
        (FIRST_DAY + timedelta(microseconds=offset), status)
        for offset, status in changes
        if offset < now_offset  # the store reads changes in [first day, now)
    )
    assert _monitor_days(at_start, timeline, DAY_STARTS, now) == slow_days(at_start, timeline, now)


def test_it_counts_a_steady_down_monitor_as_down_all_day() -> None:
    now = DAY_STARTS[-1] + timedelta(hours=6)
    figures = _monitor_days(Status.DOWN, [], DAY_STARTS, now)
    assert figures[0] == (86_400.0, 86_400.0)
    assert figures[-1] == (6 * 3600.0, 6 * 3600.0)
    assert _monitor_days(Status.PAUSED, [], DAY_STARTS, now)[0] == (0.0, 0.0)
    assert figures == slow_days(Status.DOWN, [], now)
