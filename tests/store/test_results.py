from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tests.fixtures.db import TestDatabase
from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import ErrorKind, MonitorKind, Status
from upstate.domain.observation import Observation, Phases, ProbeError
from upstate.store import results
from upstate.store._sql import utc_aware, utc_text
from upstate.store.results import InvalidCursor, ResultRow
from upstate.store.types import UtcDateTime


def result(monitor_id: int, seconds: float, region: str = "local", **changes: object) -> ResultRow:
    values: dict[str, object] = {
        "monitor_id": monitor_id,
        "region": region,
        "started_at": NOW + timedelta(seconds=seconds),
        "status": Status.UP,
        "duration_ms": 10.0 + seconds,
    }
    values.update(changes)
    return ResultRow(**values)  # type: ignore[arg-type]


async def test_it_stores_every_field_of_a_result(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    row = ResultRow(
        monitor_id=monitor.id,
        region="eu-west",
        started_at=NOW,
        status=Status.DOWN,
        duration_ms=812.5,
        dns_ms=1.5,
        connect_ms=2.5,
        tls_ms=30.25,
        ttfb_ms=700.0,
        transfer_ms=78.25,
        status_code=503,
        error_kind=ErrorKind.INVALID_RESPONSE,
        error_message="x" * 900 + "\x00",
        extracted={"version": "1.2.3", "items": [1, 2]},
    )
    await results.insert_many(session, [row])
    (stored,) = (await results.page(session, monitor.id)).items
    assert stored.id is not None
    assert stored.error_message is not None
    assert len(stored.error_message) == 500
    assert stored.error_kind is ErrorKind.INVALID_RESPONSE
    assert stored.status is Status.DOWN
    assert stored.started_at == NOW
    fields = ("region", "duration_ms", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms")
    assert all(getattr(stored, f) == getattr(row, f) for f in fields)
    assert (stored.transfer_ms, stored.status_code) == (78.25, 503)
    assert stored.extracted == {"version": "1.2.3", "items": [1, 2]}


async def test_it_builds_a_row_from_an_observation() -> None:
    observation = Observation(
        kind=MonitorKind.HTTP,
        target="https://api.example.com",
        region="local",
        started_at=NOW,
        duration_ms=50.0,
        phases=Phases(dns=1.0, connect=2.0, tls=3.0, ttfb=40.0, transfer=4.0),
        error=ProbeError(ErrorKind.TIMEOUT, "no answer in 10s"),
    )
    row = ResultRow.from_observation(7, observation, Status.DOWN)
    assert (row.monitor_id, row.region, row.started_at) == (7, "local", NOW)
    assert (row.dns_ms, row.connect_ms, row.tls_ms, row.ttfb_ms, row.transfer_ms) == (
        1.0,
        2.0,
        3.0,
        40.0,
        4.0,
    )
    assert (row.error_kind, row.error_message) == (ErrorKind.TIMEOUT, "no answer in 10s")


async def test_it_pages_newest_first_without_repeating_or_skipping(db: TestDatabase) -> None:
    async with db.sessions() as session:
        monitor = await add_monitor(session)
        # Pairs share a start time, so the id must break ties.
        await results.insert_many(session, [result(monitor.id, i // 2) for i in range(25)])
        await session.commit()
    seen: list[int] = []
    cursor = None
    async with db.sessions() as session:
        for page_number in range(10):
            page = await results.page(session, monitor.id, cursor=cursor, limit=10)
            seen.extend(row.id for row in page.items if row.id is not None)
            if page_number == 0:
                # Newer results committed meanwhile do not shift later pages.
                async with db.sessions() as writer:
                    newer = [result(monitor.id, 100 + i) for i in range(5)]
                    await results.insert_many(writer, newer)
                    await writer.commit()
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert len(seen) == 25 == len(set(seen))
    async with db.sessions() as session:
        everything = (await results.page(session, monitor.id, limit=100)).items
    order = [(row.started_at, row.id) for row in everything]
    assert order == sorted(order, reverse=True)
    assert [row.id for row in everything[5:]] == seen


async def test_it_filters_pages_by_window_and_region(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    other = await add_monitor(session, "other")
    rows = [result(monitor.id, s, region) for s in range(10) for region in ("local", "eu")]
    await results.insert_many(session, [*rows, result(other.id, 5)])
    page = await results.page(
        session,
        monitor.id,
        since=NOW + timedelta(seconds=2),
        until=NOW + timedelta(seconds=5),
        region="eu",
    )
    assert [(r.region, r.started_at) for r in page.items] == [
        ("eu", NOW + timedelta(seconds=s)) for s in (4, 3, 2)
    ]
    assert page.next_cursor is None


async def test_it_refuses_a_cursor_it_did_not_make(session: AsyncSession) -> None:
    for bad in ("not base64!", "aGVsbG8", results.encode_cursor(NOW, 1)[:-3]):
        with pytest.raises(InvalidCursor):
            await results.page(session, 1, cursor=bad)


def test_it_round_trips_cursors() -> None:
    assert results.decode_cursor(results.encode_cursor(NOW, 123456789)) == (NOW, 123456789)


async def test_it_finds_the_latest_result_of_each_region(session: AsyncSession) -> None:
    monitor = await add_monitor(session)
    rows = [result(monitor.id, s, region) for s in range(5) for region in ("local", "eu")]
    rows.append(result(monitor.id, 2, "us", status=Status.DOWN))
    await results.insert_many(session, rows)
    latest = await results.latest_per_region(session, monitor.id, ["local", "eu", "us", "ap"])
    assert set(latest) == {"local", "eu", "us"}
    assert latest["local"].started_at == NOW + timedelta(seconds=4)
    assert latest["us"].status is Status.DOWN


async def test_it_accepts_an_empty_batch(session: AsyncSession) -> None:
    await results.insert_many(session, [])


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
        datetime(2026, 3, 2, 1, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 2, 1, 30, 0, 7, tzinfo=timezone(timedelta(0), "Z")),  # not `UTC`
    ],
)
def test_bulk_writes_bind_times_exactly_as_core_does(at: datetime) -> None:
    for dialect, fast in ((sqlite.dialect(), utc_text), (postgresql.dialect(), utc_aware)):
        core = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert core is not None
        assert fast(at) == core(at)


def test_bulk_writes_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc_text(datetime(2026, 1, 1))
