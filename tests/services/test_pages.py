from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.store.helpers import add_monitor
from upstate.config.pages import StatusPage
from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
)
from upstate.errors import NotFound
from upstate.services import pages
from upstate.services.pages import Indicator, component_status, with_incidents
from upstate.services.queries import OverallStatus
from upstate.store import changes, rollups, states
from upstate.store import incidents as incident_store
from upstate.store.changes import StatusChange
from upstate.store.results import ResultRow
from upstate.store.states import StateRecord

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
UP, DOWN, DEGRADED, MAINT = Status.UP, Status.DOWN, Status.DEGRADED, Status.MAINTENANCE
PAGE = StatusPage.model_validate(
    {
        "slug": "main",
        "title": "Main",
        "components": [{"name": "Website", "monitors": ["web"]}],
        "groups": [
            {
                "name": "Backend",
                "components": [
                    {"name": "API", "monitors": ["api", "api-eu"]},
                    {"name": "Support"},
                ],
            }
        ],
    }
)


def test_it_maps_monitor_statuses_to_a_component_status() -> None:
    assert component_status([]) is None
    assert component_status([DOWN, DOWN]) is ComponentStatus.MAJOR_OUTAGE
    assert component_status([DOWN, UP]) is ComponentStatus.PARTIAL_OUTAGE
    assert component_status([DEGRADED, UP]) is ComponentStatus.DEGRADED_PERFORMANCE
    assert component_status([MAINT, UP]) is ComponentStatus.UNDER_MAINTENANCE
    assert component_status([UP, Status.UNKNOWN]) is ComponentStatus.OPERATIONAL


def _incident(code: str, status: ComponentStatus, *, auto: bool = False, **kw: object) -> Incident:
    values: dict[str, object] = {
        "id": "inc1",
        "title": "Trouble",
        "status": IncidentStatus.INVESTIGATING,
        "impact": Impact.MINOR,
        "started_at": NOW - timedelta(hours=1),
        "auto": auto,
        "components": {code: status},
        "pages": ("main",),
        "updates": (
            IncidentUpdate(
                IncidentStatus.INVESTIGATING,
                "Looking",
                NOW - timedelta(hours=1),
                (AffectedComponent(code, "X", ComponentStatus.OPERATIONAL, status),),
            ),
        ),
    }
    values.update(kw)
    return Incident(**values)  # type: ignore[arg-type]


def test_it_lets_a_manual_incident_win_and_an_automatic_one_only_when_worse() -> None:
    manual = _incident("main.api", ComponentStatus.DEGRADED_PERFORMANCE)
    auto = _incident("main.api", ComponentStatus.DEGRADED_PERFORMANCE, auto=True)
    major = ComponentStatus.MAJOR_OUTAGE
    assert with_incidents("main.api", major, [manual]) is ComponentStatus.DEGRADED_PERFORMANCE
    assert with_incidents("main.api", major, [auto]) is major
    assert with_incidents("main.api", None, [auto]) is ComponentStatus.DEGRADED_PERFORMANCE
    assert with_incidents("main.other", None, [manual]) is ComponentStatus.OPERATIONAL


async def _setup(session: AsyncSession, statuses: dict[str, Status], critical: str = "") -> None:
    for key, status in statuses.items():
        record = await add_monitor(session, key, critical=key == critical)
        await states.put_state(
            session, StateRecord(record.id, status, NOW - timedelta(minutes=5), NOW, {}, NOW)
        )


