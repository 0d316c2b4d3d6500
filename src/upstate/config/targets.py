"""Target URLs as `upstate check` takes them, turned into probe specs.

http(s)://host/path               an HTTP check
tcp://host:port[?send=..&expect=..]
dns://name?type=MX&server=IP[:port]
icmp://host[?count=3]
tls://host[:port][?sni=name]
statuspage+https://status.example.com[?components=Auth,API*]
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from upstate.domain.specs import (
    DEFAULT_TIMEOUT_S,
    DnsSpec,
    HttpSpec,
    IcmpSpec,
    ProbeSpec,
    StatuspageSpec,
    TcpSpec,
    TlsSpec,
)
from upstate.errors import UsageError

DNS_RECORDS = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "CAA")
_SCHEMES = "http, https, tcp, dns, icmp, tls, statuspage+https"


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _host_port(text: str, default_port: int | None, target: str) -> tuple[str, int]:
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{target}: invalid port") from exc
    if not parts.hostname:
        raise UsageError(f"{target}: a host is needed")
    if port is None:
        if default_port is None:
            raise UsageError(f"{target}: a port is needed, e.g. tcp://host:5432")
        port = default_port
    return parts.hostname, port


def parse_target(
    target: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    method: str = "GET",
    headers: tuple[tuple[str, str], ...] = (),
    insecure: bool = False,
) -> ProbeSpec:
    """The probe spec a target URL asks for; raises UsageError naming what is wrong."""
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query)
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise UsageError(f"{target}: a host is needed")
        return HttpSpec(
            url=target,
            method=method.upper(),
            headers=headers,
            tls_verify=not insecure,
            timeout_s=timeout_s,
        )
    if scheme == "tcp":
        host, port = _host_port(parts.netloc, None, target)
        send = _one(query, "send")
        return TcpSpec(
            host=host,
            port=port,
            send=send.encode() if send is not None else None,
            expect=_one(query, "expect"),
            timeout_s=timeout_s,
        )
    if scheme == "dns":
        name = parts.netloc or parts.path.lstrip("/")
        if not name:
            raise UsageError(f"{target}: a name is needed, e.g. dns://example.com?type=MX")
        record = (_one(query, "type") or "A").upper()
        if record not in DNS_RECORDS:
            raise UsageError(f"{target}: record type must be one of {' '.join(DNS_RECORDS)}")
        server = _one(query, "server")
        nameserver, port = (None, 53)
        if server:
            nameserver, port = _host_port(server, 53, target)
        return DnsSpec(
            name=name,
            record=record,
            nameserver=nameserver,
            port=port,
            transport=_one(query, "transport") or "udp",
            timeout_s=timeout_s,
        )
    if scheme == "icmp":
        if not parts.hostname:
            raise UsageError(f"{target}: a host is needed")
        count = _one(query, "count") or "3"
        if not count.isdigit() or not 1 <= int(count) <= 100:
            raise UsageError(f"{target}: count must be a whole number from 1 to 100")
        return IcmpSpec(host=parts.hostname, count=int(count), timeout_s=timeout_s)
    if scheme == "tls":
        host, port = _host_port(parts.netloc, 443, target)
        return TlsSpec(host=host, port=port, server_name=_one(query, "sni"), timeout_s=timeout_s)
    if scheme == "statuspage+https":
        filters = tuple(f for f in (_one(query, "components") or "").split(",") if f)
        base = parts._replace(scheme="https", query="").geturl()
        return StatuspageSpec(url=base, components=filters, timeout_s=timeout_s)
    raise UsageError(f"{target}: unknown scheme {parts.scheme!r}; use one of {_SCHEMES}")
