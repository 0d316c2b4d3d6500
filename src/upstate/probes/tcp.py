"""The tcp probe: does the port accept a connection, and does the service greet us as it should?

Plain non-blocking sockets driven by the loop's sock_* calls: no transport or
protocol objects, because this probe runs often and a port check needs nothing
more than a connect. The socket is closed with SO_LINGER 0 (an RST), so
thousands of checks a minute leave no TIME_WAIT entries behind on either side.

A banner is read only when the spec sends something or expects something:
- `expect` set: read until the regex matches, the peer closes, `max_banner`
  bytes came, or the deadline; no match is `invalid_response`, silence is `timeout`.
- only `send` set: the first chunk of the answer is the banner; silence is `timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
import time
from dataclasses import dataclass, field

from upstate.domain.enums import ErrorKind
from upstate.domain.observation import Observation, Phases, ProbeError
from upstate.domain.specs import TcpSpec
from upstate.probes.base import ProbeContext, classify, is_ip_literal, resolve

logger = logging.getLogger(__name__)

_LINGER_RST = struct.pack("ii", 1, 0)  # l_onoff=1, l_linger=0: close() sends RST
_READ_CHUNK = 64 * 1024


@dataclass
class _Progress:
    """How far one probe got; read after a timeout to say where it stopped."""

    stage: str = "dns"
    ip: str | None = None
    connected: bool = False
    dns_ms: float | None = None
    connect_ms: float | None = None
    ttfb_ms: float | None = None
    transfer_ms: float | None = None
    banner: bytearray = field(default_factory=bytearray)
    truncated: bool = False


def target_of(spec: TcpSpec) -> str:
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    return f"{host}:{spec.port}"


async def run(spec: TcpSpec, ctx: ProbeContext) -> Observation:
    started_at = ctx.clock()
    start = time.perf_counter()
    progress = _Progress()
    error: ProbeError | None
    try:
        pattern = re.compile(spec.expect) if spec.expect is not None else None
    except re.error as exc:
        error = ProbeError(ErrorKind.INVALID_RESPONSE, f"invalid expect: {exc}")
    else:
        try:
            async with asyncio.timeout(spec.timeout_s):
                error = await _probe(spec, pattern, progress)
        except TimeoutError:
            error = _timed_out(spec, progress)
    if error is not None:
        logger.debug(
            "tcp probe failed target=%s kind=%s stage=%s",
            target_of(spec),
            error.kind,
            progress.stage,
        )
    return Observation(
        kind=spec.kind,
        target=target_of(spec),
        region=ctx.region,
        started_at=started_at,
        duration_ms=(time.perf_counter() - start) * 1000,
        phases=Phases(
            dns=progress.dns_ms,
            connect=progress.connect_ms,
            ttfb=progress.ttfb_ms,
            transfer=progress.transfer_ms,
        ),
        ip=progress.ip,
        body=bytes(progress.banner),
        body_truncated=progress.truncated,
        error=error,
        connected=progress.connected,
    )


async def _probe(spec: TcpSpec, pattern: re.Pattern[str] | None, p: _Progress) -> ProbeError | None:
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    try:
        addresses = await resolve(spec.host, spec.port, spec.ip_family)
    except OSError as exc:
        return classify(exc, phase="dns")
    if not is_ip_literal(spec.host):
        p.dns_ms = (time.perf_counter() - began) * 1000

    p.stage = "connect"
    first_error: ProbeError | None = None
    for family, address in addresses:
        p.ip = address[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            began = time.perf_counter()
            try:
                await loop.sock_connect(sock, address)
            except OSError as exc:
                first_error = first_error or classify(exc, phase="connect")
                continue
            p.connect_ms = (time.perf_counter() - began) * 1000
            p.connected = True
            if spec.send is None and pattern is None:
                return None
            return await _converse(loop, sock, spec, pattern, p)
        finally:
            sock.close()
    return first_error


async def _converse(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    spec: TcpSpec,
    pattern: re.Pattern[str] | None,
    p: _Progress,
) -> ProbeError | None:
    try:
        if spec.send:
            p.stage = "send"
            await loop.sock_sendall(sock, spec.send)
        p.stage = "read"
        asked = time.perf_counter()
        first_byte = 0.0
        while True:
            room = spec.max_banner - len(p.banner)
            if room <= 0:
                p.truncated = True
                break
            chunk = await loop.sock_recv(sock, min(room, _READ_CHUNK))
            if not chunk:
                break
            now = time.perf_counter()
            if not p.banner:
                first_byte = now
                p.ttfb_ms = (now - asked) * 1000
            p.transfer_ms = (now - first_byte) * 1000
            p.banner += chunk
            if pattern is None or pattern.search(p.banner.decode("utf-8", "replace")):
                return None
    except OSError as exc:
        if not p.banner:
            return classify(exc, phase=p.stage)
    if not p.banner:
        return ProbeError(ErrorKind.INVALID_RESPONSE, "connection closed before any data")
    return _mismatch(spec)


def _mismatch(spec: TcpSpec) -> ProbeError:
    return ProbeError(ErrorKind.INVALID_RESPONSE, f"banner did not match /{spec.expect}/")


def _timed_out(spec: TcpSpec, p: _Progress) -> ProbeError:
    if p.stage == "read" and p.banner:
        return _mismatch(spec)
    return ProbeError(ErrorKind.TIMEOUT, f"{p.stage}: timed out after {spec.timeout_s:g}s")
