"""The tls probe: resolve, connect, handshake, and report the certificate's facts.

The handshake verifies the chain against the system trust store plus `ca_file`,
but leaves the name check to `certs.matches_hostname`. OpenSSL checks the name
before the validity dates, so on a "hostname mismatch" it cannot say whether the
chain was otherwise good; checking the name ourselves lets `chain_valid` and
`hostname_match` both be exact, and makes the reason precedence
untrusted / self_signed / expired first, then hostname_mismatch.

When verification fails, a second handshake with verification off fetches the
certificate anyway, so an expired or misissued certificate still shows its
expiry, issuer and names. Everything, the second handshake included, runs under
one deadline of `spec.timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field

from upstate.domain.enums import ErrorKind, TlsReason
from upstate.domain.observation import CertInfo, Observation, Phases, ProbeError
from upstate.domain.specs import TlsSpec
from upstate.probes.base import ProbeContext, classify, is_ip_literal, resolve
from upstate.probes.certs import cert_info, matches_hostname

logger = logging.getLogger(__name__)

_CLOSE_WAIT_S = 0.25  # at most this long (and within the deadline) for the peer's goodbye

# OpenSSL's words for a first answer that is not a TLS record.
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"})

SockAddr = tuple[str, int] | tuple[str, int, int, int]


class _Quiet(asyncio.Protocol):
    """Ignores anything the server sends; tells when the connection is gone."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


@dataclass
class _Handshake:
    """What one TLS handshake produced."""

    der: bytes | None = None
    version: str | None = None
    cipher: str | None = None
    closing: tuple[asyncio.Transport, _Quiet] | None = None


@dataclass
class _Run:
    """What the probe learned so far; kept when the deadline cuts it short."""

    phase: str = "dns"
    dns_ms: float | None = None
    connect_ms: float | None = None
    tls_ms: float | None = None
    ip: str | None = None
    connected: bool = False
    shake: _Handshake = field(default_factory=_Handshake)
    chain_valid: bool = False
    error: ProbeError | None = None
    closing: list[tuple[asyncio.Transport, _Quiet]] = field(default_factory=list)

    def took(self, shake: _Handshake) -> None:
        self.shake = shake
        if shake.closing is not None:
            self.closing.append(shake.closing)


def _target(spec: TlsSpec) -> str:
    host = f"[{spec.host}]" if ":" in spec.host and not spec.host.startswith("[") else spec.host
    return f"{host}:{spec.port}"


async def run(spec: TlsSpec, ctx: ProbeContext) -> Observation:
    started_at = ctx.clock()
    began = time.perf_counter()
    state = _Run()
    try:
        async with asyncio.timeout(spec.timeout_s):
            await _probe(spec, ctx, state)
    except TimeoutError:
        if state.error is None:  # a timeout in the second handshake keeps the first's error
            state.error = ProbeError(
                ErrorKind.TIMEOUT, f"{state.phase}: timed out after {spec.timeout_s:g}s"
            )
    duration_ms = (time.perf_counter() - began) * 1000
    await _settle(state.closing, min(_CLOSE_WAIT_S, spec.timeout_s - duration_ms / 1000))
    server_name = spec.server_name or spec.host
    cert: CertInfo | None = None
    if state.shake.der is not None:
        try:
            hostname_match = matches_hostname(state.shake.der, server_name)
            cert = cert_info(
                state.shake.der, chain_valid=state.chain_valid, hostname_match=hostname_match
            )
        except ValueError as exc:
            logger.warning("certificate unreadable target=%s error=%s", _target(spec), exc)
        else:
            if state.error is None and not hostname_match:
                state.error = ProbeError(
                    ErrorKind.TLS_ERROR,
                    f"tls: certificate is not valid for {server_name!r} "
                    f"(it names {', '.join(cert.san) or cert.subject or 'nothing'})",
                    TlsReason.HOSTNAME_MISMATCH,
                )
    return Observation(
        kind=spec.kind,
        target=_target(spec),
        region=ctx.region,
        started_at=started_at,
        duration_ms=duration_ms,
        phases=Phases(dns=state.dns_ms, connect=state.connect_ms, tls=state.tls_ms),
        ip=state.ip,
        cert=cert,
        error=state.error,
        connected=state.connected,
        tls_version=state.shake.version,
        tls_cipher=state.shake.cipher,
    )


