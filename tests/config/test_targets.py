import pytest

from upstate.config.targets import parse_target
from upstate.domain.specs import DnsSpec, HttpSpec, IcmpSpec, StatuspageSpec, TcpSpec, TlsSpec
from upstate.errors import UsageError


def test_it_reads_an_http_target_with_options() -> None:
    spec = parse_target(
        "https://example.com/health",
        timeout_s=2,
        method="head",
        headers=(("Accept", "text/plain"),),
        insecure=True,
    )
    assert spec == HttpSpec(
        url="https://example.com/health",
        method="HEAD",
        headers=(("Accept", "text/plain"),),
        tls_verify=False,
        timeout_s=2,
    )


def test_it_reads_a_tcp_target() -> None:
    spec = parse_target("tcp://db.internal:5432?send=PING&expect=PONG")
    assert spec == TcpSpec(host="db.internal", port=5432, send=b"PING", expect="PONG")


def test_it_reads_a_dns_target_with_a_server_and_port() -> None:
    spec = parse_target("dns://example.com?type=mx&server=127.0.0.1:5353")
    assert spec == DnsSpec(name="example.com", record="MX", nameserver="127.0.0.1", port=5353)


def test_it_reads_a_dns_target_with_an_ipv6_server() -> None:
    spec = parse_target("dns://example.com?server=[::1]:53")
    assert isinstance(spec, DnsSpec)
    assert spec.nameserver == "::1"


def test_it_reads_icmp_tls_and_statuspage_targets() -> None:
    assert parse_target("icmp://127.0.0.1?count=5") == IcmpSpec(host="127.0.0.1", count=5)
    assert parse_target("tls://example.com") == TlsSpec(host="example.com", port=443)
    assert parse_target("statuspage+https://status.example.com?components=Auth,API*") == (
        StatuspageSpec(url="https://status.example.com", components=("Auth", "API*"))
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("ftp://example.com", "unknown scheme 'ftp'"),
        ("tcp://example.com", "a port is needed"),
        ("tcp://example.com:99999", "invalid port"),
        ("dns://example.com?type=WKS", "record type must be one of"),
        ("dns://", "a name is needed"),
        ("icmp://host?count=0", "count must be a whole number"),
        ("https://", "a host is needed"),
    ],
)
def test_it_names_what_is_wrong_with_a_target(target: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_target(target)
