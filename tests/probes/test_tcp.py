from __future__ import annotations

import time
from pathlib import Path

from tests.targets.tcp import BANNER, TcpTargets
from upstate.domain.enums import ErrorKind, IpFamily, MonitorKind
from upstate.domain.specs import TcpSpec
from upstate.probes import tcp
from upstate.probes.base import ProbeContext

CTX = ProbeContext(region="test")


async def test_it_connects_to_an_open_port_without_reading(tcp_target: TcpTargets) -> None:
    obs = await tcp.run(TcpSpec("127.0.0.1", tcp_target.banner), CTX)
    assert obs.error is None
    assert obs.connected
    assert obs.kind is MonitorKind.TCP
    assert obs.target == f"127.0.0.1:{tcp_target.banner}"
    assert obs.region == "test"
    assert obs.ip == "127.0.0.1"
    assert obs.body == b""
    assert obs.phases.dns is None  # an IP literal needs no lookup
    assert obs.phases.connect is not None
    assert obs.phases.ttfb is None
    assert obs.duration_ms >= obs.phases.connect


async def test_it_times_the_lookup_of_a_name(tcp_target: TcpTargets) -> None:
    obs = await tcp.run(TcpSpec("localhost", tcp_target.banner, ip_family=IpFamily.IPV4), CTX)
    assert obs.error is None
    assert obs.phases.dns is not None
    assert obs.ip == "127.0.0.1"
    assert obs.target == f"localhost:{tcp_target.banner}"


async def test_it_reads_a_banner_that_matches(tcp_target: TcpTargets) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.banner, expect=r"^220 .*ESMTP", timeout_s=2)
    began = time.perf_counter()
    obs = await tcp.run(spec, CTX)
    assert time.perf_counter() - began < 1  # stops once matched, not at the deadline
    assert obs.error is None
    assert obs.body == BANNER
    assert obs.phases.ttfb is not None
    assert obs.phases.transfer is not None


async def test_it_fails_a_banner_that_does_not_match_at_the_deadline(
    tcp_target: TcpTargets,
) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.banner, expect="^SSH-", timeout_s=0.3)
    began = time.perf_counter()
    obs = await tcp.run(spec, CTX)
    elapsed = time.perf_counter() - began
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message == "banner did not match /^SSH-/"
    assert obs.body == BANNER
    assert obs.connected
    assert 0.29 <= elapsed < 0.4  # uvloop timers run to the millisecond


async def test_it_times_out_when_the_server_says_nothing(tcp_target: TcpTargets) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.silent, expect="220", timeout_s=0.3)
    began = time.perf_counter()
    obs = await tcp.run(spec, CTX)
    elapsed = time.perf_counter() - began
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.TIMEOUT
    assert obs.error.message.startswith("read: timed out")
    assert obs.connected
    assert obs.body == b""
    assert 0.29 <= elapsed < 0.4  # uvloop timers run to the millisecond
    assert obs.duration_ms < 400


async def test_it_reports_a_refused_port(tcp_target: TcpTargets) -> None:
    obs = await tcp.run(TcpSpec("127.0.0.1", tcp_target.refused, timeout_s=1), CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.CONNECTION_REFUSED
    assert not obs.connected
    assert obs.phases.connect is None


async def test_it_sends_and_reads_the_answer(tcp_target: TcpTargets) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.echo, send=b"PING\r\n", expect="^PING", timeout_s=2)
    obs = await tcp.run(spec, CTX)
    assert obs.error is None
    assert obs.body == b"PING\r\n"


async def test_it_takes_the_first_chunk_when_sending_without_expect(
    tcp_target: TcpTargets,
) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.echo, send=b"hello", timeout_s=2)
    began = time.perf_counter()
    obs = await tcp.run(spec, CTX)
    assert time.perf_counter() - began < 1
    assert obs.error is None
    assert obs.body == b"hello"
    assert obs.phases.ttfb is not None


async def test_it_bounds_the_banner_and_says_so(tcp_target: TcpTargets) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.banner, expect="ESMTP", max_banner=8, timeout_s=2)
    obs = await tcp.run(spec, CTX)
    assert obs.body == BANNER[:8]
    assert obs.body_truncated
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE


async def test_it_fails_at_once_when_the_peer_closes_without_a_word(
    tcp_target: TcpTargets,
) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.closer, expect="220", timeout_s=2)
    began = time.perf_counter()
    obs = await tcp.run(spec, CTX)
    assert time.perf_counter() - began < 1
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message == "connection closed before any data"


async def test_it_reports_a_lookup_failure_as_a_dns_error(tcp_target: TcpTargets) -> None:
    spec = TcpSpec("127.0.0.1", tcp_target.banner, ip_family=IpFamily.IPV6)
    obs = await tcp.run(spec, CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.DNS_ERROR
    assert not obs.connected


async def test_it_records_an_invalid_expect_instead_of_raising(tcp_target: TcpTargets) -> None:
    obs = await tcp.run(TcpSpec("127.0.0.1", tcp_target.banner, expect="(unclosed"), CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.INVALID_RESPONSE
    assert obs.error.message.startswith("invalid expect")


def _time_wait_ports() -> set[int]:
    """Ports of TIME_WAIT sockets (either end) in /proc/net/tcp."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "06":
            ports.add(int(fields[1].split(":")[1], 16))
            ports.add(int(fields[2].split(":")[1], 16))
    return ports


async def test_it_closes_with_a_reset_leaving_no_time_wait(tcp_target: TcpTargets) -> None:
    for _ in range(20):
        obs = await tcp.run(TcpSpec("127.0.0.1", tcp_target.banner, expect="ESMTP"), CTX)
        assert obs.error is None
    assert tcp_target.banner not in _time_wait_ports()
