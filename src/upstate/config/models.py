"""The root of a monitors-as-code file, and the sections that have no module of their own.

Sections are validated one by one by the loader (so one mistake never hides another);
UpstateConfig is assembled from the validated parts.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, SecretStr

from upstate.config.fields import ConfigModel, Count, Duration, Fraction, Interval, Key, Text, Url
from upstate.config.maintenance import Maintenance
from upstate.config.monitors import CompositeMonitor, HostMonitor, MonitorBase, PushMonitor
from upstate.config.notifications import Notifications
from upstate.config.pages import StatusPage
from upstate.config.probed import (
    DnsMonitor,
    HttpMonitor,
    IcmpMonitor,
    StatuspageMonitor,
    TcpMonitor,
    TlsMonitor,
)
from upstate.domain.enums import MonitorKind

Monitor = Annotated[
    HttpMonitor
    | TcpMonitor
    | DnsMonitor
    | IcmpMonitor
    | TlsMonitor
    | PushMonitor
    | StatuspageMonitor
    | HostMonitor
    | CompositeMonitor,
    Field(discriminator="kind"),
]

MONITOR_MODELS: dict[MonitorKind, type[MonitorBase]] = {
    MonitorKind.HTTP: HttpMonitor,
    MonitorKind.TCP: TcpMonitor,
    MonitorKind.DNS: DnsMonitor,
    MonitorKind.ICMP: IcmpMonitor,
    MonitorKind.TLS: TlsMonitor,
    MonitorKind.PUSH: PushMonitor,
    MonitorKind.STATUSPAGE: StatuspageMonitor,
    MonitorKind.HOST: HostMonitor,
    MonitorKind.COMPOSITE: CompositeMonitor,
}


class Defaults(ConfigModel):
    """Values every monitor takes unless it sets its own (only where its kind has the field)."""

    what: ClassVar[str] = "defaults"
    interval: Interval | None = None
    timeout: Duration | None = None
    failure_threshold: Count | None = None
    success_threshold: Count | None = None
    regions: Annotated[tuple[Key, ...], Field(min_length=1)] | None = None
    quorum: Fraction | None = None
    flap_changes: Count | None = None
    flap_window: Duration | None = None


class Board(ConfigModel):
    """The one-host live board (`/board`, `/api/status`)."""

    what: ClassVar[str] = "board"
    cache_ttl: Duration = 4.0  # at most one collection burst per this
    heartbeat: Duration = 10.0  # push a snapshot to ingest_url this often
    manifest: Text | None = None  # version.json: components.<key>.build
    ingest_url: Url | None = None
    ingest_secret: SecretStr | None = None
    # What it shows: these monitors ("all": every one), or by default those on a public
    # status page (the board is public: a monitor on no public page is private).
    monitors: tuple[Key, ...] | Literal["all"] | None = None


class Retention(ConfigModel):
    what: ClassVar[str] = "retention"
    results: Duration = 30 * 86400.0  # raw check results; rollups are kept longer


class UpstateConfig(ConfigModel):
    """A validated config file, with `defaults` already merged into each monitor."""

    what: ClassVar[str] = "the top level"
    defaults: Defaults = Field(default_factory=Defaults)
    monitors: tuple[Monitor, ...] = ()
    notifications: Notifications = Field(default_factory=Notifications)
    maintenance: tuple[Maintenance, ...] = ()
    status_pages: tuple[StatusPage, ...] = ()
    board: Board = Field(default_factory=Board)
    retention: Retention = Field(default_factory=Retention)

    def monitor(self, key: str) -> Monitor | None:
        return next((m for m in self.monitors if m.key == key), None)
