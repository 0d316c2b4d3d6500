"""The status page read model: what one page shows now, built in a few queries.

Every public surface of a page (its HTML, the Statuspage-compatible JSON, Upstate's own
status JSON, badges, feeds) reads a `PageView` built here, so they never disagree. The
view is built from the config's `StatusPage` (what is shown, in which order) and the
store (monitors' current states, their status changes over 90 days, the page's
incidents), one query per kind for the whole page, never one per component: a page is
rendered at most once per cache period (web.public.cache), whatever its traffic.

Decisions:

- **Component status** (Statuspage vocabulary) comes from its monitors' current states:
  all DOWN is `major_outage`, some DOWN `partial_outage`, any DEGRADED
  `degraded_performance`, else any MAINTENANCE `under_maintenance`, else `operational`
  (UNKNOWN and PAUSED are no evidence of trouble). An open, published incident that
  names the component sets it too: a manual incident's value wins while it is open (the
  spec's "the manual value wins"), an automatic incident's only when it is worse (its
  values follow the monitors anyway). A component without monitors takes its status
  from open incidents, else `operational`.
- **Critical**: a component is critical when one of its monitors is critical.
  `overall` follows DESIGN.md: a critical component down (partial or major outage) is
  `down`, any other trouble `degraded`. `indicator` follows the Statuspage spec.
- **Days**: 90 UTC days, oldest first, today last. A component's day is its worst
  monitor's: the least uptime and the most downtime (Flip maths from
  services.queries.downtime: maintenance, pauses and unknown time are not counted).
  `uptime_pct` is None on a day without counted time.
- **Cost** (a 1,000-monitor page, 90 days): monitors and states come from one lean
  query (store.series.monitor_facts, no JSON columns); a day without a status change
  takes its figures from its length instead of `downtime`, and monitors without any
  change share one list of days, so a component works out each distinct history once.
  Response-time charts read every monitor's rollups with one query per component
  (`response_charts`), never one per monitor; the web layer keeps them a minute.
- **Monitors are internal.** `ComponentView.monitors` holds keys for the HTML's own use
  (response-time charts by code go through `response_times`); no public JSON may show
  them, nor an incident's `monitors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from upstate.config.pages import PlacedComponent, StatusPage
from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.incidents import Impact, Incident
from upstate.domain.maintenance import MaintenanceStatus, MaintenanceWindow, occurrence, status_at
from upstate.errors import NotFound, UsageError
from upstate.services import maintenance as maintenance_service
from upstate.services.queries import NOT_COUNTED, OverallStatus, downtime
from upstate.store import changes as change_store
from upstate.store import incidents as incident_store
from upstate.store import monitors as monitor_store
from upstate.store import rollups, states
from upstate.store import series as bulk
from upstate.store.db import Db

DAYS = 90
RESPONSE_WINDOWS: dict[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RECENT_INCIDENTS = 50


class Indicator(StrEnum):
    """Statuspage's `status.indicator`."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"

    @property
    def description(self) -> str:
        """Statuspage's `status.description` for this indicator."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Indicator.NONE: "All Systems Operational",
    Indicator.MINOR: "Minor Service Outage",
    Indicator.MAJOR: "Partial System Outage",
    Indicator.CRITICAL: "Major Service Outage",
    Indicator.MAINTENANCE: "Service Under Maintenance",
}

# Worst last: a component takes the worst of what says something about it.
_SEVERITY = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
_OUTAGES = frozenset((ComponentStatus.PARTIAL_OUTAGE, ComponentStatus.MAJOR_OUTAGE))


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    """The most severe of some component statuses (`operational` when there are none)."""
    return max(statuses, key=_SEVERITY.__getitem__, default=ComponentStatus.OPERATIONAL)


# --- the view --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """An incident as a day bar names it: enough for a tooltip and a link."""

    id: str
    title: str
    impact: Impact


@dataclass(frozen=True, slots=True)
class DayView:
    """One UTC day of a component: uptime (None without data), downtime, incidents."""

    date: date
    uptime_pct: float | None
    downtime_s: float
    incidents: tuple[IncidentRef, ...]


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A component as the page shows it.

    `code` is "<slug>.<key>" (the Statuspage `id`); `group` the group's name or None;
    `monitors` the keys behind it, for internal use only (never in public JSON);
    `days` the last 90 UTC days, oldest first; `uptime_pct` over those days.
    """

    code: str
    name: str
    description: str | None
    group: str | None
    position: int  # 1-based, page order
    status: ComponentStatus
    critical: bool
    monitors: tuple[str, ...]
    days: tuple[DayView, ...]
    uptime_pct: float | None
    created_at: datetime | None  # its first monitor's creation; None without monitors
    updated_at: datetime | None  # when its status last changed, as far as is known

    @property
    def has_monitors(self) -> bool:
        return bool(self.monitors)


