"""Loopback HTTP/1.1 target servers, written on raw asyncio streams so tests control every byte.

Fixtures (session-scoped, each server on its own port of 127.0.0.1, run by a LoopThread):
- `http_target`: an HttpTarget serving the built-in routes over plain HTTP.
- `https_target`: the same routes over TLS with the "good" certificate (trust it via `ca_file`).
- `start_http_target(ssl_context=None)`: start one more server (e.g. one demanding a client
  certificate); all of them stop at the end of the session.

API of an HttpTarget:
- `base_url` ("http://127.0.0.1:PORT"), `port`, `url(path)`.
- `route(path, handler)`: add a route; `handler(request) -> Response` (or a coroutine of one).
- `raw_route(path, handler)`: add a route answering with raw bytes;
  `await handler(request, reader, writer)` writes what it likes (the server closes afterwards).
A path ending in "/" matches as a prefix (`/status/` serves `/status/404`); otherwise exact.
Routes are shared by the whole session: pick paths no other test uses.

Helpers for handlers: `Request` (method, path, query, headers, body; `header()`, `param()`),
`Response(status, body, headers)` and `json_response(payload, status=200)`.

The server answers one request per connection and always closes afterwards. Note that
asyncio's TLS server closes without sending an alert when a handshake fails (e.g. a missing
client certificate); to test what a client sees from a real server's alert, use a blocking
ssl socket in a thread (see tests/probes/test_http_tls.py).

Built-in routes: /ok, /json, /status/{code}, /slow-drip (headers, then 1 byte/s),
/slow-headers (nothing until the client leaves), /huge (50 MiB), /gzip-bomb (~1 MiB of gzip
that inflates to 1 GiB of zeros), /gzip, /br, /deflate (zlib-wrapped), /deflate-raw,
/chunked, /close-delimited, /redirect-loop, /redirect/{n} (n hops, then 200),
/redirect-relative, /redirect-absolute, /redirect-to?url=..&status=.. , /close-mid-response
(promises 1000 bytes, sends 10, closes), /garbage (not HTTP), /empty (closes without a byte),
/head (GET: 1000 bytes; HEAD: Content-Length 1000 and then nothing until the client leaves),
/echo (the request as JSON: method, path, query, headers, body), /early-hints (103, then 200),
/reset (a TCP RST instead of an answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import json
import socket
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import brotli
import pytest

from tests.targets.loopthread import LoopThread

JSON_BODY = {"status": "ok", "build": "1.2.3", "data": [{"id": 7}]}
HUGE_SIZE = 50 * 1024 * 1024
BOMB_SIZE = 1024 * 1024 * 1024

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    404: "Not Found",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def param(self, name: str, default: str = "") -> str:
        return parse_qs(self.query).get(name, [default])[0]


@dataclass(frozen=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/plain"),)

    def encode(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.status not in (204, 304) and self.status >= 200:
            lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], Response | Awaitable[Response]]
RawHandler = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def json_response(payload: object, status: int = 200) -> Response:
    return Response(status, json.dumps(payload).encode(), (("Content-Type", "application/json"),))


def _redirect(location: str, status: int = 302) -> Response:
    return Response(status, b"", (("Location", location),))


@dataclass
class HttpTarget:
    port: int
    scheme: str = "http"
    _routes: dict[str, RawHandler] = field(default_factory=dict)
    _gzip_bomb: bytes | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(self, path: str, handler: Handler) -> None:
        self._routes[path] = _as_raw(handler)

    def raw_route(self, path: str, handler: RawHandler) -> None:
        self._routes[path] = handler

    def find(self, path: str) -> RawHandler | None:
        found = self._routes.get(path)
        if found is not None:
            return found
        prefixes = [p for p in self._routes if p.endswith("/") and path.startswith(p)]
        return self._routes[max(prefixes, key=len)] if prefixes else None

    def gzip_bomb(self) -> bytes:
        """1 GiB of zeros as one gzip member, built from identical full-flush deflate blocks."""
        if self._gzip_bomb is None:
            zeros = bytes(1024 * 1024)
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
            count = BOMB_SIZE // len(zeros)
            crc = 0
            for _ in range(count):
                crc = zlib.crc32(zeros, crc)
            header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
            trailer = compressor.flush(zlib.Z_FINISH) + struct.pack("<II", crc, BOMB_SIZE)
            self._gzip_bomb = header + block * count + trailer
        return self._gzip_bomb


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _ = lines[0].split(" ", 2)
    except ValueError:
        return None
    headers = tuple(
        (name.strip(), value.strip())
        for name, _, value in (line.partition(":") for line in lines[1:] if line)
    )
    path, _, query = target.partition("?")
    length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
    body = await reader.readexactly(length) if length else b""
    return Request(method, path, query, headers, body)


async def _until_client_leaves(reader: asyncio.StreamReader, limit: float = 60) -> None:
    with contextlib.suppress(TimeoutError, OSError):
        await asyncio.wait_for(reader.read(1), limit)


async def _write(writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Write and drain; False once the client has gone (so loops stop quietly)."""
    if writer.is_closing():
        return False
    try:
        writer.write(data)
        await writer.drain()
    except OSError:
        return False
    return True


