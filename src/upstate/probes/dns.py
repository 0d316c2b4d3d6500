"""The dns probe: ask one nameserver one question, every time.

No caching resolver: the query goes straight to the nameserver (the spec's, or
the first one in /etc/resolv.conf), so an outage shows on the very next check.
UDP goes over a *connected* socket, so a port-unreachable reply surfaces at once
as `connection_refused` instead of waiting out the deadline. A truncated answer
(TC bit) is asked again over TCP.

Rcodes (NXDOMAIN, SERVFAIL, REFUSED) are answers, not probe errors: the rcode is
recorded and conditions judge it. The `dns` phase is the query round trip (UDP
plus any TCP retry); resolving a nameserver given by name counts only in the total.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import dns.asyncbackend
import dns.asyncquery
import dns.exception
import dns.flags
import dns.inet
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from upstate.domain.enums import ErrorKind
from upstate.domain.observation import DnsAnswer, Observation, Phases, ProbeError
from upstate.domain.specs import DnsSpec
from upstate.probes.base import ProbeContext, classify, is_ip_literal, resolve

logger = logging.getLogger(__name__)

EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: no IP fragmentation on common paths


def default_nameserver() -> str:
    """The first nameserver of /etc/resolv.conf (read, not queried).

    Raises dns.resolver.NoResolverConfiguration when there is none.
    """
    first = dns.resolver.Resolver(configure=True).nameservers[0]
    return first if isinstance(first, str) else first.answer_nameserver()


async def run(spec: DnsSpec, ctx: ProbeContext) -> Observation:
    started_at = ctx.clock()
    start = time.perf_counter()
    stage = "nameserver"
    ip: str | None = None
    query_ms: float | None = None
    answer: DnsAnswer | None = None
    error: ProbeError | None = None
    try:
        query = dns.message.make_query(
            spec.name, spec.record.upper(), use_edns=0, payload=EDNS_PAYLOAD
        )
    except dns.exception.DNSException as exc:
        error = ProbeError(ErrorKind.INVALID_RESPONSE, f"cannot ask: {exc}")
    else:
        try:
            async with asyncio.timeout(spec.timeout_s):
                ip = await _nameserver_ip(spec)
                stage = "query"
                began = time.perf_counter()
                response = await _ask(query, ip, spec)
                query_ms = (time.perf_counter() - began) * 1000
            answer = _answer(response, query, _where(ip, spec.port))
        except Exception as exc:  # a probe never raises for what a server does
            error = _error(exc, stage, spec)
    if error is not None:
        logger.debug("dns probe failed name=%s kind=%s", spec.name, error.kind)
    return Observation(
        kind=spec.kind,
        target=spec.name,
        region=ctx.region,
        started_at=started_at,
        duration_ms=(time.perf_counter() - start) * 1000,
        phases=Phases(dns=query_ms),
        ip=ip,
        body="\n".join(answer.answers).encode() if answer else b"",
        error=error,
        connected=answer is not None,
        dns=answer,
    )


def _error(exc: Exception, stage: str, spec: DnsSpec) -> ProbeError:
    if isinstance(exc, TimeoutError):
        return ProbeError(ErrorKind.TIMEOUT, f"{stage}: timed out after {spec.timeout_s:g}s")
    if isinstance(exc, dns.resolver.NoResolverConfiguration):
        return ProbeError(ErrorKind.DNS_ERROR, "no nameserver in /etc/resolv.conf")
    if isinstance(exc, OSError):
        return classify(exc, phase=stage)
    if isinstance(exc, EOFError):
        return ProbeError(ErrorKind.INVALID_RESPONSE, f"{stage}: closed before an answer")
    if isinstance(exc, dns.exception.DNSException):
        return ProbeError(ErrorKind.INVALID_RESPONSE, f"malformed answer: {exc}")
    logger.warning("dns probe unexpected error name=%s", spec.name, exc_info=exc)
    return classify(exc, phase=stage)


async def _nameserver_ip(spec: DnsSpec) -> str:
    server = spec.nameserver.strip("[]") if spec.nameserver else default_nameserver()
    if is_ip_literal(server):
        return server
    addresses = await resolve(server, spec.port)
    return addresses[0][1][0]


async def _ask(query: dns.message.Message, ip: str, spec: DnsSpec) -> dns.message.Message:
    """One round trip; the caller's asyncio.timeout is the only deadline."""
    backend = dns.asyncbackend.get_backend("asyncio")
    if spec.transport.lower() != "tcp":
        family = dns.inet.af_for_address(ip)
        # connected (destination given): an ICMP port-unreachable then reaches us
        sock = await backend.make_socket(  # type: ignore[no-untyped-call]
            family, socket.SOCK_DGRAM, 0, None, (ip, spec.port)
        )
        async with sock:
            response = await dns.asyncquery.udp(query, ip, port=spec.port, sock=sock)
        if not response.flags & dns.flags.TC:
            return response
    return await dns.asyncquery.tcp(query, ip, port=spec.port, backend=backend)


def _answer(response: dns.message.Message, query: dns.message.Message, where: str) -> DnsAnswer:
    """Records of the type asked, in text form, sorted so a rotating server reads the same."""
    rdtype = query.question[0].rdtype
    texts = sorted(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset
    )
    return DnsAnswer(
        rcode=dns.rcode.to_text(response.rcode()),
        record=dns.rdatatype.to_text(rdtype),
        answers=tuple(texts),
        nameserver=where,
    )


def _where(ip: str, port: int) -> str:
    if port == 53:
        return ip
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
