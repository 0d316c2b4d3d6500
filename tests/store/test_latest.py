"""latest_many: the newest result of each monitor (optionally of one region) in one query,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import NOW, add_monitor
from upstate.domain.enums import Status
from upstate.store import latest, results
from upstate.store.latest import latest_many
from upstate.store.results import ResultRow


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


async def test_it_answers_the_newest_result_of_each_monitor(session: AsyncSession) -> None:
    api, web, idle = [await add_monitor(session, key) for key in ("api", "web", "idle")]
    await results.insert_many(
        session,
        [
            result(api.id, 0),
            result(api.id, 20, status=Status.DOWN, status_code=503),
            result(api.id, 10),
            result(web.id, 5, region="eu"),
            result(web.id, 3),
        ],
    )
    found = await latest_many(session, [api.id, web.id, idle.id])
    assert set(found) == {api.id, web.id}  # no result: left out
    assert found[api.id].started_at == NOW + timedelta(seconds=20)
    assert (found[api.id].status, found[api.id].status_code) == (Status.DOWN, 503)
    assert (found[web.id].region, found[web.id].duration_ms) == ("eu", 15.0)


async def test_it_narrows_to_one_region(session: AsyncSession) -> None:
    web = await add_monitor(session, "web")
    await results.insert_many(session, [result(web.id, 9, region="eu"), result(web.id, 3)])
    found = await latest_many(session, [web.id], region="local")
    assert found[web.id].started_at == NOW + timedelta(seconds=3)
    assert await latest_many(session, [web.id], region="ap") == {}


async def test_it_breaks_ties_by_the_newest_id_and_reads_only_the_monitors_asked(
    session: AsyncSession,
) -> None:
    api, other = await add_monitor(session, "api"), await add_monitor(session, "other")
    await results.insert_many(
        session,
        [result(api.id, 1, duration_ms=1.0), result(api.id, 1, duration_ms=2.0)],
    )
    await results.insert_many(session, [result(other.id, 50)])
    found = await latest_many(session, [api.id, api.id])
    assert list(found) == [api.id]
    assert found[api.id].duration_ms == 2.0


async def test_it_answers_more_monitors_than_one_statement_holds(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = [await add_monitor(session, f"m{n}") for n in range(7)]
    await results.insert_many(session, [result(m.id, n) for n, m in enumerate(created)])
    monkeypatch.setattr(latest, "CHUNK", 3)  # three statements for seven monitors
    found = await latest_many(session, [m.id for m in created])
    assert {k: v.started_at for k, v in found.items()} == {
        m.id: NOW + timedelta(seconds=n) for n, m in enumerate(created)
    }
    assert await latest_many(session, []) == {}
