"""The notifier on a real database: what status changes, incidents and time write to the outbox.

Changes go through services.results.write_batch with the notifier as its hook, exactly as
the result writer does it, so each test also shows the rows land in that transaction.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select

from tests.fixtures.db import TestDatabase
from upstate.config.loader import load_config_text
from upstate.config.models import UpstateConfig
from upstate.domain.enums import ComponentStatus, Status
from upstate.domain.incidents import (
    AffectedComponent,
    Impact,
    IncidentStatus,
    IncidentUpdate,
    new_incident,
)
from upstate.domain.status import MonitorState
from upstate.notify.events import Event, EventKind
from upstate.services import subscribers
from upstate.services.monitors import sync_config
from upstate.services.notifier import Notifier, NotifyConfig
from upstate.services.results import Batch, StateUpdate, write_batch
from upstate.services.secrets import SecretBox
from upstate.store import incidents as incident_store
from upstate.store import monitors as monitor_store
from upstate.store.changes import StatusChange as ChangeRow
from upstate.store.tables import outbox

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)

CONFIG = """
monitors:
  - {key: db, kind: tcp, host: 127.0.0.1, port: 5, critical: true}
  - {key: api, kind: tcp, host: 127.0.0.1, port: 6, depends_on: [db], tags: [web]}
  - {key: batch, kind: tcp, host: 127.0.0.1, port: 7, tags: [jobs]}
notifications:
  channels:
    - {key: ops, kind: webhook, url: "http://127.0.0.1:9/ops"}
    - {key: jobs, kind: webhook, url: "http://127.0.0.1:9/jobs"}
  routes:
    - {match: {tags: [jobs]}, channels: [jobs], remind_every: 10m}
    - {channels: [ops]}
status_pages:
  - slug: main
    title: Main
    auto_incidents: publish
    components:
      - {name: Database, monitors: [db]}
      - {name: API, monitors: [api]}
"""


class States:
    """The engine's view of every monitor, as the notifier reads it."""

    def __init__(self) -> None:
        self.by_key: dict[str, MonitorState] = {}

    def set(self, key: str, status: Status, **kw: Any) -> None:
        self.by_key[key] = MonitorState(status=status, since=NOW, underlying=status, **kw)

    def __call__(self) -> dict[str, MonitorState]:
        return dict(self.by_key)


async def _setup(db: TestDatabase, text: str = CONFIG) -> tuple[Notifier, States, dict[str, int]]:
    config: UpstateConfig = load_config_text(text)
    box = SecretBox([Fernet.generate_key()])
    async with db.sessions() as session:
        await sync_config(session, config, secrets=box, now=NOW)
        await session.commit()
        ids = {r.key: r.id for r in await monitor_store.list_all(session)}
    states = States()
    for key in ids:
        states.set(key, Status.UP)
    woken: list[int] = []
    notifier = Notifier(
        NotifyConfig.from_config(config), states=states, wake=lambda: woken.append(1)
    )
    return notifier, states, ids


async def _change(
    db: TestDatabase,
    notifier: Notifier,
    states: States,
    monitor_id: int,
    key: str,
    previous: Status,
    status: Status,
    at: datetime,
    flapping: bool = False,
) -> None:
    states.set(key, status, flapping=flapping)
    change = ChangeRow(monitor_id, previous, status, at, f"{key} went {status}", flapping)
    state = StateUpdate(monitor_id, states.by_key[key], at)
    await write_batch(
        db.sessions, Batch(states=[state], changes=[change]), now=at, on_changes=notifier.on_changes
    )


async def _rows(db: TestDatabase) -> list[tuple[str, str, Event]]:
    async with db.sessions() as session:
        found = await session.execute(select(outbox).order_by(outbox.c.id))
        return [(r.target, r.kind, Event.from_dict(r.event)) for r in found]


