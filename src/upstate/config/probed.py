"""The probe kinds' monitors (http, tcp, dns, icmp, tls, statuspage) and their probe specs.

Each model turns itself into the frozen domain spec its probe reads (`probe_spec()`);
secrets leave their SecretStr wrapper only there, on the way to the probe.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, model_validator

from upstate.config.fields import (
    ConfigModel,
    HeaderName,
    Host,
    Int,
    Port,
    Regex,
    Size,
    Text,
    Url,
    check_host,
)
from upstate.config.monitors import Probed
from upstate.domain.enums import IpFamily, MonitorKind
from upstate.domain.specs import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REDIRECTS,
    DnsSpec,
    HttpSpec,
    IcmpSpec,
    StatuspageSpec,
    TcpSpec,
    TlsSpec,
)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DNS_RECORDS = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA")


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _ip_family(value: Any) -> Any:
    """`4` and `6` (as Gatus and Uptime Kuma users write them) mean ipv4 and ipv6."""
    if isinstance(value, int | str) and not isinstance(value, bool):
        return {"4": "ipv4", "6": "ipv6"}.get(str(value), value)
    return value


def _cert_path(value: Any) -> Any:
    """`client_cert: file.pem` is short for `client_cert: {cert: file.pem}`."""
    return {"cert": value} if isinstance(value, str) else value


def split_nameserver(text: str) -> tuple[str, int | None]:
    """`IP`, `name`, either with `:port`, or `[IPv6]:port` -> (host, port or None).

    Raises ValueError with a message naming the accepted forms.
    """
    forms = "expected an IP address or host name, optionally with :port, or [IPv6]:port"
    host, port = text.strip(), None
    if host.startswith("["):
        inside, sep, rest = host[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"invalid nameserver {text!r}: {forms}")
        host, port = inside, _port_of(text, rest[1:]) if rest else None
    elif host.count(":") == 1:
        host, port_text = host.split(":")
        port = _port_of(text, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if ":" in host or text.strip().startswith("["):
            raise ValueError(f"invalid nameserver {text!r}: {forms}") from None
        try:
            check_host(host)
        except ValueError:
            raise ValueError(f"invalid nameserver {text!r}: {forms}") from None
    return host, port


def _port_of(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"invalid nameserver {text!r}: the port must be 1..65535")
    return int(port_text)


def _nameserver(value: str) -> str:
    split_nameserver(value)
    return value


Method = Annotated[Literal[HTTP_METHODS], BeforeValidator(_upper)]  # type: ignore[valid-type]
Record = Annotated[Literal[DNS_RECORDS], BeforeValidator(_upper)]  # type: ignore[valid-type]
Family = Annotated[IpFamily, BeforeValidator(_ip_family)]
Nameserver = Annotated[str, AfterValidator(_nameserver)]


class BasicAuth(ConfigModel):
    what: ClassVar[str] = "basic auth"
    username: str
    password: SecretStr


class HttpAuth(ConfigModel):
    """Exactly one of `basic: {username, password}` or `bearer: <token>`."""

    what: ClassVar[str] = "http auth"
    basic: BasicAuth | None = None
    bearer: SecretStr | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> HttpAuth:
        if (self.basic is None) == (self.bearer is None):
            raise ValueError("give exactly one of basic or bearer")
        return self


class ClientCert(ConfigModel):
    what: ClassVar[str] = "client_cert"
    cert: Text  # PEM file with the certificate (and the key, when `key` is not given)
    key: Text | None = None


class HttpMonitor(Probed):
    what: ClassVar[str] = "http monitors"
    kind: Literal[MonitorKind.HTTP] = MonitorKind.HTTP
    url: Url
    method: Method = "GET"
    headers: dict[HeaderName, SecretStr] = Field(default_factory=dict)  # may carry API keys
    body: str | None = None
    auth: HttpAuth | None = None
    follow_redirects: bool = True
    max_redirects: Annotated[Int, Field(ge=0, le=50)] = DEFAULT_MAX_REDIRECTS
    tls_verify: bool = True
    ca_file: Text | None = None
    client_cert: Annotated[ClientCert | None, BeforeValidator(_cert_path)] = None
    ip_family: Family = IpFamily.ANY
    max_body: Size = DEFAULT_MAX_BODY

    def probe_spec(self) -> HttpSpec:
        basic = self.auth.basic if self.auth else None
        bearer = self.auth.bearer if self.auth else None
        return HttpSpec(
            url=self.url,
            method=self.method,
            headers=tuple((k, v.get_secret_value()) for k, v in self.headers.items()),
            body=self.body.encode() if self.body is not None else None,
            basic_auth=(basic.username, basic.password.get_secret_value()) if basic else None,
            bearer_token=bearer.get_secret_value() if bearer else None,
            follow_redirects=self.follow_redirects,
            max_redirects=self.max_redirects,
            tls_verify=self.tls_verify,
            ca_file=self.ca_file,
            client_cert=self.client_cert.cert if self.client_cert else None,
            client_key=self.client_cert.key if self.client_cert else None,
            ip_family=self.ip_family,
            timeout_s=self.timeout,
            max_body=self.max_body,
        )


class TcpMonitor(Probed):
    what: ClassVar[str] = "tcp monitors"
    kind: Literal[MonitorKind.TCP] = MonitorKind.TCP
    host: Host
    port: Port
    send: str | None = None  # sent after connecting ("PING\r\n" in double quotes)
    expect: Regex | None = None  # searched in what the server answers
    ip_family: Family = IpFamily.ANY

    def probe_spec(self) -> TcpSpec:
        return TcpSpec(
            host=self.host,
            port=self.port,
            send=self.send.encode() if self.send is not None else None,
            expect=self.expect,
            ip_family=self.ip_family,
            timeout_s=self.timeout,
        )


class DnsMonitor(Probed):
    """`name` is the name queried here (as in `dig`); the display name is `title` or the key."""

    what: ClassVar[str] = "dns monitors"
    kind: Literal[MonitorKind.DNS] = MonitorKind.DNS
    name: Text = Field(alias="title")
    query: Host = Field(alias="name")
    record: Record = "A"
    nameserver: Nameserver | None = None  # IP or name[:port], [IPv6]:port; default: resolv.conf
    port: Port | None = None  # 53, unless the nameserver names a port
    transport: Literal["udp", "tcp"] = "udp"

    def probe_spec(self) -> DnsSpec:
        nameserver, port = split_nameserver(self.nameserver) if self.nameserver else (None, None)
        return DnsSpec(
            name=self.query,
            record=self.record,
            nameserver=nameserver,
            port=self.port or port or 53,
            transport=self.transport,
            timeout_s=self.timeout,
        )


class IcmpMonitor(Probed):
    what: ClassVar[str] = "icmp monitors"
    kind: Literal[MonitorKind.ICMP] = MonitorKind.ICMP
    host: Host
    count: Annotated[Int, Field(ge=1, le=100)] = 3
    ip_family: Family = IpFamily.ANY

    def probe_spec(self) -> IcmpSpec:
        return IcmpSpec(
            host=self.host, count=self.count, ip_family=self.ip_family, timeout_s=self.timeout
        )


class TlsMonitor(Probed):
    what: ClassVar[str] = "tls monitors"
    kind: Literal[MonitorKind.TLS] = MonitorKind.TLS
    host: Host
    port: Port = 443
    server_name: Host | None = None  # SNI and the name checked; defaults to host
    ca_file: Text | None = None
    ip_family: Family = IpFamily.ANY

    def probe_spec(self) -> TlsSpec:
        return TlsSpec(
            host=self.host,
            port=self.port,
            server_name=self.server_name,
            ca_file=self.ca_file,
            ip_family=self.ip_family,
            timeout_s=self.timeout,
        )


class StatuspageMonitor(Probed):
    what: ClassVar[str] = "statuspage monitors"
    kind: Literal[MonitorKind.STATUSPAGE] = MonitorKind.STATUSPAGE
    url: Url  # the page's base URL; /api/v2/summary.json is appended
    components: tuple[Text, ...] = ()  # glob filters on component names; empty: all
    provider: Text | None = None  # the board's upstream card: who it is (else the host)
    provider_region: Text | None = None  # and which of their regions matters here
    tls_verify: bool = True
    ca_file: Text | None = None

    def probe_spec(self) -> StatuspageSpec:
        return StatuspageSpec(
            url=self.url,
            components=self.components,
            tls_verify=self.tls_verify,
            ca_file=self.ca_file,
            timeout_s=self.timeout,
        )