async def test_it_builds_the_page_with_groups_statuses_and_indicator(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": UP, "api": DOWN, "api-eu": UP})
    view = await pages.page_view(session, PAGE, NOW)
    assert [g.name for g in view.groups] == [None, "Backend"]
    assert [c.code for c in view.components] == ["main.website", "main.api", "main.support"]
    assert [c.status for c in view.components] == [
        ComponentStatus.OPERATIONAL,
        ComponentStatus.PARTIAL_OUTAGE,
        ComponentStatus.OPERATIONAL,
    ]
    assert view.groups[1].status is ComponentStatus.PARTIAL_OUTAGE
    assert view.overall is OverallStatus.DEGRADED
    assert view.indicator is Indicator.MINOR
    assert view.component("main.api") is not None
    assert view.component("main.api").monitors == ("api", "api-eu")  # type: ignore[union-attr]


async def test_it_says_critical_and_down_for_a_critical_component_in_major_outage(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": DOWN, "api": UP, "api-eu": UP}, critical="web")
    view = await pages.page_view(session, PAGE, NOW)
    assert view.components[0].status is ComponentStatus.MAJOR_OUTAGE
    assert view.components[0].critical
    assert view.overall is OverallStatus.DOWN
    assert view.indicator is Indicator.CRITICAL
    assert view.status_description == "Major Service Outage"


async def test_it_says_maintenance_when_only_maintenance_is_going_on(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": MAINT, "api": UP, "api-eu": UP})
    view = await pages.page_view(session, PAGE, NOW)
    assert view.indicator is Indicator.MAINTENANCE
    assert view.overall is OverallStatus.OPERATIONAL


async def test_it_shows_open_published_incidents_and_their_component_status(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": UP, "api": UP, "api-eu": UP})
    shown = _incident("main.support", ComponentStatus.MAJOR_OUTAGE)
    draft = _incident("main.website", ComponentStatus.MAJOR_OUTAGE, id="inc2", draft=True)
    await incident_store.insert_incident(session, shown, NOW)
    await incident_store.insert_incident(session, draft, NOW)
    view = await pages.page_view(session, PAGE, NOW)
    assert [i.id for i in view.active_incidents] == ["inc1"]
    assert view.component("main.support").status is ComponentStatus.MAJOR_OUTAGE  # type: ignore[union-attr]
    assert view.component("main.website").status is ComponentStatus.OPERATIONAL  # type: ignore[union-attr]
    today = view.component("main.support").days[-1]  # type: ignore[union-attr]
    assert [ref.id for ref in today.incidents] == ["inc1"]
    assert view.indicator is Indicator.MAJOR


async def test_it_computes_90_days_of_uptime_from_status_changes(session: AsyncSession) -> None:
    await _setup(session, {"web": UP, "api": UP, "api-eu": UP})
    web = await pages.monitor_status(session, "web")
    assert web is UP
    record_id = await _id(session, "web")
    yesterday = datetime(2026, 3, 13, tzinfo=UTC)
    for at, prev, new in (
        (yesterday - timedelta(days=2), Status.UNKNOWN, UP),  # first known two days before
        (yesterday + timedelta(hours=6), UP, DOWN),
        (yesterday + timedelta(hours=8, minutes=24), DOWN, UP),  # 2.4 h down: 90 % up
    ):
        await changes.add(session, StatusChange(record_id, prev, new, at, "test"))
    view = await pages.page_view(session, PAGE, NOW)
    days = view.components[0].days
    assert len(days) == 90
    assert days[-1].date == date(2026, 3, 14)
    assert days[-2].date == date(2026, 3, 13)
    assert days[-2].downtime_s == pytest.approx(2.4 * 3600)
    assert days[-2].uptime_pct == pytest.approx(90.0)
    assert days[-1].uptime_pct == 100.0
    assert days[0].uptime_pct is None  # nothing known then
    assert days[-5].uptime_pct is None
    assert days[-4].uptime_pct == 100.0
    assert view.components[0].uptime_pct is not None
    assert view.components[0].uptime_pct < 100


async def _id(session: AsyncSession, key: str) -> int:
    from upstate.store import monitors

    record = await monitors.get_by_key(session, key)
    assert record is not None
    return record.id


async def test_it_reads_the_history_of_a_month_and_one_incident(session: AsyncSession) -> None:
    march = _incident("main.api", ComponentStatus.MAJOR_OUTAGE)
    february = _incident(
        "main.api",
        ComponentStatus.MAJOR_OUTAGE,
        id="old1",
        started_at=datetime(2026, 2, 20, tzinfo=UTC),
        updates=(),
    )
    elsewhere = _incident("x.api", ComponentStatus.MAJOR_OUTAGE, id="oth1", pages=("x",))
    for incident in (march, february, elsewhere):
        await incident_store.insert_incident(session, incident, NOW)
    assert [i.id for i in await pages.history(session, PAGE, date(2026, 3, 1))] == ["inc1"]
    assert [i.id for i in await pages.history(session, PAGE, date(2026, 2, 9))] == ["old1"]
    assert (await pages.incident_view(session, PAGE, "inc1")).title == "Trouble"
    with pytest.raises(NotFound):
        await pages.incident_view(session, PAGE, "oth1")
    with pytest.raises(NotFound):
        await pages.incident_view(session, PAGE, "nope")


async def test_it_draws_response_times_from_rollups(session: AsyncSession) -> None:
    await _setup(session, {"web": UP, "api": UP, "api-eu": UP})
    api, eu = await _id(session, "api"), await _id(session, "api-eu")
    rows = [
        ResultRow(api, "local", NOW - timedelta(hours=2, minutes=30), UP, 100.0),
        ResultRow(eu, "local", NOW - timedelta(hours=2, minutes=20), UP, 300.0),
        ResultRow(api, "local", NOW - timedelta(minutes=30), UP, 50.0),
    ]
    await rollups.apply(session, rows)
    points = await pages.response_times(session, PAGE, "main.api", "24h", NOW)
    assert [p.at for p in points] == [NOW - timedelta(hours=3), NOW - timedelta(hours=1)]
    assert points[0].avg_ms == pytest.approx(200.0)
    assert points[1].avg_ms == pytest.approx(50.0)
    with pytest.raises(NotFound):
        await pages.response_times(session, PAGE, "main.nope", "24h", NOW)


async def test_it_takes_each_day_from_the_worst_monitor_when_most_share_a_history(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": UP, "api": UP, "api-eu": UP})
    api, eu = await _id(session, "api"), await _id(session, "api-eu")
    start = NOW - timedelta(days=100)
    for monitor_id in (api, eu):
        await changes.add(session, StatusChange(monitor_id, Status.UNKNOWN, UP, start, "first"))
    outage = datetime(2026, 3, 10, 1, tzinfo=UTC)
    await changes.add(session, StatusChange(eu, UP, DOWN, outage, "status 503"))
    await changes.add(session, StatusChange(eu, DOWN, UP, outage + timedelta(hours=12), "ok"))
    view = await pages.page_view(session, PAGE, NOW)
    api_days = view.component("main.api").days  # type: ignore[union-attr]
    by_date = {d.date: d for d in api_days}
    assert by_date[date(2026, 3, 10)].downtime_s == pytest.approx(12 * 3600)
    assert by_date[date(2026, 3, 10)].uptime_pct == pytest.approx(50.0)
    assert {d.uptime_pct for d in api_days if d.date != date(2026, 3, 10)} == {100.0}
    assert view.component("main.website").days[0].uptime_pct is None  # type: ignore[union-attr]


async def test_it_draws_every_chart_of_the_page_as_each_component_alone(
    session: AsyncSession,
) -> None:
    await _setup(session, {"web": UP, "api": UP, "api-eu": UP})
    ids = {key: await _id(session, key) for key in ("web", "api", "api-eu")}
    rows = [
        ResultRow(ids[key], region, NOW - timedelta(hours=hours, minutes=10), UP, ms)
        for key, region, hours, ms in (
            ("web", "local", 3, 80.0),
            ("web", "eu", 3, 120.0),
            ("api", "local", 2, 100.0),
            ("api-eu", "local", 2, 900.0),
            ("api-eu", "local", 30, 50.0),  # outside 24h
        )
    ]
    await rollups.apply(session, rows)
    charts = await pages.response_charts(session, PAGE, "24h", NOW)
    assert set(charts) == {"main.website", "main.api"}  # Support has no monitors
    for code, points in charts.items():
        assert points == await pages.response_times(session, PAGE, code, "24h", NOW)
    assert [p.avg_ms for p in charts["main.website"]] == [pytest.approx(100.0)]
    assert charts["main.api"][0].avg_ms == pytest.approx(500.0)
    assert charts["main.api"][0].p95_ms is not None
    assert charts["main.api"][0].p95_ms > 500
    weekly = await pages.response_charts(session, PAGE, "7d", NOW)
    assert [p.avg_ms for p in weekly["main.api"]] == [pytest.approx(50.0), pytest.approx(500.0)]
