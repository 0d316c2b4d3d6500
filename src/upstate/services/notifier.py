"""The notifier: turns status changes, incident moves and maintenance notices into outbox rows.

Every row is written in the transaction of the change that caused it (the result
writer's flush, an API request's transaction), so a change is never stored without its
notifications nor notified without being stored. The delivery loop sends them later.

Who hears what:
- Channels hear about monitors through `notifications.routes` (domain.routing: first
  match wins, reminders, depends_on suppression, one flapping notice). Automatic
  incidents are the public view of the same outage, so channels are not told about
  them a second time; incidents people open or update are told to the channels of the
  routes matching the monitors behind the incident (its own monitors, or those backing
  its components), or to the default route when none is known. Drafts are told to no one.
- Subscribers of a status page hear about its published incidents (opened, updated,
  resolved) when they follow all of the page or one of the incident's components, and
  about maintenance of the page's monitors (scheduled, reminder, started, completed).

Idempotency keys name the cause, never a time of writing: "change:<status change id>",
"incident:<id>:<update seq>", "maintenance:<id>:<notice key>", "reminder:<monitor>:<at>",
each followed by "/<target>".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config.models import UpstateConfig
from upstate.config.notifications import Channel
from upstate.config.pages import StatusPage
from upstate.domain.enums import MonitorKind, Status
from upstate.domain.incidents import (
    AutoAction,
    AutoDecision,
    AutoIncidents,
    ComponentRef,
    Incident,
    apply_decision,
    auto_mode,
    decide,
    settled_resolutions,
)
from upstate.domain.maintenance import MaintenanceNotice, MaintenanceWindow, NoticeKind
from upstate.domain.routing import (
    Alert,
    LastNotice,
    MonitorFacts,
    Route,
    RouteLike,
    down_parents,
    match_route,
    reminders_due,
    route,
)
from upstate.domain.status import MonitorState, StatusChange
from upstate.notify.events import (
    Event,
    EventIncident,
    EventKind,
    EventMaintenance,
    EventMonitor,
    EventObservation,
    Link,
)
from upstate.services import subscribers
from upstate.store import incidents as incident_store
from upstate.store import monitors as monitor_store
from upstate.store import notices as notice_store
from upstate.store import outbox
from upstate.store import results as result_store
from upstate.store.changes import StatusChange as ChangeRow
from upstate.store.db import IMMEDIATE, Db
from upstate.store.monitors import MonitorRecord
from upstate.store.outbox import NewNotification

logger = logging.getLogger(__name__)

_TOLD_TO_CHANNELS = frozenset({NoticeKind.STARTED, NoticeKind.COMPLETED})
_MAINTENANCE_EVENTS = {
    NoticeKind.SCHEDULED: EventKind.MAINTENANCE_SCHEDULED,
    NoticeKind.REMINDER: EventKind.MAINTENANCE_REMINDER,
    NoticeKind.STARTED: EventKind.MAINTENANCE_STARTED,
    NoticeKind.COMPLETED: EventKind.MAINTENANCE_COMPLETED,
}
_MAINTENANCE_STATUS = {
    NoticeKind.SCHEDULED: "scheduled",
    NoticeKind.REMINDER: "scheduled",
    NoticeKind.STARTED: "in_progress",
    NoticeKind.COMPLETED: "completed",
}
_WRONG = frozenset({"monitor.down", "monitor.reminder", "monitor.degraded", "monitor.flapping"})


@dataclass(frozen=True)
class NotifyConfig:
    """What the notifier reads from the config: swapped whole on every reload."""

    channels: Mapping[str, Channel] = field(default_factory=dict)
    routes: tuple[RouteLike, ...] = ()
    default: RouteLike | None = None  # every channel when the config has no routes
    pages: tuple[StatusPage, ...] = ()
    facts: Mapping[str, MonitorFacts] = field(default_factory=dict)  # by monitor key
    # Derived from the pages: the components each monitor backs, and where they are shown.
    components: Mapping[str, tuple[ComponentRef, ...]] = field(default_factory=dict)
    pages_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # monitor -> slugs
    backers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # code -> monitors
    auto_modes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # monitor -> modes

    @classmethod
    def from_config(cls, config: UpstateConfig | None) -> NotifyConfig:
        if config is None:
            return cls()
        channels = {channel.key: channel for channel in config.notifications.channels}
        routes = tuple(config.notifications.routes)
        default = None if routes else Route(channels=tuple(channels))
        facts = {
            m.key: MonitorFacts(
                key=m.key,
                name=m.name,
                kind=MonitorKind(m.kind),
                tags=tuple(m.tags),
                critical=m.critical,
                depends_on=tuple(m.depends_on),
            )
            for m in config.monitors
        }
        components: dict[str, list[ComponentRef]] = {}
        pages_of: dict[str, list[str]] = {}
        backers: dict[str, tuple[str, ...]] = {}
        modes: dict[str, list[str]] = {}
        for page in config.status_pages:
            for placed in page.placed_components():
                ref = ComponentRef(placed.code, placed.component.name)
                backers[placed.code] = tuple(placed.component.monitors)
                for key in placed.component.monitors:
                    components.setdefault(key, []).append(ref)
                    if page.slug not in pages_of.setdefault(key, []):
                        pages_of[key].append(page.slug)
                        modes.setdefault(key, []).append(page.auto_incidents)
        return cls(
            channels=channels,
            routes=routes,
            default=default,
            pages=tuple(config.status_pages),
            facts=facts,
            components={k: tuple(v) for k, v in components.items()},
            pages_of={k: tuple(v) for k, v in pages_of.items()},
            backers=backers,
            auto_modes={k: tuple(v) for k, v in modes.items()},
        )

    def channels_for(self, monitors: Iterable[str]) -> tuple[str, ...]:
        """The channels of the routes the monitors match (each once, in order); the
        default route's when no monitor is named."""
        chosen: dict[str, None] = {}
        keys = list(monitors)
        for key in keys:
            facts = self.facts.get(key) or MonitorFacts(key)
            matched = match_route(facts, self.routes, self.default)
            if matched is not None:
                chosen.update(dict.fromkeys(matched.channels))
        if not keys and self.default is not None:
            chosen.update(dict.fromkeys(self.default.channels))
        return tuple(c for c in chosen if c in self.channels)


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        *,
        states: Callable[[], Mapping[str, MonitorState]],
        wake: Callable[[], None] = lambda: None,
        base_url: str | None = None,
    ) -> None:
        """`states()` gives every monitor's current state by key (the engine's); `wake()`
        tells the delivery loop that rows were committed (call it after the commit)."""
        self.config = config
        self._states = states
        self.wake = wake
        self.base_url = base_url

    # --- status changes (the result writer's transaction) ------------------------------

    async def on_changes(
        self, session: Db, changes: Sequence[tuple[int, ChangeRow]], now: datetime
    ) -> None:
        """The result writer's hook, inside its transaction: (status change id, row).

        A bug here must not cost the results their write: anything but a database error
        is logged and that change's notifications are lost (the log says which)."""
        if not changes:
            return
        records = {
            r.id: r
            for r in await monitor_store.get_many(
                session, ids=[row.monitor_id for _, row in changes]
            )
        }
        memory = await notice_store.get_many(session, records)
        states = self._states()
        open_auto = await incident_store.list_incidents(session, open_only=True, auto=True)
        for change_id, row in changes:
            record = records.get(row.monitor_id)
            if record is None:
                continue
            try:
                await self._alert(session, change_id, row, record, memory, states)
                open_auto = await self._auto_incident(session, row, record, open_auto, states, now)
            except DBAPIError:
                raise
            except Exception:
                logger.exception(
                    "notifications of a status change lost monitor=%s change=%d",
                    record.key,
                    change_id,
                )

    async def _alert(
        self,
        session: Db,
        change_id: int,
        row: ChangeRow,
        record: MonitorRecord,
        memory: dict[int, LastNotice],
        states: Mapping[str, MonitorState],
    ) -> None:
        config = self.config
        facts = self._facts(record)
        state = states.get(record.key)
        # Only the parents' statuses matter here: a mass outage brings a thousand changes
        # in one flush, and each must not walk every monitor.
        statuses = {p: states[p].status for p in facts.depends_on if p in states}
        change = StatusChange(row.previous, row.status, row.at, row.reason, row.flapping)
        alerts = route(
            change,
            facts,
            config.routes,
            parents_down=bool(down_parents(facts, statuses)),
            last_notice=memory.get(record.id),
            in_maintenance=state.in_maintenance if state is not None else False,
            default=config.default,
        )
        if not alerts:
            return
        observation = await self._observation(session, record, row)
        await self._queue_alerts(
            session, alerts, f"change:{change_id}", record, row.previous, row.status, row.at,
            row.reason, observation,
        )  # fmt: skip
        notice = LastNotice(alerts[0].kind, row.at)
        memory[record.id] = notice
        await notice_store.put(session, record.id, notice)

    async def _queue_alerts(
        self,
        session: Db,
        alerts: Sequence[Alert],
        source: str,
        record: MonitorRecord,
        previous: Status | None,
        status: Status,
        at: datetime,
        reason: str | None,
        observation: EventObservation | None,
    ) -> None:
        event = Event(
            kind=EventKind(alerts[0].kind.value),  # one route, one kind: the same for all
            occurred_at=at,
            idempotency_key="",
            monitor=EventMonitor(record.key, record.name, status, previous),
            observation=observation,
            reason=reason or None,
            links=(Link(f"/api/v1/monitors/{record.key}", "Monitor"),),
        )
        channels = [a.channel for a in alerts if a.channel in self.config.channels]
        await _queue(session, event, source, channels, at)

    async def _observation(
        self, session: Db, record: MonitorRecord, row: ChangeRow
    ) -> EventObservation | None:
        if row.region is None:
            return None
        latest = await result_store.latest_per_region(session, record.id, [row.region])
        result = latest.get(row.region)
        if result is None:
            return None
        return EventObservation(
            status_code=result.status_code,
            error=result.error_message,
            duration_ms=round(result.duration_ms, 1),
        )

    def _facts(self, record: MonitorRecord) -> MonitorFacts:
        known = self.config.facts.get(record.key)
        if known is not None:
            return known
        return MonitorFacts(
            key=record.key,
            name=record.name,
            kind=record.kind,
            tags=record.tags,
            critical=record.critical,
            depends_on=tuple(record.definition.get("depends_on") or ()),
        )

    # --- automatic incidents -----------------------------------------------------------

    async def _auto_incident(
        self,
        session: Db,
        row: ChangeRow,
        record: MonitorRecord,
        open_auto: list[Incident],
        states: Mapping[str, MonitorState],
        now: datetime,
    ) -> list[Incident]:
        config = self.config
        mode = auto_mode(config.auto_modes.get(record.key, ()))
        if mode is AutoIncidents.OFF and not any(record.key in i.monitors for i in open_auto):
            return open_auto  # no page opens incidents for it, and it is in none
        facts = self._facts(record)
        change = StatusChange(row.previous, row.status, row.at, row.reason, row.flapping)
        relevant = self._relevant(record.key, facts, open_auto)
        decision = decide(
            record.key,
            change,
            incidents=open_auto,
            monitors=_With(config.facts, record.key, facts),
            components=config.components,
            states={key: states[key] for key in relevant if key in states},
            mode=mode,
        )
        return await self._apply(session, decision, open_auto, record.key, now)

    def _relevant(self, key: str, facts: MonitorFacts, open_auto: Sequence[Incident]) -> set[str]:
        """The monitors whose state a decision about `key` can read: it, its parents, the
        members of the open automatic incidents, and everything backing their components."""
        config = self.config
        members = {key, *facts.depends_on}
        for incident in open_auto:
            members.update(incident.monitors)
        relevant = set(members)
        for member in members:
            for ref in config.components.get(member, ()):
                relevant.update(config.backers.get(ref.code, ()))
        return relevant

    async def _apply(
        self,
        session: Db,
        decision: AutoDecision,
        open_auto: list[Incident],
        key: str | None,
        now: datetime,
    ) -> list[Incident]:
        if decision.action is AutoAction.NOTHING:
            return open_auto
        current = next((i for i in open_auto if i.id == decision.incident_id), None)
        if decision.action is AutoAction.OPEN:
            incident = apply_decision(decision, None, incident_store.new_id())
            assert incident is not None
            incident = replace(incident, pages=self.config.pages_of.get(key or "", ()))
            await incident_store.insert_incident(session, incident, now)
            kind = EventKind.INCIDENT_OPENED
        else:
            incident = apply_decision(decision, current)
            assert incident is not None
            await incident_store.save(session, incident, now)
            resolved = decision.action is AutoAction.RESOLVE
            kind = EventKind.INCIDENT_RESOLVED if resolved else EventKind.INCIDENT_UPDATED
        await self.incident_changed(session, incident, kind, now)
        kept = [i for i in open_auto if i.id != incident.id]
        return [*kept, incident] if incident.is_open else kept

    # --- incidents and maintenance (any transaction) -----------------------------------

    async def incident_changed(
        self, session: Db, incident: Incident, kind: EventKind, now: datetime
    ) -> None:
        """An incident was opened, updated or resolved (by a person or automatically):
        queue its event for the channels and subscribers that hear about it. Call inside
        the transaction that saved it, with the incident as saved (its last update is
        the one told). Drafts are told to no one."""
        if incident.draft or not incident.updates:
            return
        config = self.config
        last = incident.updates[-1]
        source = f"incident:{incident.id}:{len(incident.updates) - 1}:{kind.value}"
        page = incident.pages[0] if incident.pages else None
        links = (Link(f"/s/{page}/incidents/{incident.id}", "Incident page"),) if page else ()
        facts = EventIncident(
            incident.id, incident.title, incident.status.value, incident.impact.value
        )
        targets: list[str] = []
        if not incident.auto:  # channels heard about an automatic one as monitor alerts
            monitors = incident.monitors or tuple(
                dict.fromkeys(
                    m for code in incident.components for m in config.backers.get(code, ())
                )
            )
            targets.extend(config.channels_for(monitors))
        for slug in incident.pages:
            codes = [code for code in incident.components if code.startswith(f"{slug}.")]
            for subscriber_id in await subscribers.audience(session, slug, codes):
                targets.append(outbox.subscriber_target(subscriber_id))
        event = Event(kind, last.at, "", incident=facts, reason=last.body, links=links)
        await _queue(session, event, source, targets, now)

    async def maintenance_notice(
        self,
        session: Db,
        notice: MaintenanceNotice,
        now: datetime,
        *,
        window: MaintenanceWindow,
    ) -> None:
        """A maintenance window was scheduled, is an hour away, started or completed:
        subscribers of the pages showing its monitors hear all four; channels hear the
        start and the end (routed by the window's monitors)."""
        config = self.config
        kind = _MAINTENANCE_EVENTS[notice.kind]
        targets: list[str] = []
        if notice.kind in _TOLD_TO_CHANNELS:
            targets.extend(config.channels_for(window.monitors))
        pages: dict[str, list[str]] = {}
        for key in window.monitors:
            for ref in config.components.get(key, ()):
                pages.setdefault(ref.code.split(".", 1)[0], []).append(ref.code)
        for slug, codes in pages.items():
            for subscriber_id in await subscribers.audience(session, slug, codes):
                targets.append(outbox.subscriber_target(subscriber_id))
        facts = EventMaintenance(
            window.key, window.title, _MAINTENANCE_STATUS[notice.kind], notice.starts, notice.ends
        )
        event = Event(kind, notice.at, "", maintenance=facts, reason=window.description)
        await _queue(session, event, notice.key, targets, now)

    # --- the passing of time -----------------------------------------------------------

    async def sweep_committed(
        self, sessions: async_sessionmaker[AsyncSession], now: datetime
    ) -> None:
        """One sweep in its own IMMEDIATE transaction, then wake the delivery loop."""
        async with sessions() as session:
            await session.connection(execution_options=IMMEDIATE)
            await self.sweep(session, now)
            await session.commit()
        self.wake()

    async def sweep(self, session: Db, now: datetime) -> None:
        """What the passing of time owes: reminders, alerts held back while a parent was
        down or a monitor flapped, automatic incidents whose monitors all settled."""
        config = self.config
        states = self._states()
        memory = await notice_store.get_many(session)
        down = [key for key, s in states.items() if s.status is Status.DOWN]
        # Only monitors down now, or last said to be in trouble, can owe anything.
        said_wrong = [m for m, notice in memory.items() if notice.kind in _WRONG]
        records = await monitor_store.get_many(session, ids=said_wrong, keys=down)
        statuses = {key: s.status for key, s in states.items()}
        for record in records:
            state = states.get(record.key)
            if state is None:
                continue
            last = memory.get(record.id)
            if state.status is not Status.DOWN and (last is None or last.kind not in _WRONG):
                continue
            facts = self._facts(record)
            alerts = reminders_due(
                state,
                facts,
                config.routes,
                parents_down=bool(down_parents(facts, statuses)),
                last_notice=last,
                now=now,
                in_maintenance=state.in_maintenance,
                default=config.default,
            )
            if not alerts:
                continue
            said = f"{last.kind.value}@{last.at.isoformat()}" if last else "nothing"
            await self._queue_alerts(
                session, alerts, f"sweep:{record.id}:{alerts[0].kind.value}:{said}", record,
                None, state.status, now, state.reason or None, None,
            )  # fmt: skip
            notice = LastNotice(alerts[0].kind, now)
            memory[record.id] = notice
            await notice_store.put(session, record.id, notice)
        open_auto = await incident_store.list_incidents(session, open_only=True, auto=True)
        decisions = settled_resolutions(
            open_auto,
            monitors=config.facts,
            components=config.components,
            states=states,
            now=now,
        )
        for decision in decisions:
            open_auto = await self._apply(session, decision, open_auto, None, now)


async def _queue(
    session: Db, template: Event, source: str, targets: Iterable[str], now: datetime
) -> None:
    """One outbox row per target (each once), keyed "<source>/<target>"."""
    rows = []
    for target in dict.fromkeys(targets):
        key = f"{source}/{target}"
        event = replace(template, idempotency_key=key)
        rows.append(NewNotification(key, target, template.kind.value, event.to_dict()))
    await outbox.add_many(session, rows, now)


class _With(Mapping[str, MonitorFacts]):
    """`base` with one more entry, without copying it (a monitor created through the
    API is not in the config's facts)."""

    def __init__(self, base: Mapping[str, MonitorFacts], key: str, value: MonitorFacts) -> None:
        self._base, self._key, self._value = base, key, value

    def __getitem__(self, key: str) -> MonitorFacts:
        return self._value if key == self._key else self._base[key]

    def __iter__(self) -> Iterator[str]:
        yield self._key
        yield from (key for key in self._base if key != self._key)

    def __len__(self) -> int:
        return len(self._base) + (self._key not in self._base)
