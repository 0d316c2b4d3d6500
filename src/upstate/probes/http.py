"""The http probe: one HTTP/1.1 request (and its redirects), timed phase by phase.

Every hop is a fresh connection: resolve (dns), TCP connect (connect), then for https a
TLS handshake started on the connected socket (tls), so each phase is timed on its own;
ttfb runs from the request written to the first response byte, transfer from there to the
end of the body. With redirects, `duration_ms` covers every hop and the phases, ip, cert
and headers describe the last one: the answer the conditions judge.

`spec.timeout_s` is one deadline for the whole run, redirects included. A target's
failures become `Observation.error`; a spec that cannot be sent (no http(s) URL, a method
that is no token, a header with a line break) raises ValueError: config validation's job.

Choices:
- a server that closes (or resets) before sending a byte: connection_reset, as curl's
  "Empty reply from server" is a dead peer, not a malformed answer;
- closed mid-body: connection_reset; bytes that are not HTTP: invalid_response;
- a body over max_body: the first max_body bytes, body_truncated, no error;
- a repeated (method, URL) in a redirect chain: too_many_redirects at once;
- on a redirect to another host or from https to http, Authorization (and a custom Host)
  are dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from datetime import datetime
from time import perf_counter
from urllib.parse import urljoin

from upstate.domain.enums import ErrorKind
from upstate.domain.observation import CertInfo, Observation, Phases, ProbeError
from upstate.domain.specs import HttpSpec
from upstate.probes._http1 import (
    REDIRECT_STATUSES,
    Exchange,
    Target,
    auth_headers,
    encode_request,
    parse_target,
)
from upstate.probes.base import ProbeContext, classify, literal_addresses, resolve
from upstate.probes.certs import cert_info, matches_hostname

# Observation's leading fields, in order: _Probe.observation passes them by position.
_POSITIONAL = (
    "kind", "target", "region", "started_at", "duration_ms", "phases", "status_code", "ip",
    "headers", "body", "body_truncated", "cert", "error", "connected", "redirects",
)  # fmt: skip
if tuple(f.name for f in fields(Observation))[: len(_POSITIONAL)] != _POSITIONAL:
    raise ImportError("Observation's fields moved: update http._Probe.observation")
_BODY_HEADERS = frozenset({"content-type", "content-encoding", "content-language", "digest"})


async def run(spec: HttpSpec, ctx: ProbeContext) -> Observation:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)  # with the loop: one getpid() syscall fewer
    assert task is not None
    started_at = ctx.clock()
    start = perf_counter()
    probe = _Probe(spec, ctx, loop, start)
    loop.call_soon(probe.tick)
    # The deadline is asyncio.timeout() by hand: one timer that cancels this task, told
    # apart from anyone else's cancellation the same way. Same semantics at a sixth of
    # the cost, which matters at thousands of probes per second.
    cancelling = task.cancelling()
    deadline = loop.call_later(spec.timeout_s, probe.expire, task)
    try:
        await probe.follow()
    except asyncio.CancelledError:
        if not probe.expired or task.uncancel() > cancelling:
            raise
        probe.error = ProbeError(
            ErrorKind.TIMEOUT, f"timed out after {spec.timeout_s}s during {probe.phase_now()}"
        )
    finally:
        deadline.cancel()
    return probe.observation(started_at, (perf_counter() - start) * 1000)


def _redirected(
    status: int, method: str, body: bytes | None, headers: tuple[tuple[str, str], ...]
) -> tuple[str, bytes | None, tuple[tuple[str, str], ...]]:
    """Method, body and headers for the next hop: 303 (and 301/302 after POST) become GET."""
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        kept = tuple(h for h in headers if h[0].lower() not in _BODY_HEADERS)
        return "GET", None, kept
    return method, body, headers


def _cross_origin_safe(
    headers: tuple[tuple[str, str], ...], old: Target, new: Target
) -> tuple[tuple[str, str], ...]:
    """Credentials stay with their host, and never go from https to plain http."""
    if new.host == old.host and (new.tls or not old.tls):
        return headers
    return tuple(h for h in headers if h[0].lower() not in ("authorization", "host"))


class _Probe:
    """One run's state across its hops; `observation()` turns it into the result."""

    __slots__ = (
        "cert", "connect", "connected", "ctx", "dns", "error", "exchange", "expired", "ip", "lag",
        "loop", "phase", "redirects", "spec", "start", "tls", "tls_cipher", "tls_version",
    )  # fmt: skip

    def __init__(
        self, spec: HttpSpec, ctx: ProbeContext, loop: asyncio.AbstractEventLoop, start: float
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.loop = loop
        self.start = start
        self.phase = "dns"
        self.exchange: Exchange | None = None
        self.dns: float | None = None
        self.connect: float | None = None
        self.tls: float | None = None
        self.ip: str | None = None
        self.connected = False
        self.cert: CertInfo | None = None
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self.error: ProbeError | None = None
        self.redirects: list[str] = []
        self.lag: float | None = None
        self.expired = False

    def expire(self, task: asyncio.Task[object]) -> None:
        self.expired = True
        task.cancel()

    def tick(self) -> None:
        """Runs one loop turn after the start: how late it runs is the loop's lag."""
        self.lag = (perf_counter() - self.start) * 1000

    def phase_now(self) -> str:
        if self.phase != "response":
            return self.phase
        exchange = self.exchange
        return "transfer" if exchange is not None and exchange.first_byte_at else "ttfb"

    async def follow(self) -> None:
        spec = self.spec
        target = parse_target(spec.url)
        method = spec.method.upper()
        body = spec.body
        headers = spec.headers
        if spec.basic_auth is not None or spec.bearer_token is not None:
            headers += auth_headers(spec.basic_auth, spec.bearer_token)
        seen: set[tuple[str, str]] | None = None  # (method, URL) of every hop, once redirected
        while True:
            request = encode_request(method, target, headers, body, self.ctx.user_agent)
            try:
                exchange = await self.hop(target, request, head=method == "HEAD")
            except OSError as exc:  # resolver, socket and TLS errors all land here
                self.error = classify(exc, phase=self.phase_now())
                return
            if exchange.error is not None:
                self.error = exchange.error
                return
            location = exchange.location
            if not (spec.follow_redirects and exchange.status in REDIRECT_STATUSES and location):
                return
            if seen is None:
                seen = {(method, target.url)}
            if len(self.redirects) >= spec.max_redirects:
                self.error = ProbeError(
                    ErrorKind.TOO_MANY_REDIRECTS, f"more than {spec.max_redirects} redirects"
                )
                return
            try:
                following = parse_target(urljoin(target.url, location))
            except ValueError:
                self.error = ProbeError(
                    ErrorKind.INVALID_RESPONSE, f"redirect to an unusable location: {location!r}"
                )
                return
            method, body, headers = _redirected(exchange.status, method, body, headers)
            headers = _cross_origin_safe(headers, target, following)
            self.redirects.append(following.url)
            if (method, following.url) in seen:
                self.error = ProbeError(
                    ErrorKind.TOO_MANY_REDIRECTS, f"redirect loop back to {following.url}"
                )
                return
            seen.add((method, following.url))
            target = following

    async def hop(self, target: Target, request: bytes, *, head: bool) -> Exchange:
        """One request on one fresh connection; raises OSError for what classify() maps."""
        spec = self.spec
        loop = self.loop
        if self.redirects:  # a later hop: the facts describe the last hop only
            self._forget_hop()
        addresses = literal_addresses(target.host, target.port, spec.ip_family)
        if addresses is None:  # a name: the dns phase (an IP literal has none)
            began = perf_counter()
            addresses = await resolve(target.host, target.port, spec.ip_family)
            self.dns = (perf_counter() - began) * 1000
        self.phase = "connect"
        exchange = Exchange(
            loop.create_future(),
            None if target.tls else request,
            head=head,
            stop_at_redirect=spec.follow_redirects,
            max_body=spec.max_body,
        )
        self.exchange = exchange
        try:
            began = perf_counter()
            first_error: OSError | None = None
            for family, address in addresses:
                try:
                    await loop.create_connection(
                        lambda: exchange, address[0], address[1], family=family
                    )
                except OSError as exc:
                    first_error = first_error or exc
                    continue
                self.ip = address[0]
                break
            else:
                raise first_error or OSError("no address to connect to")
            self.connected = True
            self.connect = (exchange.connected_at - began) * 1000
            if target.tls:
                await self._start_tls(target, exchange)
                exchange.send(request)
            self.phase = "response"
            await exchange.done
        except BaseException:
            exchange.abort()
            raise
        return exchange

    def _forget_hop(self) -> None:
        self.phase = "dns"
        self.dns = self.connect = self.tls = None
        self.ip = None
        self.connected = False
        self.cert = None
        self.tls_version = self.tls_cipher = None

    async def _start_tls(self, target: Target, exchange: Exchange) -> None:
        spec = self.spec
        self.phase = "tls"
        context = self.ctx.ssl_context(
            verify=spec.tls_verify,
            ca_file=spec.ca_file,
            client_cert=spec.client_cert,
            client_key=spec.client_key,
        )
        raw = exchange.transport
        assert raw is not None
        transport = await self.loop.start_tls(raw, exchange, context, server_hostname=target.host)
        self.tls = (perf_counter() - exchange.connected_at) * 1000
        if transport is None:  # the peer closed during the handshake
            raise ConnectionResetError("connection closed during the TLS handshake")
        exchange.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        self.tls_version = ssl_object.version()
        self.tls_cipher = ssl_object.cipher()[0]
        der = ssl_object.getpeercert(binary_form=True)
        if der:
            # A verified handshake checked chain and name; unverified, neither is claimed
            # for the chain, and the name is matched here.
            verified = spec.tls_verify
            match = verified or matches_hostname(der, target.host)
            self.cert = cert_info(der, chain_valid=verified, hostname_match=match)

    def observation(self, started_at: datetime, duration_ms: float) -> Observation:
        exchange = self.exchange
        ttfb = transfer = status = None
        headers: tuple[tuple[str, str], ...] = ()
        body = b""
        truncated = False
        if exchange is not None:
            first_byte_at = exchange.first_byte_at
            if first_byte_at and exchange.sent_at:
                ttfb = (first_byte_at - exchange.sent_at) * 1000
                if exchange.finished_at and exchange.error is None:
                    transfer = (exchange.finished_at - first_byte_at) * 1000
            if exchange.headers_complete:
                status = exchange.status
                headers = tuple(exchange.headers)
            body = b"".join(exchange.chunks)
            truncated = exchange.truncated
        spec = self.spec
        # The leading fields by position (in _POSITIONAL's order, checked at import): with
        # more than ~14 keyword arguments CPython 3.11 compiles the call to build a dict
        # of them and unpack it again, which cost 6 % of a plain probe's instructions.
        return Observation(
            spec.kind,
            spec.url,
            self.ctx.region,
            started_at,
            duration_ms,
            Phases(self.dns, self.connect, self.tls, ttfb, transfer),
            status,
            self.ip,
            headers,
            body,
            truncated,
            self.cert,
            self.error,
            self.connected,
            tuple(self.redirects),
            loop_lag_ms=self.lag,
            tls_version=self.tls_version,
            tls_cipher=self.tls_cipher,
        )