async def test_a_monitor_going_down_then_up_tells_its_route_once_each(db: TestDatabase) -> None:
    notifier, states, ids = await _setup(db)
    await _change(db, notifier, states, ids["batch"], "batch", Status.UP, Status.DOWN, NOW)
    await _change(
        db, notifier, states, ids["batch"], "batch", Status.DOWN, Status.DOWN, NOW
    )  # a repeated change (a second region) says nothing new
    later = NOW + timedelta(minutes=3)
    await _change(db, notifier, states, ids["batch"], "batch", Status.DOWN, Status.UP, later)
    rows = await _rows(db)
    assert [(t, k) for t, k, _ in rows] == [("jobs", "monitor.down"), ("jobs", "monitor.up")]
    down = rows[0][2]
    assert down.monitor is not None
    assert down.monitor.key == "batch"
    assert down.monitor.previous_status is Status.UP
    assert down.idempotency_key.startswith("change:")
    assert down.idempotency_key.endswith("/jobs")


async def test_a_child_of_a_down_parent_stays_silent_and_joins_the_parents_incident(
    db: TestDatabase,
) -> None:
    notifier, states, ids = await _setup(db)
    await _change(db, notifier, states, ids["db"], "db", Status.UP, Status.DOWN, NOW)
    await _change(db, notifier, states, ids["api"], "api", Status.UP, Status.DOWN, NOW)
    rows = await _rows(db)
    assert [(t, k) for t, k, _ in rows] == [("ops", "monitor.down")]
    assert rows[0][2].monitor is not None
    assert rows[0][2].monitor.key == "db"
    async with db.sessions() as session:
        incidents = await incident_store.list_incidents(session)
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident.monitors == ("db", "api")
    assert incident.pages == ("main",)
    assert incident.impact is Impact.MAJOR
    assert not incident.draft
    assert incident.components == {
        "main.database": ComponentStatus.MAJOR_OUTAGE,
        "main.api": ComponentStatus.MAJOR_OUTAGE,
    }

    # The parent recovers, the child is still down: the held-back alert goes out now.
    later = NOW + timedelta(minutes=1)
    await _change(db, notifier, states, ids["db"], "db", Status.DOWN, Status.UP, later)
    async with db.sessions() as session:
        await notifier.sweep(session, later)
        await session.commit()
    rows = await _rows(db)
    assert [(t, k, e.monitor.key if e.monitor else None) for t, k, e in rows] == [
        ("ops", "monitor.down", "db"),
        ("ops", "monitor.up", "db"),
        ("ops", "monitor.down", "api"),
    ]
    # Both recover: the automatic incident resolves.
    await _change(db, notifier, states, ids["api"], "api", Status.DOWN, Status.UP, later)
    async with db.sessions() as session:
        incident = await incident_store.get(session, incident.id)
    assert incident is not None
    assert incident.status is IncidentStatus.RESOLVED


async def test_reminders_come_once_per_period_and_a_sweep_twice_adds_nothing(
    db: TestDatabase,
) -> None:
    notifier, states, ids = await _setup(db)
    await _change(db, notifier, states, ids["batch"], "batch", Status.UP, Status.DOWN, NOW)
    for minutes in (5, 11, 11, 12):
        async with db.sessions() as session:
            await notifier.sweep(session, NOW + timedelta(minutes=minutes))
            await session.commit()
    kinds = [k for _, k, _ in await _rows(db)]
    assert kinds == ["monitor.down", "monitor.reminder"]


async def test_flapping_says_so_once(db: TestDatabase) -> None:
    notifier, states, ids = await _setup(db)
    m = ids["batch"]
    at = NOW
    await _change(db, notifier, states, m, "batch", Status.UP, Status.DOWN, at, flapping=True)
    for n in range(4):
        at += timedelta(seconds=30)
        previous, status = (Status.DOWN, Status.UP) if n % 2 == 0 else (Status.UP, Status.DOWN)
        await _change(db, notifier, states, m, "batch", previous, status, at, flapping=True)
    assert [k for _, k, _ in await _rows(db)] == ["monitor.flapping"]


