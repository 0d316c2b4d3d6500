"""What a probe is asked to do: one frozen spec per probe kind.

The config loader and the CLI build these; probes read them. Timeouts are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from upstate.domain.enums import IpFamily, MonitorKind

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_REDIRECTS = 10


@dataclass(frozen=True, slots=True)
class HttpSpec:
    url: str
    method: str = "GET"
    # Credentials may ride in these three; repr=False keeps them out of logs and tracebacks.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    body: bytes | None = None
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)
    follow_redirects: bool = True
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    tls_verify: bool = True
    ca_file: str | None = None  # extra trust anchors (PEM), added to the system ones
    client_cert: str | None = None  # PEM file with the certificate (and key, if no client_key)
    client_key: str | None = None
    ip_family: IpFamily = IpFamily.ANY
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body: int = DEFAULT_MAX_BODY
    kind: MonitorKind = MonitorKind.HTTP


@dataclass(frozen=True, slots=True)
class TcpSpec:
    host: str
    port: int
    send: bytes | None = None
    expect: str | None = None  # a regex searched in the banner
    ip_family: IpFamily = IpFamily.ANY
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_banner: int = 64 * 1024
    kind: MonitorKind = MonitorKind.TCP


@dataclass(frozen=True, slots=True)
class DnsSpec:
    name: str
    record: str = "A"  # A AAAA CNAME MX TXT NS SOA CAA
    nameserver: str | None = None  # None: the first nameserver of /etc/resolv.conf
    port: int = 53
    transport: str = "udp"  # udp | tcp
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: MonitorKind = MonitorKind.DNS


@dataclass(frozen=True, slots=True)
class IcmpSpec:
    host: str
    count: int = 3
    interval_s: float = 0.2
    ip_family: IpFamily = IpFamily.ANY
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: MonitorKind = MonitorKind.ICMP


@dataclass(frozen=True, slots=True)
class TlsSpec:
    host: str
    port: int = 443
    server_name: str | None = None  # SNI and the name checked; defaults to host
    ca_file: str | None = None
    ip_family: IpFamily = IpFamily.ANY
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: MonitorKind = MonitorKind.TLS


@dataclass(frozen=True, slots=True)
class StatuspageSpec:
    url: str  # the page's base URL; /api/v2/summary.json is appended
    components: tuple[str, ...] = ()  # glob filters on component (and group) names; empty: all
    tls_verify: bool = True
    ca_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body: int = 4 * 1024 * 1024
    kind: MonitorKind = MonitorKind.STATUSPAGE


ProbeSpec = HttpSpec | TcpSpec | DnsSpec | IcmpSpec | TlsSpec | StatuspageSpec