async def _probe(spec: TlsSpec, ctx: ProbeContext, state: _Run) -> None:
    """Fill `state` phase by phase; returns early, with state.error set, on a failure."""
    loop = asyncio.get_running_loop()
    server_name = spec.server_name or spec.host

    state.phase = "dns"
    mark = time.perf_counter()
    try:
        addresses = await resolve(spec.host, spec.port, spec.ip_family)
    except OSError as exc:
        state.error = classify(exc, phase="dns")
        return
    if not is_ip_literal(spec.host):
        state.dns_ms = (time.perf_counter() - mark) * 1000

    state.phase = "connect"
    mark = time.perf_counter()
    try:
        family, address, transport, protocol = await _connect_any(loop, addresses)
    except OSError as exc:
        state.error = classify(exc, phase="connect")
        return
    state.connect_ms = (time.perf_counter() - mark) * 1000
    state.ip = address[0]
    state.connected = True

    state.phase = "tls"
    verifying = ctx.ssl_context(verify=True, ca_file=spec.ca_file, alpn=None, check_hostname=False)
    mark = time.perf_counter()
    try:
        state.took(await _handshake(loop, transport, protocol, verifying, server_name))
    except ssl.SSLCertVerificationError as exc:
        state.tls_ms = (time.perf_counter() - mark) * 1000
        state.error = classify(exc, phase="tls")
    except (ssl.SSLError, OSError, EOFError) as exc:
        state.tls_ms = (time.perf_counter() - mark) * 1000
        state.error = _handshake_error(exc)
        return
    else:
        state.tls_ms = (time.perf_counter() - mark) * 1000
        state.chain_valid = True
        return

    # The chain did not verify: look at the certificate anyway, on a fresh connection.
    state.phase = "tls (unverified, for the certificate's facts)"
    looking = ctx.ssl_context(verify=False, alpn=None)
    try:
        transport, protocol = await _connect(loop, family, address)
        state.took(await _handshake(loop, transport, protocol, looking, server_name))
    except (ssl.SSLError, OSError, EOFError) as exc:
        logger.info(
            "unverified handshake failed target=%s error=%s", _target(spec), type(exc).__name__
        )


def _handshake_error(exc: BaseException) -> ProbeError:
    """Anything but a certificate problem during the handshake: the peer does not speak TLS
    (to us), or it hung up on our hello."""
    if isinstance(exc, ssl.SSLError):
        what = (exc.reason or str(exc)).replace("_", " ").lower()
        if exc.reason in _NOT_TLS:
            what += ": the port does not seem to speak TLS"
        return ProbeError(
            ErrorKind.TLS_ERROR, f"tls: handshake failed, {what}", TlsReason.HANDSHAKE
        )
    if not isinstance(exc, EOFError | ConnectionError):
        return classify(exc, phase="tls")
    return ProbeError(
        ErrorKind.TLS_ERROR,
        "tls: connection closed by the server during the handshake",
        TlsReason.HANDSHAKE,
    )


async def _connect_any(
    loop: asyncio.AbstractEventLoop, addresses: list[tuple[int, SockAddr]]
) -> tuple[int, SockAddr, asyncio.Transport, _Quiet]:
    """The first address (in resolver order) that accepts; the last error if none does."""
    last: OSError | None = None
    for family, address in addresses:
        try:
            transport, protocol = await _connect(loop, family, address)
        except OSError as exc:
            last = exc
            continue
        return family, address, transport, protocol
    raise last if last is not None else OSError("no address to connect to")


async def _connect(
    loop: asyncio.AbstractEventLoop, family: int, address: SockAddr
) -> tuple[asyncio.Transport, _Quiet]:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await loop.sock_connect(sock, address)
        transport, protocol = await loop.create_connection(_Quiet, sock=sock)
    except BaseException:
        sock.close()
        raise
    return transport, protocol


async def _handshake(
    loop: asyncio.AbstractEventLoop,
    transport: asyncio.Transport,
    protocol: _Quiet,
    context: ssl.SSLContext,
    server_name: str,
) -> _Handshake:
    """One TLS handshake over a connected transport; the connection is closed afterwards."""
    if transport.is_closing() or protocol.lost.done():
        # Both asyncio and uvloop wait forever in start_tls on a connection already gone.
        transport.abort()
        raise EOFError("connection closed before the handshake")
    try:
        secure = await loop.start_tls(
            transport, protocol, context, server_hostname=server_name.strip("[]")
        )
    except BaseException:
        transport.abort()
        raise
    if secure is None:
        transport.abort()
        raise EOFError("connection closed during the handshake")
    ssl_object = secure.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket) or der is None:
        secure.abort()  # the loop handed back a transport whose handshake never finished
        raise EOFError("connection closed during the handshake")
    cipher = ssl_object.cipher()
    shake = _Handshake(der, ssl_object.version(), cipher[0] if cipher else None)
    secure.close()  # sends close_notify; `_settle` waits for the peer's answer
    shake.closing = (secure, protocol)
    return shake


async def _settle(closing: list[tuple[asyncio.Transport, _Quiet]], budget_s: float) -> None:
    """Let closed connections finish their goodbyes, then cut off whatever is left."""
    pending = [protocol.lost for _, protocol in closing if not protocol.lost.done()]
    try:
        if pending and budget_s > 0:
            await asyncio.wait(pending, timeout=budget_s)
    finally:
        for transport, protocol in closing:
            if not protocol.lost.done():
                transport.abort()