@dataclass(frozen=True, slots=True)
class GroupView:
    """Components shown together; `name` None for those above the groups."""

    name: str | None
    description: str | None
    components: tuple[ComponentView, ...]

    @property
    def status(self) -> ComponentStatus:
        return worst(c.status for c in self.components)


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A maintenance window as a page shows it; `starts_at`/`ends_at` are the current or
    next occurrence (None for a completed window). `components` are the codes on this page
    that its monitors back."""

    id: str
    title: str
    description: str | None
    status: MaintenanceStatus
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    components: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PageView:
    """What a status page shows at `generated_at`.

    `overall` is DESIGN.md's operational/degraded/down; `indicator` Statuspage's. `groups`
    hold every component in page order (the ungrouped ones first, in a GroupView named
    None when there are any); `components` is the same, flat. `active_incidents` are the
    page's open, published incidents, newest first (domain Incidents: never show their
    `monitors` publicly). `updated_at` is the latest moment anything shown changed.
    """

    slug: str
    title: str
    description: str | None
    overall: OverallStatus
    indicator: Indicator
    generated_at: datetime
    updated_at: datetime
    groups: tuple[GroupView, ...]
    components: tuple[ComponentView, ...]
    active_incidents: tuple[Incident, ...]
    upcoming_maintenance: tuple[MaintenanceView, ...]
    active_maintenance: tuple[MaintenanceView, ...]

    @property
    def status_description(self) -> str:
        return self.indicator.description

    def component(self, code: str) -> ComponentView | None:
        return next((c for c in self.components if c.code == code), None)


@dataclass(frozen=True, slots=True)
class ResponsePoint:
    """One bucket of a response-time chart (ms; None when no answer was timed)."""

    at: datetime
    avg_ms: float | None
    p95_ms: float | None


# --- building it -----------------------------------------------------------------------------


async def page_view(
    session: Db,
    page: StatusPage,
    now: datetime,
    *,
    windows: Sequence[MaintenanceWindow] | None = None,
) -> PageView:
    """The page as it stands at `now`. `windows` are the maintenance windows (loaded from
    the store when not given)."""
    placed = page.placed_components()
    keys = {key for p in placed for key in p.component.monitors}
    records = {r.key: r for r in await bulk.monitor_facts(session) if r.key in keys}
    ids = {record.id: key for key, record in records.items()}
    first_day = _day_start(now) - timedelta(days=DAYS - 1)
    timelines = await _timelines(session, list(ids), first_day, now)
    incidents = await _incidents_since(session, page.slug, first_day)
    open_incidents = tuple(i for i in incidents if i.is_open)
    if windows is None:
        windows = await maintenance_service.load_windows(session)

    statuses: dict[str, Status] = {}
    critical: dict[str, bool] = {}
    since: dict[str, datetime] = {}
    for key, record in records.items():
        statuses[key] = record.status or (Status.PAUSED if record.paused else Status.UNKNOWN)
        critical[key] = record.critical
        if record.since is not None:
            since[key] = record.since
    day_starts = [first_day + timedelta(days=n) for n in range(DAYS)]
    # Monitors without a change in the window share one list per status, so a component
    # works out each distinct history once (see _component).
    steady: dict[Status, list[tuple[float, float]]] = {}
    monitor_days: dict[str, list[tuple[float, float]]] = {}
    for monitor_id, (at_start, changes) in timelines.items():
        if changes:
            monitor_days[ids[monitor_id]] = _monitor_days(at_start, changes, day_starts, now)
            continue
        shared = steady.get(at_start)
        if shared is None:
            shared = steady[at_start] = _monitor_days(at_start, [], day_starts, now)
        monitor_days[ids[monitor_id]] = shared

    views = []
    for position, item in enumerate(placed, start=1):
        mine = tuple(k for k in item.component.monitors if k in records)
        views.append(
            _component(
                item,
                position,
                mine,
                statuses=statuses,
                critical=any(critical[k] for k in mine),
                since=[since[k] for k in mine if k in since],
                created=[records[k].created_at for k in mine],
                days=[monitor_days[k] for k in mine],
                day_starts=day_starts,
                incidents=incidents,
                open_incidents=open_incidents,
                now=now,
            )
        )
    components = tuple(views)
    maintenance = _maintenance_views(windows, placed, now)
    return PageView(
        slug=page.slug,
        title=page.title,
        description=page.description,
        overall=overall_of(components),
        indicator=indicator_of(components),
        generated_at=now,
        updated_at=_updated_at(components, incidents, now),
        groups=_groups(page, components),
        components=components,
        active_incidents=open_incidents,
        upcoming_maintenance=tuple(
            m for m in maintenance if m.status is MaintenanceStatus.SCHEDULED
        ),
        active_maintenance=tuple(m for m in maintenance if m.status.is_active),
    )


def component_status(monitors: Sequence[Status]) -> ComponentStatus | None:
    """The Statuspage status its monitors give a component; None without monitors."""
    if not monitors:
        return None
    down = sum(status is Status.DOWN for status in monitors)
    if down == len(monitors):
        return ComponentStatus.MAJOR_OUTAGE
    if down:
        return ComponentStatus.PARTIAL_OUTAGE
    if Status.DEGRADED in monitors:
        return ComponentStatus.DEGRADED_PERFORMANCE
    if Status.MAINTENANCE in monitors:
        return ComponentStatus.UNDER_MAINTENANCE
    return ComponentStatus.OPERATIONAL


def with_incidents(
    code: str, from_monitors: ComponentStatus | None, open_incidents: Iterable[Incident]
) -> ComponentStatus:
    """A manual open incident's value wins; an automatic one's only when worse."""
    manual = [i.components[code] for i in open_incidents if not i.auto and code in i.components]
    if manual:
        return worst(manual)
    automatic = [i.components[code] for i in open_incidents if i.auto and code in i.components]
    return worst([from_monitors or ComponentStatus.OPERATIONAL, *automatic])


def overall_of(components: Iterable[ComponentView]) -> OverallStatus:
    """DESIGN.md: a critical component down is `down`; any other trouble `degraded`."""
    result = OverallStatus.OPERATIONAL
    for component in components:
        if component.status in _OUTAGES and component.critical:
            return OverallStatus.DOWN
        if component.status in _OUTAGES or component.status is (
            ComponentStatus.DEGRADED_PERFORMANCE
        ):
            result = OverallStatus.DEGRADED
    return result


def indicator_of(components: Sequence[ComponentView]) -> Indicator:
    """The Statuspage spec's mapping from component statuses to `status.indicator`."""
    if any(c.critical and c.status is ComponentStatus.MAJOR_OUTAGE for c in components):
        return Indicator.CRITICAL
    if any(
        c.status is ComponentStatus.MAJOR_OUTAGE
        or (c.critical and c.status is ComponentStatus.PARTIAL_OUTAGE)
        for c in components
    ):
        return Indicator.MAJOR
    troubled = [c.status for c in components if c.status is not ComponentStatus.OPERATIONAL]
    if not troubled:
        return Indicator.NONE
    if all(s is ComponentStatus.UNDER_MAINTENANCE for s in troubled):
        return Indicator.MAINTENANCE
    return Indicator.MINOR


