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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from upstate.config.models import UpstateConfig
from upstate.config.notifications import Channel
from upstate.config.pages import StatusPage
from upstate.domain.incidents import Incident
from upstate.domain.maintenance import MaintenanceNotice
from upstate.domain.routing import MonitorFacts, RouteLike
from upstate.domain.status import MonitorState
from upstate.notify.events import EventKind
from upstate.store.changes import StatusChange as ChangeRow


@dataclass(frozen=True)
class NotifyConfig:
    """What the notifier reads from the config: swapped whole on every reload."""

    channels: Mapping[str, Channel] = field(default_factory=dict)
    routes: tuple[RouteLike, ...] = ()
    default: RouteLike | None = None  # every channel when the config has no routes
    pages: tuple[StatusPage, ...] = ()
    facts: Mapping[str, MonitorFacts] = field(default_factory=dict)  # by monitor key

    @classmethod
    def from_config(cls, config: UpstateConfig | None) -> NotifyConfig:
        raise NotImplementedError


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        *,
        states: Callable[[], Mapping[str, MonitorState]],
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        """`states()` gives every monitor's current state by key (the engine's); `wake()`
        tells the delivery loop that rows were committed (call it after the commit)."""
        self.config = config
        self._states = states
        self.wake = wake

    async def on_changes(
        self, session: AsyncSession, changes: Sequence[tuple[int, ChangeRow]], now: datetime
    ) -> None:
        """The result writer's hook, inside its transaction: (status change id, row)."""
        raise NotImplementedError

    async def incident_changed(
        self, session: AsyncSession, incident: Incident, kind: EventKind, now: datetime
    ) -> None:
        """An incident was opened, updated or resolved (by a person or automatically):
        queue its event for the channels and subscribers that hear about it. Call inside
        the transaction that saved it, with the incident as saved (its last update is
        the one told)."""
        raise NotImplementedError

    async def maintenance_notice(
        self, session: AsyncSession, notice: MaintenanceNotice, now: datetime
    ) -> None:
        """A maintenance window was scheduled, is an hour away, started or completed."""
        raise NotImplementedError

    async def sweep(self, session: AsyncSession, now: datetime) -> None:
        """What the passing of time owes: reminders, alerts held back while a parent was
        down or a monitor flapped, automatic incidents whose monitors all settled."""
        raise NotImplementedError
