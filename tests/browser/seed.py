"""A small, believable status page world, written to a real database through the store.

Used by the HTML route tests and the browser tests: three pages (public "main", password
"team", and "docs" on its own domain), six monitors with 60 days of history, an open
incident with two updates, a resolved one last month, scheduled maintenance, and hourly
response times over the last day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from upstate.config.models import UpstateConfig
from upstate.config.pages import StatusPage
from upstate.domain.enums import ComponentStatus, MonitorKind, Status
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    Incident,
    IncidentStatus,
    IncidentUpdate,
)
from upstate.domain.maintenance import MaintenanceWindow
from upstate.store import changes, monitors, rollups, states
from upstate.store import incidents as incident_store
from upstate.store import maintenance as maintenance_store
from upstate.store.changes import StatusChange
from upstate.store.monitors import MonitorDraft, MonitorSource
from upstate.store.results import ResultRow
from upstate.store.states import StateRecord

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
DOMAIN = "status.example.com"
MONITORS = ("web", "api", "db", "cdn", "search", "mail")

MAIN = {
    "slug": "main",
    "title": "Acme Cloud",
    "description": "Live status of Acme Cloud services.",
    "components": [{"name": "Website", "monitors": ["web"]}],
    "groups": [
        {
            "name": "Platform",
            "components": [
                {"name": "API", "monitors": ["api"], "description": "REST and GraphQL"},
                {"name": "Database", "monitors": ["db"]},
                {"name": "Search", "monitors": ["search"]},
            ],
        },
        {
            "name": "Edge",
            "components": [
                {"name": "CDN", "monitors": ["cdn"]},
                {"name": "Email delivery", "monitors": ["mail"]},
                {"name": "Support desk"},
            ],
        },
    ],
}


def pages() -> tuple[StatusPage, ...]:
    main = StatusPage.model_validate(MAIN)
    team = StatusPage.model_validate(
        {
            "slug": "team",
            "title": "Team status",
            "access": "password",
            "password": PASSWORD,
            "components": [{"name": "Build farm", "monitors": ["db"]}],
        }
    )
    docs = StatusPage.model_validate(
        {
            "slug": "docs",
            "title": "Docs status",
            "domain": DOMAIN,
            "accent": "#fde047",  # too light for text on white: must be darkened
            "theme": "dark",
            "language": "fr",
            "components": [{"name": "Docs site", "monitors": ["web"]}],
        }
    )
    return (main, team, docs)


def config(extra: tuple[StatusPage, ...] = ()) -> UpstateConfig:
    return UpstateConfig(status_pages=pages() + extra)


def open_incident(now: datetime = NOW) -> Incident:
    started = now - timedelta(minutes=50)
    affected = AffectedComponent(
        "main.api", "API", ComponentStatus.OPERATIONAL, ComponentStatus.PARTIAL_OUTAGE
    )
    return Incident(
        id="inc-open",
        title="Elevated API error rates",
        status=IncidentStatus.IDENTIFIED,
        impact=Impact.MAJOR,
        started_at=started,
        components={"main.api": ComponentStatus.PARTIAL_OUTAGE},
        pages=("main",),
        updates=(
            IncidentUpdate(
                IncidentStatus.INVESTIGATING,
                "We are seeing **5xx errors** on a part of API requests.",
                started,
                (affected,),
            ),
            IncidentUpdate(
                IncidentStatus.IDENTIFIED,
                "A bad deploy of the gateway. Rolling back now.",
                started + timedelta(minutes=20),
            ),
        ),
    )


def resolved_incident(now: datetime = NOW) -> Incident:
    started = now - timedelta(days=20, hours=3)
    return Incident(
        id="inc-old",
        title="Database failover",
        status=IncidentStatus.RESOLVED,
        impact=Impact.MINOR,
        started_at=started,
        resolved_at=started + timedelta(hours=2),
        pages=("main",),
        components={"main.database": ComponentStatus.OPERATIONAL},
        updates=(
            IncidentUpdate(IncidentStatus.INVESTIGATING, "Primary is unreachable.", started),
            IncidentUpdate(
                IncidentStatus.RESOLVED,
                "Failover complete; all queries served.",
                started + timedelta(hours=2),
            ),
        ),
    )


async def seed(session: AsyncSession, now: datetime = NOW, *, many: int = 0) -> None:
    """The world above (committed by the caller). `many` adds monitors m1..m<many>."""
    keys = MONITORS + tuple(f"m{i}" for i in range(1, many + 1))
    ids = {}
    for key in keys:
        record = await monitors.upsert(
            session,
            MonitorDraft(
                key=key,
                name=key.title(),
                kind=MonitorKind.HTTP,
                source=MonitorSource.CONFIG,
                definition={"url": f"https://{key}.internal.example/health"},
                interval_s=30.0,
                critical=key in ("api", "db"),
            ),
            now=now - timedelta(days=70),
        )
        ids[key] = record.id
    start = now - timedelta(days=60)
    for monitor_id in ids.values():
        await changes.add(session, StatusChange(monitor_id, Status.UNKNOWN, Status.UP, start, "t"))
    outages = {
        "db": [(20, 3, 120)],  # days ago, hour of day, minutes down
        "api": [(5, 9, 40), (33, 14, 15)],
        "cdn": [(12, 2, 8)],
        "search": [(2, 22, 180)],
    }
    for key, rows in outages.items():
        for days_ago, hour, minutes in rows:
            down = (now - timedelta(days=days_ago)).replace(hour=hour, minute=0)
            up = down + timedelta(minutes=minutes)
            await changes.add(session, StatusChange(ids[key], Status.UP, Status.DOWN, down, "t"))
            await changes.add(session, StatusChange(ids[key], Status.DOWN, Status.UP, up, "t"))
    for key, monitor_id in ids.items():
        status = Status.DEGRADED if key == "api" else Status.UP
        await states.put_state(
            session, StateRecord(monitor_id, status, now - timedelta(hours=1), now, {}, now)
        )
    await incident_store.insert_incident(session, open_incident(now), now)
    await incident_store.insert_incident(session, resolved_incident(now), now)
    window = MaintenanceWindow(
        key="db-upgrade",
        title="Database upgrade to PostgreSQL 17",
        monitors=("db",),
        created_at=now - timedelta(days=1),
        description="Writes may pause for up to a minute.",
        start=now + timedelta(days=2),
        end=now + timedelta(days=2, hours=1),
    )
    await maintenance_store.insert_window(
        session, window, maintenance_store.MaintenanceSource.API, now
    )
    rows = []
    for hour in range(24):
        at = now - timedelta(hours=hour, minutes=30)
        for key, base in (("web", 120.0), ("api", 210.0), ("db", 15.0)):
            wobble = (hour * 37 % 11) * base / 20
            rows.append(ResultRow(ids[key], "local", at, Status.UP, base + wobble))
    await rollups.apply(session, rows)


async def set_status(session: AsyncSession, key: str, status: Status, now: datetime) -> None:
    """A monitor's current state changes (what the engine would write)."""
    record = await monitors.get_by_key(session, key)
    assert record is not None
    await states.put_state(session, StateRecord(record.id, status, now, now, {}, now))