def _component(
    item: PlacedComponent,
    position: int,
    monitors: tuple[str, ...],
    *,
    statuses: Mapping[str, Status],
    critical: bool,
    since: list[datetime],
    created: list[datetime],
    days: list[list[tuple[float, float]]],
    day_starts: list[datetime],
    incidents: Sequence[Incident],
    open_incidents: Sequence[Incident],
    now: datetime,
) -> ComponentView:
    code = item.code
    status = with_incidents(code, component_status([statuses[k] for k in monitors]), open_incidents)
    touching = [i for i in incidents if code in i.components or set(monitors) & set(i.monitors)]
    # The worst of identical histories is any of them: monitors sharing a list (no change
    # in the window, same status) count once.
    days = list({id(d): d for d in days}.values())
    day_views = []
    for index, start in enumerate(day_starts):
        end = start + _DAY
        per_monitor = [d[index] for d in days]
        refs = (
            tuple(
                IncidentRef(i.id, i.title, i.impact)
                for i in touching
                if i.started_at < end and (i.resolved_at or now) >= start
            )
            if touching
            else ()
        )
        day_views.append(
            DayView(
                date=start.date(),
                uptime_pct=_least_uptime(per_monitor),
                downtime_s=round(max((down for down, _ in per_monitor), default=0.0), 3),
                incidents=refs,
            )
        )
    totals = [(sum(down for down, _ in d), sum(counted for _, counted in d)) for d in days]
    changed = [*since, *(_last_touch(i, code) for i in touching)]
    return ComponentView(
        code=code,
        name=item.component.name,
        description=item.component.description,
        group=item.group,
        position=position,
        status=status,
        critical=critical,
        monitors=monitors,
        days=tuple(day_views),
        uptime_pct=_least_uptime(totals),
        created_at=min(created, default=None),
        updated_at=max((t for t in changed if t is not None), default=None),
    )


