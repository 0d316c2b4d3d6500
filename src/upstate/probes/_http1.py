"""One HTTP/1.1 exchange on one fresh connection: an asyncio.Protocol feeding llhttp.

Lean on purpose (no streams, no extra tasks, no per-byte Python work beyond the parser's
callbacks) so that a plain probe costs tens of microseconds of CPU. The caller connects,
optionally upgrades to TLS, sends, and awaits `done`; this class records when each thing
happened and what came back, and turns a broken answer into a ProbeError.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import socket
import ssl
import struct
from base64 import b64encode
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter
from urllib.parse import quote, urlsplit

import httptools

from upstate.domain.enums import ErrorKind
from upstate.domain.observation import ProbeError
from upstate.probes._decoders import DecodeError, Decoder, decoder_for
from upstate.probes.base import classify, is_ip_literal

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_ENCODING = "gzip, deflate, br"
# An abortive close (RST) leaves no TIME_WAIT socket behind; see Exchange.finish.
_LINGER_RST = struct.pack("ii", 1, 0)  # struct linger: l_onoff=1, l_linger=0
# libc's setsockopt(2), for _rst. uvloop hands out only a stand-in for a transport's socket,
# whose setsockopt wraps the descriptor in a new socket.socket each call: a getsockname
# syscall, two Python-level calls and a TypeError raised and swallowed while parsing the
# option. Calling libc directly saves that: ~3 % of a plain probe's instructions, ~2 µs.
# No argtypes: ctypes' own conversions of plain ints and bytes (int, int, int, char *,
# int) are right for this signature and cost half as much as argtypes' converters.
_setsockopt = ctypes.CDLL(None, use_errno=True).setsockopt
_SOL_SOCKET, _SO_LINGER = int(socket.SOL_SOCKET), int(socket.SO_LINGER)
# The response headers the exchange acts on, told apart as they arrive (lower-cased bytes).
_LOCATION, _CONTENT_ENCODING = b"location", b"content-encoding"
_NOTED = frozenset({_LOCATION, _CONTENT_ENCODING, b"content-length", b"transfer-encoding"})
_DROPPED = frozenset({"connection", "content-length", "transfer-encoding"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class Target:
    """Where one hop goes, parsed once from its URL."""

    url: str
    tls: bool
    host: str  # for the resolver and SNI: no brackets, IDNA-encoded
    port: int
    authority: str  # the Host header
    path: str  # the request-target
    ip_literal: bool


# Monitors probe the same URL each time: parse it once. Sized for 100,000 monitors: an
# LRU cache smaller than the set of URLs probed in turn would miss every time.
CACHE_SIZE = 1 << 17


@lru_cache(maxsize=CACHE_SIZE)
def parse_target(url: str) -> Target:
    """Raises ValueError for anything that is not an absolute http(s) URL with a host.
    Targets are frozen, so the cached one is shared safely."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.hostname:
        raise ValueError(f"no host in URL: {url!r}")
    host = parts.hostname
    if not host.isascii():
        host = host.encode("idna").decode("ascii")
    port = parts.port or (443 if scheme == "https" else 80)
    literal = is_ip_literal(host)
    authority = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        authority = f"{authority}:{parts.port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii() or not path.isprintable() or " " in path:
        path = quote(path, safe="/%?&=+:;@!$'()*,~-._[]")
    return Target(url, scheme == "https", host, port, authority, path, literal)


def auth_headers(
    basic_auth: tuple[str, str] | None, bearer_token: str | None
) -> tuple[tuple[str, str], ...]:
    if basic_auth is not None:
        token = b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode("ascii")
        return (("Authorization", f"Basic {token}"),)
    if bearer_token is not None:
        return (("Authorization", f"Bearer {bearer_token}"),)
    return ()