def _as_raw(handler: Handler) -> RawHandler:
    async def raw(request: Request, _: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        result = handler(request)
        response = await result if inspect.isawaitable(result) else result
        await _write(w, response.encode())

    return raw


def _builtin_routes(target: HttpTarget) -> dict[str, RawHandler]:
    def status(request: Request) -> Response:
        code = int(request.path.rsplit("/", 1)[1])
        return Response(code, b"" if code in (204, 304) else f"status {code}".encode())

    def redirect_n(request: Request) -> Response:
        left = int(request.path.rsplit("/", 1)[1])
        return _redirect(f"/redirect/{left - 1}") if left > 0 else Response(200, b"arrived")

    def redirect_to(request: Request) -> Response:
        return _redirect(request.param("url"), int(request.param("status", "302")))

    def redirect_absolute(request: Request) -> Response:
        return _redirect(f"{target.scheme}://{request.header('host')}/ok", 301)

    def echo(request: Request) -> Response:
        return json_response(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": [list(pair) for pair in request.headers],
                "body": request.body.decode("latin-1"),
            }
        )

    def encoded(encoding: str, data: bytes) -> Handler:
        return lambda _: Response(200, data, (("Content-Encoding", encoding),))

    plain = b"hello, compressed world\n" * 100
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)

    async def slow_drip(_: Request, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if not await _write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"):
            return
        for _ in range(100):
            if not await _write(w, b"x"):
                return
            await asyncio.sleep(1)

    async def slow_headers(_: Request, reader: asyncio.StreamReader, __: object) -> None:
        await _until_client_leaves(reader)

    async def huge(_: Request, __: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {HUGE_SIZE}\r\nConnection: close\r\n\r\n"
        if not await _write(w, head.encode()):
            return
        chunk = b"z" * 65536
        for _ in range(HUGE_SIZE // len(chunk)):
            if not await _write(w, chunk):
                return

    async def gzip_bomb(_: Request, __: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        bomb = target.gzip_bomb()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
            f"Content-Length: {len(bomb)}\r\nConnection: close\r\n\r\n"
        )
        await _write(w, head.encode() + bomb)

    async def chunked(_: Request, __: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        if await _write(w, head):
            for part in (b"first,", b"second,", b"third"):
                if not await _write(w, b"%x\r\n%s\r\n" % (len(part), part)):
                    return
                await asyncio.sleep(0.001)
            await _write(w, b"0\r\n\r\n")

    async def close_delimited(_: Request, __: object, w: asyncio.StreamWriter) -> None:
        if await _write(w, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil "):
            await asyncio.sleep(0.01)
            await _write(w, b"the end")

    async def close_mid(_: Request, __: object, w: asyncio.StreamWriter) -> None:
        await _write(w, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")

    async def garbage(_: Request, __: object, w: asyncio.StreamWriter) -> None:
        await _write(w, b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n")

    async def empty(_: Request, __: object, ___: object) -> None:
        return None

    async def head(request: Request, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n"
        if request.method == "HEAD":
            if await _write(w, response):
                await _until_client_leaves(reader)
        else:
            await _write(w, response + b"h" * 1000)

    async def early_hints(_: Request, __: object, w: asyncio.StreamWriter) -> None:
        hint = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        if await _write(w, hint):
            await asyncio.sleep(0.005)
            await _write(w, Response(200, b"hinted").encode())

    async def reset(_: Request, __: object, w: asyncio.StreamWriter) -> None:
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.transport.abort()

    routes: dict[str, Handler] = {
        "/ok": lambda _: Response(200, b"ok\n"),
        "/json": lambda _: json_response(JSON_BODY),
        "/status/": status,
        "/redirect/": redirect_n,
        "/redirect-to": redirect_to,
        "/redirect-loop": lambda _: _redirect("/redirect-loop"),
        "/redirect-relative": lambda _: _redirect("ok", 302),
        "/redirect-absolute": redirect_absolute,
        "/echo": echo,
        "/gzip": encoded("gzip", gzip.compress(plain)),
        "/br": encoded("br", brotli.compress(plain)),
        "/deflate": encoded("deflate", zlib.compress(plain)),
        "/deflate-raw": encoded("deflate", deflater.compress(plain) + deflater.flush()),
    }
    raw: dict[str, RawHandler] = {
        "/slow-drip": slow_drip,
        "/slow-headers": slow_headers,
        "/huge": huge,
        "/gzip-bomb": gzip_bomb,
        "/chunked": chunked,
        "/close-delimited": close_delimited,
        "/close-mid-response": close_mid,
        "/garbage": garbage,
        "/empty": empty,
        "/head": head,
        "/early-hints": early_hints,
        "/reset": reset,
    }
    return {path: _as_raw(handler) for path, handler in routes.items()} | raw


async def _serve(target: HttpTarget, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        request = await _read_request(reader)
        if request is None:
            return
        handler = target.find(request.path)
        if handler is None:
            await _write(w, Response(404, b"no such route\n").encode())
            return
        await handler(request, reader, w)
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        w.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await w.wait_closed()


@pytest.fixture(scope="session")
def start_http_target() -> Iterator[Callable[..., HttpTarget]]:
    thread = LoopThread("http-targets")
    servers: list[asyncio.Server] = []

    def start(ssl_context: ssl.SSLContext | None = None) -> HttpTarget:
        target = HttpTarget(0, "https" if ssl_context else "http")
        target._routes.update(_builtin_routes(target))

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _serve(target, reader, writer)

        server = thread.call(asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context))
        servers.append(server)
        target.port = server.sockets[0].getsockname()[1]
        return target

    yield start
    for server in servers:
        thread.loop.call_soon_threadsafe(server.close)
    thread.stop()


@pytest.fixture(scope="session")
def http_target(start_http_target: Callable[..., HttpTarget]) -> HttpTarget:
    return start_http_target()


@pytest.fixture(scope="session")
def https_target(
    start_http_target: Callable[..., HttpTarget],
    server_ssl_context: Callable[[str], ssl.SSLContext],
) -> HttpTarget:
    return start_http_target(server_ssl_context("good"))
