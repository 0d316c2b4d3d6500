"""The icmp probe: echo requests to one address; loss and round trips are facts, not errors.

The host is resolved first with probes.base.resolve (icmplib would otherwise use
its own lookup), so the lookup is timed and its failure is a `dns_error`.

Permission: unprivileged ICMP (datagram) sockets when the kernel lets one of
this process's groups use them (net.ipv4.ping_group_range); else raw sockets
when we hold CAP_NET_RAW; else `icmp_not_permitted`, saying how to allow it.
`icmp_mode` decides from plain facts so it can be tested without a kernel.

A silent or unreachable host is 100 % loss, not an error: conditions judge
[PACKET_LOSS]. The deadline wins over the schedule: the gap between echoes
shrinks to fit, and each echo waits its share of the time left, so every echo
goes out and the probe ends within timeout_s.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from icmplib import (
    AsyncSocket,
    ICMPLibError,
    ICMPRequest,
    ICMPv4Socket,
    ICMPv6Socket,
    SocketPermissionError,
)
from icmplib.utils import unique_identifier

from upstate.domain.enums import ErrorKind
from upstate.domain.observation import IcmpStats, Observation, Phases, ProbeError
from upstate.domain.specs import IcmpSpec
from upstate.probes.base import ProbeContext, classify, is_ip_literal, resolve

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")
PROC_STATUS = Path("/proc/self/status")
CAP_NET_RAW = 13  # bit in the capability sets of /proc/<pid>/status

NOT_PERMITTED = (
    "this process may not send ICMP: allow unprivileged ping with "
    'sysctl -w net.ipv4.ping_group_range="0 2147483647", or grant CAP_NET_RAW '
    "(docker run --cap-add NET_RAW, systemd AmbientCapabilities=CAP_NET_RAW)"
)


class IcmpMode(StrEnum):
    UNPRIVILEGED = "unprivileged"  # datagram ICMP socket; the kernel writes the headers
    PRIVILEGED = "privileged"  # raw socket; needs CAP_NET_RAW
    NOT_PERMITTED = "not_permitted"


def icmp_mode(
    ping_group_range: tuple[int, int] | None, groups: Collection[int], has_cap_net_raw: bool
) -> IcmpMode:
    """How this process may ping.

    `ping_group_range` is the sysctl's (low, high), None where there is no such
    setting (not Linux: datagram ICMP is then open to all). `groups` are the
    effective and supplementary group ids, as the kernel checks them.
    """
    if ping_group_range is None:
        return IcmpMode.PRIVILEGED if has_cap_net_raw else IcmpMode.UNPRIVILEGED
    low, high = ping_group_range
    if any(low <= gid <= high for gid in groups):
        return IcmpMode.UNPRIVILEGED
    return IcmpMode.PRIVILEGED if has_cap_net_raw else IcmpMode.NOT_PERMITTED


def kernel_facts() -> tuple[tuple[int, int] | None, tuple[int, ...], bool]:
    """(ping_group_range, groups, has CAP_NET_RAW) of this process, read from /proc.

    Read on every probe (two small files): an operator's fix applies without a restart.
    """
    try:
        low, high = (int(part) for part in PING_GROUP_RANGE.read_text().split())
        ping_range: tuple[int, int] | None = (low, high)
    except (OSError, ValueError):
        ping_range = None
    groups = (os.getegid(), *os.getgroups())
    try:
        lines = PROC_STATUS.read_text().splitlines()
        effective = next(int(line.split()[1], 16) for line in lines if line.startswith("CapEff:"))
        has_cap = bool(effective >> CAP_NET_RAW & 1)
    except (OSError, ValueError, StopIteration, IndexError):
        has_cap = os.geteuid() == 0
    return ping_range, groups, has_cap


async def run(spec: IcmpSpec, ctx: ProbeContext) -> Observation:
    return await ping(spec, ctx, icmp_mode(*kernel_facts()))


async def ping(spec: IcmpSpec, ctx: ProbeContext, mode: IcmpMode) -> Observation:
    """The probe with the permission decided by the caller."""
    started_at = ctx.clock()
    start = time.perf_counter()
    deadline = start + spec.timeout_s
    ip: str | None = None
    dns_ms: float | None = None
    stats: IcmpStats | None = None
    error: ProbeError | None = None
    if mode is IcmpMode.NOT_PERMITTED:
        error = ProbeError(ErrorKind.ICMP_NOT_PERMITTED, NOT_PERMITTED)
    else:
        try:
            async with asyncio.timeout(spec.timeout_s):
                addresses = await resolve(spec.host, 0, spec.ip_family)
            ip = addresses[0][1][0]
            if not is_ip_literal(spec.host):
                dns_ms = (time.perf_counter() - start) * 1000
        except OSError as exc:  # includes running out of time
            error = classify(exc, phase="dns")
    if ip is not None:
        try:
            sent, rtts = await _echo(ip, spec, deadline, mode is IcmpMode.PRIVILEGED)
            stats = stats_of(sent, rtts)
        except SocketPermissionError:
            error = ProbeError(ErrorKind.ICMP_NOT_PERMITTED, NOT_PERMITTED)
        except ICMPLibError as exc:  # no socket could be made for this address
            error = ProbeError(ErrorKind.UNREACHABLE, f"icmp: {exc}")
    return Observation(
        kind=spec.kind,
        target=spec.host,
        region=ctx.region,
        started_at=started_at,
        duration_ms=(time.perf_counter() - start) * 1000,
        phases=Phases(dns=dns_ms),
        ip=ip,
        error=error,
        connected=stats is not None and stats.received > 0,
        icmp=stats,
    )


@dataclass
class _Echoes:
    """Echo requests that went out, by sequence, and what came back for them."""

    requests: dict[int, Any] = field(default_factory=dict)  # sequence -> icmplib ICMPRequest
    answered: set[int] = field(default_factory=set)
    rtts: list[float] = field(default_factory=list)
    sending: bool = True

    def complete(self) -> bool:
        return not self.sending and len(self.answered) == len(self.requests)


async def _echo(
    ip: str, spec: IcmpSpec, deadline: float, privileged: bool
) -> tuple[int, list[float]]:
    """(echo requests sent, round trips in ms of the replies), ending by `deadline`.

    Requests go out on schedule while one reader collects replies, as ping does:
    a reply counts whenever it comes before the deadline, not only before the next request.
    """
    socket_class = ICMPv6Socket if ":" in ip else ICMPv4Socket
    ident = unique_identifier()
    count = max(spec.count, 1)
    gap = min(spec.interval_s, (deadline - time.perf_counter()) / (2 * count))
    echoes = _Echoes()
    with AsyncSocket(socket_class(None, privileged)) as sock:
        reader = asyncio.create_task(_read_replies(sock, echoes, deadline))
        try:
            for sequence in range(count):
                if sequence:
                    await asyncio.sleep(gap)
                request = ICMPRequest(ip, ident, sequence)
                try:
                    sock.send(request)
                except ICMPLibError:  # e.g. no route: nothing went out
                    continue
                echoes.requests[sequence] = request
            echoes.sending = False
            if not echoes.complete():
                await asyncio.wait({reader}, timeout=max(deadline - time.perf_counter(), 0))
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)  # before the socket closes
    return len(echoes.requests), echoes.rtts


async def _read_replies(sock: Any, echoes: _Echoes, deadline: float) -> None:
    while not echoes.complete():
        try:
            reply = await sock.receive(None, max(deadline - time.perf_counter(), 0.001))
        except ICMPLibError:  # out of time, or the socket failed: the rest are lost
            return
        request = echoes.requests.get(reply.sequence)
        if request is None or reply.id != request.id or reply.sequence in echoes.answered:
            continue  # someone else's echo, or a duplicate
        echoes.answered.add(reply.sequence)
        try:
            reply.raise_for_status()  # destination unreachable, time exceeded: lost
        except ICMPLibError:
            continue
        echoes.rtts.append((float(reply.time) - float(request.time)) * 1000)


def stats_of(sent: int, rtts: list[float]) -> IcmpStats:
    """Loss in percent; nothing sent counts as all lost (there is no answer either way)."""
    received = len(rtts)
    loss = 100.0 if sent == 0 else round(100 * (sent - received) / sent, 2)
    if not rtts:
        return IcmpStats(sent, received, loss)
    return IcmpStats(sent, received, loss, min(rtts), sum(rtts) / received, max(rtts))