async def test_a_manual_incident_reaches_its_channels_unless_a_draft(db: TestDatabase) -> None:
    notifier, _states, _ids = await _setup(db)
    first = IncidentUpdate(IncidentStatus.INVESTIGATING, "Looking", NOW)
    draft = new_incident("draft1", "Slow API", Impact.MINOR, first, draft=True, pages=("main",))
    published = replace(
        new_incident("pub1", "Slow API", Impact.MINOR, first, pages=("main",)),
        components={"main.api": ComponentStatus.DEGRADED_PERFORMANCE},
    )
    async with db.sessions() as session:
        await notifier.incident_changed(session, draft, EventKind.INCIDENT_OPENED, NOW)
        await notifier.incident_changed(session, published, EventKind.INCIDENT_OPENED, NOW)
        await notifier.incident_changed(session, published, EventKind.INCIDENT_OPENED, NOW)
        await session.commit()
    rows = await _rows(db)
    assert [(t, k) for t, k, _ in rows] == [("ops", "incident.opened")]
    event = rows[0][2]
    assert event.incident is not None
    assert event.incident.id == "pub1"
    assert event.links[0].href == "/s/main/incidents/pub1"


async def test_subscribers_hear_published_incidents_of_what_they_follow(db: TestDatabase) -> None:
    notifier, _states, _ids = await _setup(db)
    config = load_config_text(CONFIG)
    box = SecretBox([Fernet.generate_key()])
    async with db.sessions() as session:
        follows = {}
        for name, components in (("all", []), ("api", ["main.api"]), ("db", ["main.database"])):
            found = await subscribers.subscribe(
                session, "main", "email", f"{name}@example.com", components,
                config=config, secrets=box, now=NOW, base_url="http://upstate.test",
                confirmed=True,
            )  # fmt: skip
            follows[name] = found.id
        await session.commit()
    first = IncidentUpdate(
        IncidentStatus.IDENTIFIED,
        "Rolling back",
        NOW,
        (
            AffectedComponent(
                "main.api", "API", ComponentStatus.OPERATIONAL, ComponentStatus.PARTIAL_OUTAGE
            ),
        ),
    )
    incident = new_incident("inc1", "API errors", Impact.MAJOR, first, pages=("main",))
    async with db.sessions() as session:
        await notifier.incident_changed(session, incident, EventKind.INCIDENT_OPENED, NOW)
        await session.commit()
    targets = {t for t, _, _ in await _rows(db)}
    assert targets == {"ops", f"subscriber:{follows['all']}", f"subscriber:{follows['api']}"}


async def test_a_mass_outage_costs_each_change_what_it_touches_not_every_monitor(
    db: TestDatabase,
) -> None:
    """300 monitors down in one flush while the engine knows 50,000: each change must not
    walk every monitor's state."""
    keys = [f"m{i}" for i in range(300)]
    text = "monitors:\n" + "".join(
        f"  - {{key: {k}, kind: tcp, host: 127.0.0.1, port: 9}}\n" for k in keys
    )
    text += """notifications:
  channels: [{key: ops, kind: webhook, url: "http://127.0.0.1:9/ops"}]
status_pages:
  - {slug: main, title: Main, auto_incidents: publish, components: [{name: All, monitors: [m0]}]}
"""
    notifier, states, ids = await _setup(db, text)
    for n in range(50_000):
        states.set(f"ghost-{n}", Status.UP)
    changes = []
    for key in keys:
        states.set(key, Status.DOWN)
        changes.append(ChangeRow(ids[key], Status.UP, Status.DOWN, NOW, "refused"))
    started = time.perf_counter()
    await write_batch(db.sessions, Batch(changes=changes), now=NOW, on_changes=notifier.on_changes)
    elapsed = time.perf_counter() - started
    rows = await _rows(db)
    assert len([k for _, k, _ in rows if k == "monitor.down"]) == 300
    # ~0.3 s here; walking every state at each change took ~3 s.
    assert elapsed < 1.5, f"{elapsed:.2f} s for 300 changes"