def _least_uptime(figures: Iterable[tuple[float, float]]) -> float | None:
    """The least uptime percentage among (down_s, counted_s) pairs with counted time."""
    percents = [100.0 * (counted - down) / counted for down, counted in figures if counted > 0]
    return round(min(percents), 4) if percents else None


def _last_touch(incident: Incident, code: str) -> datetime | None:
    moments = [u.at for u in incident.updates if any(c.code == code for c in u.affected_components)]
    return max(moments, default=None)


def _groups(page: StatusPage, components: tuple[ComponentView, ...]) -> tuple[GroupView, ...]:
    groups = []
    ungrouped = tuple(c for c in components if c.group is None)
    if ungrouped:
        groups.append(GroupView(None, None, ungrouped))
    index = len(ungrouped)
    for group in page.groups:
        count = len(group.components)
        groups.append(GroupView(group.name, group.description, components[index : index + count]))
        index += count
    return tuple(groups)


def _updated_at(
    components: Iterable[ComponentView], incidents: Iterable[Incident], now: datetime
) -> datetime:
    """The latest change shown; the start of today when nothing is known (stable across
    renders, so the body and its ETag only change when something shown does)."""
    moments = [c.updated_at for c in components if c.updated_at is not None]
    moments += [u.at for i in incidents for u in i.updates]
    return max(moments, default=_day_start(now))


def _day_start(at: datetime) -> datetime:
    return datetime.combine(at.astimezone(UTC).date(), time(), tzinfo=UTC)


# --- timelines: every monitor's changes over the 90 days, in two queries ----------------------

_Timeline = tuple[Status, list[tuple[datetime, Status]]]


