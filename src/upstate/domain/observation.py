"""What one probe saw, once, from one region. Probes fill it; conditions judge it.

Observation and Phases are built once per check, thousands of times a second, so their
`__init__` is `frozen.quick_init`'s: the same signature and defaults as the dataclass's own,
at a fraction of the cost (see there). Everything else about them is plain frozen
dataclass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from upstate.domain.enums import ComponentStatus, ErrorKind, MonitorKind, TlsReason
from upstate.domain.frozen import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class Phases:
    """Milliseconds spent in each phase; None where the phase did not apply."""

    dns: float | None = None
    connect: float | None = None
    tls: float | None = None
    ttfb: float | None = None
    transfer: float | None = None


@dataclass(frozen=True, slots=True)
class ProbeError:
    kind: ErrorKind
    message: str
    reason: TlsReason | None = None  # only for ErrorKind.TLS_ERROR


@dataclass(frozen=True, slots=True)
class CertInfo:
    """Facts about the leaf certificate the server presented."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    san: tuple[str, ...] = ()
    serial: str = ""
    fingerprint_sha256: str = ""
    chain_valid: bool = False
    hostname_match: bool = False


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    rcode: str  # NOERROR, NXDOMAIN, SERVFAIL, ...
    record: str  # the record type asked for
    answers: tuple[str, ...] = ()
    nameserver: str = ""


@dataclass(frozen=True, slots=True)
class IcmpStats:
    sent: int
    received: int
    packet_loss: float  # percent, 0..100
    rtt_min: float | None = None
    rtt_avg: float | None = None
    rtt_max: float | None = None


@dataclass(frozen=True, slots=True)
class UpstreamComponent:
    name: str
    status: ComponentStatus


@dataclass(frozen=True, slots=True)
class UpstreamIncident:
    name: str
    status: str
    impact: str


@dataclass(frozen=True, slots=True)
class StatuspageFacts:
    """A third-party status page, narrowed to the components that matter."""

    indicator: str  # none | minor | major | critical | maintenance
    description: str
    components: tuple[UpstreamComponent, ...] = ()
    incidents: tuple[UpstreamIncident, ...] = ()
    status: ComponentStatus = ComponentStatus.OPERATIONAL  # the worst of `components`


@quick_init
@dataclass(frozen=True, slots=True)
class Observation:
    kind: MonitorKind
    target: str
    region: str
    started_at: datetime
    duration_ms: float
    phases: Phases = field(default_factory=Phases)
    status_code: int | None = None
    ip: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""  # a bounded sample
    body_truncated: bool = False
    cert: CertInfo | None = None
    error: ProbeError | None = None
    connected: bool = False
    redirects: tuple[str, ...] = ()  # every hop's URL after the first
    dns: DnsAnswer | None = None
    icmp: IcmpStats | None = None
    statuspage: StatuspageFacts | None = None
    loop_lag_ms: float | None = None
    tls_version: str | None = None  # negotiated protocol, e.g. "TLSv1.3"
    tls_cipher: str | None = None  # negotiated cipher suite, e.g. "TLS_AES_256_GCM_SHA384"

    def header(self, name: str) -> str | None:
        """The first value of a header, case-insensitively, or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_headers_dict(self) -> Mapping[str, str]:
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key.lower(), value)
        return out