def encode_request(
    method: str,
    target: Target,
    headers: tuple[tuple[str, str], ...],
    body: bytes | None,
    user_agent: str,
) -> bytes:
    """The request's bytes. `headers` may override Host, User-Agent, Accept, Accept-Encoding.

    Raises ValueError for a header holding a line break (it would smuggle another header).
    """
    body_length = None if body is None else len(body)
    head = _encode_head(method, target.authority, target.path, headers, body_length, user_agent)
    return head + body if body else head


@lru_cache(maxsize=CACHE_SIZE)
def _encode_head(
    method: str,
    authority: str,
    path: str,
    headers: tuple[tuple[str, str], ...],
    body_length: int | None,
    user_agent: str,
) -> bytes:
    """Cached: a monitor sends the same request every time, and writing it costs more than
    looking it up. Keyed by strings, whose hashes Python keeps, not by the Target."""
    if not _TOKEN.fullmatch(method):
        raise ValueError(f"not an HTTP method: {method!r}")
    given = {name.lower() for name, _ in headers}
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {authority}")
    if "user-agent" not in given:
        lines.append(f"User-Agent: {user_agent}")
    if "accept" not in given:
        lines.append("Accept: */*")
    if "accept-encoding" not in given:
        lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}")
    for name, value in headers:
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        if name.lower() not in _DROPPED:
            lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    if body_length is not None:
        lines.append(f"Content-Length: {body_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class Exchange(asyncio.Protocol):
    """Reads one response (after any 1xx) into a bounded sample, timing its first and last byte.

    `done` resolves when the response is complete, truncated at max_body, or broken (then
    `error` says why). The transport is always closed by then.
    """

    __slots__ = (
        "_decoder", "_eof", "_head", "_interim", "_max_body", "_noted", "_parser", "_request",
        "_stop_at_redirect", "chunks", "connected_at", "done", "error", "finished_at",
        "first_byte_at", "headers", "headers_complete", "location", "sent_at", "size", "status",
        "transport", "truncated",
    )  # fmt: skip

    # Callbacks this protocol does not need, set to None rather than left out: httptools
    # looks each up with getattr(protocol, name, None) for every parser, and a missing one
    # costs an AttributeError raised and swallowed, four per probe.
    on_message_begin = on_status = on_chunk_header = on_chunk_complete = None

    def __init__(
        self,
        done: asyncio.Future[None],
        request: bytes | None,
        *,
        head: bool,
        stop_at_redirect: bool,
        max_body: int,
    ) -> None:
        self.done = done
        self.transport: asyncio.Transport | None = None
        self._request = request
        self._head = head
        self._stop_at_redirect = stop_at_redirect
        self._max_body = max_body
        # The parser holds this protocol's callbacks, so it refers back to it: a cycle only
        # the cyclic GC could free, and collecting one per probe cost ~5 % of a plain probe's
        # CPU. The parser lives from connection_made to connection_lost; refcounting frees
        # the rest as soon as the probe lets go.
        self._parser: httptools.HttpResponseParser | None = None
        self._interim = False
        self._decoder: Decoder | None = None
        self._noted: list[tuple[bytes, str]] = []  # the _NOTED headers, by lower-cased name
        self._eof = False
        self.connected_at = 0.0
        self.sent_at = 0.0
        self.first_byte_at = 0.0
        self.finished_at = 0.0
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.headers_complete = False
        self.location: str | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False
        self.error: ProbeError | None = None

    # -- driven by the caller -------------------------------------------------------------

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.transport.write(request)
        self.sent_at = perf_counter()

    def abort(self) -> None:
        """Drop the connection at once (timeouts, cancellation), leaving no TIME_WAIT."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            _rst(transport)
            transport.abort()

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.connected_at = perf_counter()
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self._parser = httptools.HttpResponseParser(self)
        if self._request is not None:
            self.send(self._request)

    def data_received(self, data: bytes) -> None:
        if not self.first_byte_at:
            self.first_byte_at = perf_counter()
        parser = self._parser
        if parser is None or self.done.done():
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.finish()
        except httptools.HttpParserError as exc:
            self.fail(ErrorKind.INVALID_RESPONSE, f"not an HTTP response: {exc}")

    def eof_received(self) -> bool | None:
        self._eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._parser = None  # see __init__
        if self.done.done():
            return
        if exc is None and self.headers_complete and not self._framed():
            self._on_complete()  # the body was delimited by the close
        elif isinstance(exc, ssl.SSLError):  # e.g. an alert after the handshake
            self.error = classify(exc, phase="tls")
            self.finish()
        elif exc is not None and not isinstance(exc, ConnectionResetError):
            self.error = classify(exc, phase="transfer" if self.first_byte_at else "ttfb")
            self.finish()
        else:
            how = "reset by peer" if exc is not None else "closed by the server"
            if not self.first_byte_at:
                where = "before any response"
            elif not self.headers_complete:
                where = "in the middle of the response headers"
            else:
                where = f"after {self.size} body bytes, before the response ended"
            self.fail(ErrorKind.CONNECTION_RESET, f"connection {how} {where}")

    # -- llhttp callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        # Values are nearly always ASCII; anything not UTF-8 is replaced, never an error.
        text = value.decode("utf-8", "replace")
        self.headers.append((name.decode("latin-1"), text))
        lowered = name.lower()
        if lowered in _NOTED:  # noted now, not looked for later: one pass over the headers
            self._noted.append((lowered, text))

    def on_headers_complete(self) -> None:
        parser = self._parser
        if parser is None or self.done.done():
            return
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            self.headers = []
            self._noted = []
            return
        self.status = status
        self.headers_complete = True
        encoding = None
        for name, value in self._noted:
            if name == _LOCATION:
                self.location = value
            elif name == _CONTENT_ENCODING:
                encoding = value
        if self._head or (self._stop_at_redirect and status in REDIRECT_STATUSES and self.location):
            self.finish()
        elif encoding is not None:
            self._decoder = decoder_for(encoding)

    def on_body(self, body: bytes) -> None:
        if self.done.done():
            return
        if self._decoder is not None:
            try:
                body = self._decoder.feed(body, self._max_body - self.size)
            except DecodeError as exc:
                self.fail(ErrorKind.INVALID_RESPONSE, f"body does not decode: {exc}")
                return
        self._keep(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if not self.done.done():
            self._on_complete()

    # -- internals ------------------------------------------------------------------------

    def _framed(self) -> bool:
        """Content-Length or chunked: the body's end is in the message, not at the close."""
        return any(name not in (_LOCATION, _CONTENT_ENCODING) for name, _ in self._noted)

    def _on_complete(self) -> None:
        if self._decoder is not None:
            try:
                self._keep(self._decoder.flush(self._max_body - self.size))
            except DecodeError as exc:
                self.fail(ErrorKind.INVALID_RESPONSE, f"body does not decode: {exc}")
                return
        self.finish()

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        room = self._max_body - self.size
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        if data:
            self.chunks.append(data)
            self.size += len(data)
        if self.truncated:
            self.finish()  # a sample is enough: stop reading, it is not an error

    def fail(self, kind: ErrorKind, message: str) -> None:
        self.error = ProbeError(kind, message)
        self.finish()

    def finish(self) -> None:
        """Settle `done` and close at once.

        The probe has what it came for, so the close is abortive: an RST instead of a FIN
        keeps the client from holding a TIME_WAIT socket per probe, which would exhaust the
        local ports above ~16,000 probes/s to one target. If the server closed first there
        is no TIME_WAIT to avoid and the close stays a plain one. Over TLS no close_notify
        is sent: the response is complete and Connection: close was agreed.
        """
        if self.done.done():
            return
        self.finished_at = perf_counter()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if not self._eof:
                _rst(transport)
            transport.abort()
        self.done.set_result(None)


def _rst(transport: asyncio.BaseTransport) -> None:
    """Make the coming close an RST: SO_LINGER 0 on the transport's socket."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Straight to libc: a failure (the socket already gone) leaves a plain close.
        _setsockopt(sock.fileno(), _SOL_SOCKET, _SO_LINGER, _LINGER_RST, 8)