async def _timelines(
    session: Db, monitor_ids: list[int], since: datetime, until: datetime
) -> dict[int, _Timeline]:
    """Per monitor: the status in force at `since` and the changes in [since, until)."""
    before = await change_store.status_before_many(session, monitor_ids, since)
    inside = await change_store.changes_between_many(session, monitor_ids, since, until)
    return {m: (before.get(m, Status.UNKNOWN), inside.get(m, [])) for m in monitor_ids}


def _monitor_days(
    at_start: Status,
    changes: list[tuple[datetime, Status]],
    day_starts: list[datetime],
    now: datetime,
) -> list[tuple[float, float]]:
    """(down_s, counted_s) for each day, walking the changes once.

    A day without a change is one segment of the status in force: its figures come
    straight from its length (`_steady`); only days holding a change go through
    `downtime`. Both give the same floats (see tests/services/test_pages_days.py).
    """
    figures = []
    status, index, count = at_start, 0, len(changes)
    for start in day_starts:
        end = min(start + _DAY, now)
        if index == count or changes[index][0] >= end:
            figures.append(_steady(status, start, end))
            continue
        inside = []
        while index < count and changes[index][0] < end:
            inside.append(changes[index])
            index += 1
        outcome = downtime(status, inside, start, end)
        figures.append((outcome.down_s, outcome.counted_s))
        status = inside[-1][1]
    return figures


def _steady(status: Status, start: datetime, end: datetime) -> tuple[float, float]:
    """`downtime(status, [], start, end)` as (down_s, counted_s), without the walk."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return 0.0, 0.0
    return (seconds if status is Status.DOWN else 0.0), (0.0 if status in NOT_COUNTED else seconds)


_DAY = timedelta(days=1)


# --- incidents and maintenance ---------------------------------------------------------------


async def _incidents_since(session: Db, slug: str, since: datetime) -> tuple[Incident, ...]:
    """The page's published incidents started since `since`, and every open one; newest first."""
    recent = await incident_store.list_incidents(
        session, page=slug, include_drafts=False, started_since=since, limit=incident_store.MAX_LIST
    )
    still_open = await incident_store.list_incidents(
        session, page=slug, include_drafts=False, open_only=True, limit=incident_store.MAX_LIST
    )
    found = {i.id: i for i in (*recent, *still_open)}
    return tuple(sorted(found.values(), key=lambda i: i.started_at, reverse=True))


async def maintenance_history(
    session: Db, page: StatusPage, now: datetime, limit: int = RECENT_INCIDENTS
) -> list[MaintenanceView]:
    """The page's maintenance windows, completed ones too, latest start first."""
    windows = await maintenance_service.load_windows(session)
    views = _maintenance_views(windows, page.placed_components(), now, completed=True)
    return sorted(views, key=lambda v: v.starts_at or v.created_at, reverse=True)[:limit]


def _maintenance_views(
    windows: Iterable[MaintenanceWindow],
    placed: Sequence[PlacedComponent],
    now: datetime,
    *,
    completed: bool = False,
) -> list[MaintenanceView]:
    """Windows touching a monitor on the page, soonest first; completed ones only if asked."""
    views = []
    for window in windows:
        codes = tuple(p.code for p in placed if set(p.component.monitors) & set(window.monitors))
        if not codes:
            continue
        status = status_at(window, now)
        if status is MaintenanceStatus.COMPLETED and not completed:
            continue
        span = occurrence(window, now)
        if span is None and not window.recurring:
            span = (window.first, window.ends)  # completed: when it was
        views.append(
            MaintenanceView(
                id=window.key,
                title=window.title,
                description=window.description,
                status=status,
                starts_at=span[0] if span else None,
                ends_at=span[1] if span else None,
                created_at=window.created_at,
                components=codes,
            )
        )
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(views, key=lambda v: v.starts_at or far)


# --- response times, history, one incident -----------------------------------------------------


