from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from upstate.domain.enums import MonitorKind, Status
from upstate.errors import UsageError
from upstate.services import queries
from upstate.services.queries import Downtime, OverallStatus, downtime, overall_of
from upstate.store import changes, monitors
from upstate.store.changes import StatusChange
from upstate.store.monitors import MonitorDraft, MonitorSource

T0 = datetime(2026, 3, 1, tzinfo=UTC)
UP, DOWN, DEGRADED = Status.UP, Status.DOWN, Status.DEGRADED
UNKNOWN, PAUSED, MAINTENANCE = Status.UNKNOWN, Status.PAUSED, Status.MAINTENANCE


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def hours(result: Downtime) -> tuple[float, float, int]:
    return result.down_s / 3600, result.counted_s / 3600, result.outages


def test_it_counts_a_window_without_changes_by_the_status_in_force() -> None:
    assert hours(downtime(UP, [], h(0), h(10))) == (0, 10, 0)
    assert hours(downtime(DOWN, [], h(0), h(10))) == (10, 10, 1)
    assert hours(downtime(UNKNOWN, [], h(0), h(10))) == (0, 0, 0)


def test_it_counts_an_outage_already_running_at_the_window_start() -> None:
    result = downtime(DOWN, [(h(2), UP)], h(0), h(10))
    assert hours(result) == (2, 10, 1)


def test_it_counts_an_outage_still_running_at_the_window_end() -> None:
    assert hours(downtime(UP, [(h(8), DOWN)], h(0), h(10))) == (2, 10, 1)


def test_it_ignores_a_change_exactly_at_the_window_start_as_a_zero_length_segment() -> None:
    # Down until exactly the start: no downtime, no outage inside the window.
    assert hours(downtime(DOWN, [(h(0), UP)], h(0), h(10))) == (0, 10, 0)
    # A change exactly at the end is outside [since, until) and not passed in.
    assert hours(downtime(UP, [(h(3), DOWN), (h(4), UP)], h(0), h(10))) == (1, 10, 1)


def test_it_leaves_maintenance_pauses_and_unknown_time_out_of_both_sides() -> None:
    steps = [(h(1), DOWN), (h(2), MAINTENANCE), (h(4), DOWN), (h(5), PAUSED), (h(6), UP)]
    down, counted, outages = hours(downtime(UNKNOWN, steps, h(0), h(10)))
    assert (down, counted) == (2, 6)
    assert outages == 2  # maintenance between two DOWN stretches splits them


def test_it_counts_degraded_as_up_and_joins_nothing_across_it() -> None:
    steps = [(h(1), DEGRADED), (h(2), DOWN), (h(3), DEGRADED), (h(4), DOWN), (h(5), UP)]
    assert hours(downtime(UP, steps, h(0), h(10))) == (2, 10, 2)


def test_it_treats_down_to_down_as_one_outage() -> None:
    assert hours(downtime(UP, [(h(1), DOWN), (h(2), DOWN), (h(3), UP)], h(0), h(10))) == (
        2,
        10,
        1,
    )


def test_it_clamps_changes_outside_the_window() -> None:
    assert hours(downtime(UP, [(h(-5), DOWN), (h(12), UP)], h(0), h(10))) == (10, 10, 1)


@pytest.mark.parametrize(
    ("monitors", "expected"),
    [
        ([], OverallStatus.OPERATIONAL),
        ([(UP, True), (PAUSED, True), (MAINTENANCE, True), (UNKNOWN, True)], "operational"),
        ([(UP, True), (DEGRADED, True)], "degraded"),
        ([(UP, True), (DOWN, False)], "degraded"),
        ([(DEGRADED, False), (DOWN, True)], "down"),
        ([(DOWN, True), (DOWN, False)], "down"),
    ],
)
def test_it_derives_the_overall_status(monitors: list[tuple[Status, bool]], expected: str) -> None:
    assert overall_of(monitors) == expected


async def test_it_reads_more_changes_than_one_query_returns(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "_CHANGES_PER_READ", 3)
    record = await monitors.upsert(
        session,
        MonitorDraft("api", "api", MonitorKind.HTTP, MonitorSource.API, {}, 60.0),
        now=T0,
    )
    previous = UNKNOWN
    for minute in range(10):  # alternating, two sharing each timestamp to test the slicing
        status = DOWN if minute % 2 else UP
        at = T0 + timedelta(minutes=minute // 2 * 2)
        await changes.add(session, StatusChange(record.id, previous, status, at, ""))
        previous = status
    found = await queries._changes_between(session, record.id, T0, T0 + timedelta(hours=1))
    assert len(found) == 10
    assert len({c.id for c in found}) == 10


async def test_it_refuses_an_unknown_window(session: AsyncSession) -> None:
    with pytest.raises(UsageError, match="unknown window '1y'"):
        await queries.uptime(session, "api", "1y", now=T0)
