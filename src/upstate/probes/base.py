"""What every probe shares: the context it runs in, name resolution, error mapping."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from upstate import __version__
from upstate.domain.enums import ErrorKind, IpFamily, TlsReason
from upstate.domain.observation import ProbeError

USER_AGENT = f"Upstate/{__version__}"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ProbeContext:
    """Created once (in cli.py or web/app.py) and handed to every probe run.

    It caches SSL contexts: loading the system trust store costs milliseconds,
    far more than a probe, so it happens once per distinct TLS setting.
    """

    region: str = "local"
    user_agent: str = USER_AGENT
    clock: Callable[[], datetime] = utc_now
    _ssl_contexts: dict[
        tuple[bool, str | None, str | None, str | None, str | None, bool], ssl.SSLContext
    ] = field(default_factory=dict, repr=False)

    def ssl_context(
        self,
        *,
        verify: bool = True,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
        alpn: str | None = "http/1.1",
        check_hostname: bool = True,
    ) -> ssl.SSLContext:
        """`check_hostname=False` keeps chain verification but leaves the name to the caller
        (the tls probe checks it itself, so it can tell a bad chain from a wrong name)."""
        cache_key = (verify, ca_file, client_cert, client_key, alpn, check_hostname)
        cached = self._ssl_contexts.get(cache_key)
        if cached is not None:
            return cached
        context = ssl.create_default_context()
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        if not check_hostname:
            context.check_hostname = False
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_cert:
            context.load_cert_chain(client_cert, client_key)
        if alpn:
            context.set_alpn_protocols([alpn])
        self._ssl_contexts[cache_key] = context
        return context


def is_ip_literal(host: str) -> bool:
    return _ip_version(host.strip("[]")) is not None


@lru_cache(maxsize=4096)
def _ip_version(host: str) -> int | None:
    """4 or 6 for an IP literal, else None; cached, as parsing costs a tenth of a plain probe."""
    try:
        return ipaddress.ip_address(host).version
    except ValueError:
        return None


_FAMILIES = {
    IpFamily.ANY: socket.AF_UNSPEC,
    IpFamily.IPV4: socket.AF_INET,
    IpFamily.IPV6: socket.AF_INET6,
}


Addresses = list[tuple[int, tuple[str, int] | tuple[str, int, int, int]]]


def literal_addresses(host: str, port: int, family: IpFamily = IpFamily.ANY) -> Addresses | None:
    """`resolve` for an IP literal, without a coroutine: None when `host` is a name.

    A probe to an address skips the await altogether, ~1 % of a plain probe's CPU.
    Raises socket.gaierror for a literal of the wrong family.
    """
    bare = host.strip("[]")
    version = _ip_version(bare)
    if version is None:
        return None
    if family is IpFamily.IPV4 and version != 4:
        raise socket.gaierror(socket.EAI_ADDRFAMILY, "address is not IPv4")
    if family is IpFamily.IPV6 and version != 6:
        raise socket.gaierror(socket.EAI_ADDRFAMILY, "address is not IPv6")
    if version == 4:
        return [(socket.AF_INET, (bare, port))]
    return [(socket.AF_INET6, (bare, port, 0, 0))]


async def resolve(host: str, port: int, family: IpFamily = IpFamily.ANY) -> Addresses:
    """Every (address family, socket address) for host:port, IPv4 first under `any`.

    An IP literal costs nothing; a name goes to the system resolver every time
    (no cache: a DNS outage must show). Raises socket.gaierror.
    """
    literal = literal_addresses(host, port, family)
    if literal is not None:
        return literal
    bare = host.strip("[]")
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        bare, port, family=_FAMILIES[family], type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    ordered = sorted(infos, key=lambda info: 0 if info[0] == socket.AF_INET else 1)
    out: Addresses = []
    for info in ordered:
        sockaddr = info[4]
        if isinstance(sockaddr[0], str):
            out.append((int(info[0]), sockaddr))
    return out


_TLS_VERIFY_CODES = {
    9: TlsReason.EXPIRED,  # certificate is not yet valid
    10: TlsReason.EXPIRED,  # certificate has expired
    18: TlsReason.SELF_SIGNED,  # self-signed certificate
    19: TlsReason.SELF_SIGNED,  # self-signed certificate in chain
    20: TlsReason.UNTRUSTED,  # unable to get local issuer certificate
    21: TlsReason.UNTRUSTED,  # unable to verify the first certificate
    62: TlsReason.HOSTNAME_MISMATCH,  # hostname mismatch
    64: TlsReason.HOSTNAME_MISMATCH,  # IP address mismatch
}


def tls_reason(exc: ssl.SSLError) -> TlsReason:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _TLS_VERIFY_CODES.get(exc.verify_code, TlsReason.UNTRUSTED)
    return TlsReason.HANDSHAKE


def classify(exc: BaseException, *, phase: str = "") -> ProbeError:
    """Map any exception raised while probing to the closed set of error kinds."""
    prefix = f"{phase}: " if phase else ""
    if isinstance(exc, ssl.SSLError):
        message = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        return ProbeError(ErrorKind.TLS_ERROR, f"{prefix}{message}", tls_reason(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ProbeError(ErrorKind.TIMEOUT, f"{prefix}timed out")
    if isinstance(exc, socket.gaierror):
        return ProbeError(ErrorKind.DNS_ERROR, f"{prefix}{exc.strerror or exc}")
    if isinstance(exc, ConnectionRefusedError):
        return ProbeError(ErrorKind.CONNECTION_REFUSED, f"{prefix}connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return ProbeError(ErrorKind.CONNECTION_RESET, f"{prefix}connection reset by peer")
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
            return ProbeError(ErrorKind.UNREACHABLE, f"{prefix}{exc.strerror or exc}")
        if exc.errno == errno.ETIMEDOUT:
            return ProbeError(ErrorKind.TIMEOUT, f"{prefix}timed out")
        if exc.errno == errno.ECONNREFUSED:
            return ProbeError(ErrorKind.CONNECTION_REFUSED, f"{prefix}connection refused")
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            return ProbeError(ErrorKind.CONNECTION_RESET, f"{prefix}connection reset by peer")
        return ProbeError(ErrorKind.UNREACHABLE, f"{prefix}{exc.strerror or exc}")
    return ProbeError(ErrorKind.INVALID_RESPONSE, f"{prefix}{type(exc).__name__}: {exc}")
