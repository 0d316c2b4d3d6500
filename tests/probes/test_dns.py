from __future__ import annotations

import time

import pytest

from tests.targets.dns import BIG_TXT, SOA, DnsTarget
from tests.targets.tcp import free_port
from upstate.domain.enums import ErrorKind, MonitorKind
from upstate.domain.specs import DnsSpec
from upstate.probes import dns
from upstate.probes.base import ProbeContext, is_ip_literal

CTX = ProbeContext(region="test")


def spec(target: DnsTarget, name: str, record: str = "A", **kwargs: object) -> DnsSpec:
    return DnsSpec(name, record, nameserver=target.host, port=target.port, **kwargs)  # type: ignore[arg-type]


async def test_it_asks_the_nameserver_for_an_a_record(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "example.test"), CTX)
    assert obs.error is None
    assert obs.kind is MonitorKind.DNS
    assert obs.target == "example.test"
    assert obs.dns is not None
    assert obs.dns.rcode == "NOERROR"
    assert obs.dns.record == "A"
    assert obs.dns.answers == ("203.0.113.10",)
    assert obs.dns.nameserver == f"127.0.0.1:{dns_target.port}"
    assert obs.body == b"203.0.113.10"
    assert obs.ip == "127.0.0.1"
    assert obs.connected
    assert obs.phases.dns is not None
    assert obs.duration_ms >= obs.phases.dns


@pytest.mark.parametrize(
    ("name", "record", "answers"),
    [
        ("example.test", "AAAA", ("2001:db8::10",)),
        ("example.test", "MX", ("10 mail.example.test.", "20 backup.example.test.")),
        ("example.test", "TXT", ('"v=spf1 -all"',)),
        ("example.test", "NS", ("ns1.example.test.",)),
        ("example.test", "SOA", (SOA,)),
        ("example.test", "CAA", ('0 issue "letsencrypt.org"',)),
        ("www.example.test", "CNAME", ("example.test.",)),
        ("www.example.test", "A", ("203.0.113.10",)),  # the CNAME is followed, not listed
        ("example.test", "mx", ("10 mail.example.test.", "20 backup.example.test.")),
    ],
)
async def test_it_gives_answers_in_text_form(
    dns_target: DnsTarget, name: str, record: str, answers: tuple[str, ...]
) -> None:
    obs = await dns.run(spec(dns_target, name, record), CTX)
    assert obs.error is None
    assert obs.dns is not None
    assert obs.dns.record == record.upper()
    assert obs.dns.answers == answers
    assert obs.body == "\n".join(answers).encode()


async def test_it_records_nxdomain_as_an_answer_not_an_error(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "nope.example.test"), CTX)
    assert obs.error is None
    assert obs.dns is not None
    assert obs.dns.rcode == "NXDOMAIN"
    assert obs.dns.answers == ()
    assert obs.body == b""


async def test_it_retries_a_truncated_answer_over_tcp(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "big.example.test", "TXT"), CTX)
    assert obs.error is None
    assert obs.dns is not None
    assert obs.dns.answers == tuple(sorted(BIG_TXT))
    assert dns_target.asked("big.example.test.")[-2:] == ["udp", "tcp"]


async def test_it_asks_over_tcp_when_told(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "ns-tcp.example.test", "A", transport="tcp"), CTX)
    assert obs.error is None
    assert obs.dns is not None
    assert obs.dns.rcode == "NXDOMAIN"
    assert dns_target.asked("ns-tcp.example.test.") == ["tcp"]


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_it_times_out_within_the_deadline(dns_target: DnsTarget, transport: str) -> None:
    began = time.perf_counter()
    obs = await dns.run(
        spec(dns_target, "silent.example.test", timeout_s=0.3, transport=transport), CTX
    )
    elapsed = time.perf_counter() - began
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.TIMEOUT
    assert obs.error.message == "query: timed out after 0.3s"
    assert obs.dns is None
    assert not obs.connected
    assert 0.29 <= elapsed < 0.4  # uvloop timers run to the millisecond


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_it_reports_a_refused_nameserver_at_once(transport: str) -> None:
    refused = DnsSpec(
        "example.test", nameserver="127.0.0.1", port=free_port(), transport=transport, timeout_s=2
    )
    began = time.perf_counter()
    obs = await dns.run(refused, CTX)
    assert time.perf_counter() - began < 1
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.CONNECTION_REFUSED


async def test_it_reports_a_malformed_answer(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "garbled.example.test", timeout_s=2), CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message.startswith("malformed answer")


async def test_it_resolves_a_nameserver_given_by_name(dns_target: DnsTarget) -> None:
    by_name = DnsSpec("example.test", nameserver="localhost", port=dns_target.port)
    obs = await dns.run(by_name, CTX)
    assert obs.error is None
    assert obs.ip == "127.0.0.1"


async def test_it_records_a_question_it_cannot_ask(dns_target: DnsTarget) -> None:
    obs = await dns.run(spec(dns_target, "example.test", "NOSUCHTYPE"), CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message.startswith("cannot ask")


def test_it_reads_the_default_nameserver_without_asking_it() -> None:
    assert is_ip_literal(dns.default_nameserver())