async def response_times(
    session: Db, page: StatusPage, code: str, window: str, now: datetime
) -> list[ResponsePoint]:
    """A component's response times: hourly points over 24h and 7d, daily over 30d.

    With several monitors, each bucket's average is over all their timed answers and its
    p95 is the worst monitor's. Raises NotFound for a code not on the page, UsageError
    for an unknown window.
    """
    placed = next((p for p in page.placed_components() if p.code == code), None)
    if placed is None:
        _window_span(window)
        raise NotFound(f"no component {code!r} on this page")
    return (await _charts(session, [placed], window, now)).get(code, [])


async def response_charts(
    session: Db, page: StatusPage, window: str, now: datetime
) -> dict[str, list[ResponsePoint]]:
    """Every component's response times (see `response_times`) by code, in one query for
    the whole page; components without monitors are left out. UsageError for an unknown
    window."""
    placed = [p for p in page.placed_components() if p.component.monitors]
    return await _charts(session, placed, window, now)


def _window_span(window: str) -> timedelta:
    span = RESPONSE_WINDOWS.get(window)
    if span is None:
        raise UsageError(f"unknown window {window!r}: use one of {', '.join(RESPONSE_WINDOWS)}")
    return span


async def _charts(
    session: Db, placed: Sequence[PlacedComponent], window: str, now: datetime
) -> dict[str, list[ResponsePoint]]:
    span = _window_span(window)
    keys = {key for p in placed for key in p.component.monitors}
    ids = {m.key: m.id for m in await bulk.monitor_facts(session) if m.key in keys}
    period = rollups.Period.DAY if window == "30d" else rollups.Period.HOUR
    charts = {}
    for item in placed:
        # One query per component: each is a few ms of rows, and the loop runs in between.
        wanted = [ids[key] for key in item.component.monitors if key in ids]
        series = await bulk.series_many(session, wanted, period, now - span, now)
        # Per bucket: (timed answers, their latency sum, the worst monitor's p95).
        buckets: dict[datetime, list[Any]] = {}
        for key in item.component.monitors:
            monitor_id = ids.get(key)
            for point in series.get(monitor_id, ()) if monitor_id is not None else ():
                rollup = point.rollup
                sums = buckets.get(point.bucket_start)
                if sums is None:
                    sums = buckets[point.bucket_start] = [0, 0.0, None]
                sums[0] += rollup.latency_count
                sums[1] += rollup.latency_sum
                p95 = rollup.quantile(0.95)
                if p95 is not None and (sums[2] is None or p95 > sums[2]):
                    sums[2] = p95
        charts[item.code] = [
            ResponsePoint(at, _round(total / count if count else None), _round(p95))
            for at, (count, total, p95) in sorted(buckets.items())
        ]
    return charts


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def history(session: Db, page: StatusPage, month: date) -> list[Incident]:
    """The page's published incidents started in `month` (any day of it), newest first."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return await incident_store.list_incidents(
        session,
        page=page.slug,
        include_drafts=False,
        started_since=start,
        started_before=end,
        limit=incident_store.MAX_LIST,
    )


async def recent_incidents(
    session: Db, page: StatusPage, limit: int = RECENT_INCIDENTS
) -> list[Incident]:
    """The page's latest published incidents, newest first (Statuspage's incidents.json)."""
    return await incident_store.list_incidents(
        session, page=page.slug, include_drafts=False, limit=limit
    )


async def incident_view(session: Db, page: StatusPage, incident_id: str) -> Incident:
    """One published incident of the page; NotFound for a draft, another page's or none."""
    incident = await incident_store.get(session, incident_id)
    if incident is None or incident.draft or page.slug not in incident.pages:
        raise NotFound("no such incident on this page")
    return incident


async def monitor_status(session: Db, key: str) -> Status:
    """A monitor's current status (for badges); UNKNOWN when not stored or never checked."""
    record = await monitor_store.get_by_key(session, key)
    if record is None:
        return Status.UNKNOWN
    state = await states.get_state(session, record.id)
    if state is None:
        return Status.PAUSED if record.paused else Status.UNKNOWN
    return state.status
