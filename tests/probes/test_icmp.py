from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import pytest

from upstate.domain.enums import ErrorKind, IpFamily, MonitorKind
from upstate.domain.specs import IcmpSpec
from upstate.probes import icmp
from upstate.probes.base import ProbeContext
from upstate.probes.icmp import IcmpMode, icmp_mode, kernel_facts, stats_of

CTX = ProbeContext(region="test")
MODE = icmp_mode(*kernel_facts())


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_icmp = pytest.mark.skipif(
    MODE is IcmpMode.NOT_PERMITTED, reason="this process may not send ICMP here"
)


@needs_icmp
@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        pytest.param("::1", marks=pytest.mark.skipif(not _has_ipv6_loopback(), reason="no ::1")),
    ],
)
async def test_it_pings_the_loopback(host: str) -> None:
    obs = await icmp.run(IcmpSpec(host, count=3, interval_s=0.01, timeout_s=2), CTX)
    assert obs.error is None
    assert obs.kind is MonitorKind.ICMP
    assert obs.target == host
    assert obs.ip == host
    assert obs.connected
    assert obs.icmp is not None
    assert (obs.icmp.sent, obs.icmp.received, obs.icmp.packet_loss) == (3, 3, 0.0)
    assert obs.icmp.rtt_min is not None
    assert obs.icmp.rtt_avg is not None
    assert obs.icmp.rtt_max is not None
    assert 0 < obs.icmp.rtt_min <= obs.icmp.rtt_avg <= obs.icmp.rtt_max < obs.duration_ms
    assert obs.phases.dns is None


@needs_icmp
async def test_it_resolves_a_name_itself_and_times_it() -> None:
    spec = IcmpSpec("localhost", count=1, ip_family=IpFamily.IPV4, timeout_s=2)
    obs = await icmp.run(spec, CTX)
    assert obs.error is None
    assert obs.ip == "127.0.0.1"
    assert obs.phases.dns is not None


@needs_icmp
async def test_it_fits_the_schedule_into_the_deadline() -> None:
    spec = IcmpSpec("127.0.0.1", count=50, interval_s=0.2, timeout_s=0.3)
    began = time.perf_counter()
    obs = await icmp.run(spec, CTX)
    assert time.perf_counter() - began < 0.4  # 49 gaps of 0.2 s would take ten seconds
    assert obs.icmp is not None
    assert obs.icmp.sent == 50


async def test_it_reports_a_lookup_failure_as_a_dns_error() -> None:
    obs = await icmp.run(IcmpSpec("127.0.0.1", ip_family=IpFamily.IPV6, timeout_s=1), CTX)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.DNS_ERROR
    assert obs.icmp is None
    assert not obs.connected


async def test_it_says_how_to_allow_icmp_when_not_permitted() -> None:
    obs = await icmp.ping(IcmpSpec("127.0.0.1"), CTX, IcmpMode.NOT_PERMITTED)
    assert obs.error is not None
    assert obs.error.kind is ErrorKind.ICMP_NOT_PERMITTED
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in obs.error.message
    assert "CAP_NET_RAW" in obs.error.message
    assert obs.icmp is None


async def test_it_agrees_with_the_kernel_on_unprivileged_ping() -> None:
    ping_range, groups, _ = kernel_facts()
    allowed = icmp_mode(ping_range, groups, has_cap_net_raw=False) is IcmpMode.UNPRIVILEGED
    obs = await icmp.ping(IcmpSpec("127.0.0.1", count=1, timeout_s=1), CTX, IcmpMode.UNPRIVILEGED)
    if allowed:
        assert obs.error is None
    else:
        assert obs.error is not None
        assert obs.error.kind is ErrorKind.ICMP_NOT_PERMITTED


SILENT_HOST = "198.51.100.7"  # routed to lo in a private network namespace: never answered
_IN_PRIVATE_NETWORK = (
    "ip link set lo up && ip route add 198.51.100.0/24 dev lo && exec {python} -c '{code}'"
)
_PROBE_SILENT_HOST = f"""
import json, time, uvloop
from upstate.domain.specs import IcmpSpec
from upstate.probes import icmp
from upstate.probes.base import ProbeContext
began = time.perf_counter()
obs = uvloop.run(icmp.run(IcmpSpec("{SILENT_HOST}", count=3, interval_s=0.05, timeout_s=0.3),
                          ProbeContext()))
print(json.dumps([time.perf_counter() - began, obs.error is None, obs.connected,
                  obs.icmp.sent, obs.icmp.received, obs.icmp.packet_loss]))
"""


def _can_make_a_private_network() -> bool:
    if MODE is IcmpMode.NOT_PERMITTED or not (shutil.which("unshare") and shutil.which("ip")):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_make_a_private_network(), reason="needs unshare -n (root)")
def test_it_counts_a_silent_host_as_all_lost_within_the_deadline() -> None:
    """In a fresh network namespace nothing can leave the machine; the echoes go unanswered."""
    shell = _IN_PRIVATE_NETWORK.format(python=sys.executable, code=_PROBE_SILENT_HOST)
    out = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell], capture_output=True, text=True, check=True
    )
    elapsed, ok, connected, sent, received, loss = json.loads(out.stdout)
    assert ok  # loss is a fact for conditions to judge, not a probe error
    assert not connected
    assert (sent, received, loss) == (3, 0, 100.0)
    assert 0.29 <= elapsed < 0.4


@pytest.mark.parametrize(
    ("ping_range", "groups", "cap", "mode"),
    [
        ((0, 2147483647), (1000,), False, IcmpMode.UNPRIVILEGED),
        ((0, 2147483647), (0,), True, IcmpMode.UNPRIVILEGED),  # unprivileged first
        ((1, 0), (0,), True, IcmpMode.PRIVILEGED),  # the kernel default: nobody
        ((1, 0), (1000,), False, IcmpMode.NOT_PERMITTED),
        ((100, 200), (1000, 150), False, IcmpMode.UNPRIVILEGED),  # a supplementary group
        ((100, 200), (1000, 201), False, IcmpMode.NOT_PERMITTED),
        ((100, 200), (99,), True, IcmpMode.PRIVILEGED),
        (None, (1000,), False, IcmpMode.UNPRIVILEGED),  # no such sysctl: not Linux
        (None, (0,), True, IcmpMode.PRIVILEGED),
    ],
)
def test_it_decides_how_this_process_may_ping(
    ping_range: tuple[int, int] | None, groups: tuple[int, ...], cap: bool, mode: IcmpMode
) -> None:
    assert icmp_mode(ping_range, groups, cap) is mode


def test_it_counts_loss_in_percent() -> None:
    assert stats_of(4, [1.0, 2.0, 3.0]).packet_loss == 25.0
    silent = stats_of(3, [])
    assert (silent.received, silent.packet_loss, silent.rtt_avg) == (0, 100.0, None)
    assert stats_of(0, []).packet_loss == 100.0
    stats = stats_of(2, [1.0, 3.0])
    assert (stats.rtt_min, stats.rtt_avg, stats.rtt_max) == (1.0, 2.0, 3.0)
