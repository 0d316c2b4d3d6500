"""The http probe against real loopback servers (tests/targets/http.py): bodies and errors."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import socket
import time
import tracemalloc
from datetime import UTC
from pathlib import Path

import pytest

from tests.probes.http_helpers import echoed, echoed_header, probe
from tests.targets.http import JSON_BODY, HttpTarget, Response
from upstate import __version__
from upstate.domain.enums import ErrorKind, IpFamily
from upstate.probes._http1 import Exchange

PLAIN = b"hello, compressed world\n" * 100


async def test_it_fetches_a_page_with_every_plain_phase(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/ok"))

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"ok\n"
    assert observation.connected
    assert observation.ip == "127.0.0.1"
    phases = observation.phases
    assert phases.dns is None  # an IP literal needs no lookup
    assert phases.tls is None
    assert phases.connect is not None
    assert phases.connect > 0
    assert phases.ttfb is not None
    assert phases.ttfb > 0
    assert phases.transfer is not None
    assert phases.transfer >= 0
    assert observation.duration_ms >= phases.connect + phases.ttfb
    assert observation.started_at.tzinfo is UTC
    assert observation.loop_lag_ms is not None
    assert observation.redirects == ()


async def test_it_times_the_lookup_of_a_name(http_target: HttpTarget) -> None:
    observation = await probe(f"http://localhost:{http_target.port}/ok")

    assert observation.status_code == 200
    assert observation.phases.dns is not None
    assert observation.phases.dns > 0
    assert observation.ip == "127.0.0.1"


async def test_it_keeps_headers_and_body_as_received(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/json"))

    assert json.loads(observation.body) == JSON_BODY
    assert observation.header("content-type") == "application/json"
    assert ("Connection", "close") in observation.headers


@pytest.mark.parametrize("code", [201, 404, 500, 503])
async def test_it_reports_any_status_without_judging_it(http_target: HttpTarget, code: int) -> None:
    observation = await probe(http_target.url(f"/status/{code}"))

    assert observation.error is None
    assert observation.status_code == code
    assert observation.body == f"status {code}".encode()


@pytest.mark.parametrize("code", [204, 304])
async def test_it_expects_no_body_after_204_and_304(http_target: HttpTarget, code: int) -> None:
    observation = await probe(http_target.url(f"/status/{code}"), timeout_s=2)

    assert observation.error is None
    assert observation.status_code == code
    assert observation.body == b""


async def test_it_sends_its_user_agent_and_plain_defaults(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/echo?x=1"))

    assert echoed_header(observation, "User-Agent") == f"Upstate/{__version__}"
    assert echoed_header(observation, "Host") == f"127.0.0.1:{http_target.port}"
    assert echoed_header(observation, "Accept-Encoding") == "gzip, deflate, br"
    assert echoed_header(observation, "Connection") == "close"
    assert echoed(observation)["query"] == "x=1"
    assert echoed(observation)["method"] == "GET"


async def test_it_lets_the_spec_choose_user_agent_and_host(http_target: HttpTarget) -> None:
    observation = await probe(
        http_target.url("/echo"),
        headers=(("User-Agent", "custom/1"), ("Host", "vhost.example"), ("X-Trace", "7")),
    )

    assert echoed_header(observation, "User-Agent") == "custom/1"
    assert echoed_header(observation, "Host") == "vhost.example"
    assert echoed_header(observation, "X-Trace") == "7"


async def test_it_sends_the_method_and_body(http_target: HttpTarget) -> None:
    observation = await probe(
        http_target.url("/echo"),
        method="put",
        body=b'{"a": 1}',
        headers=(("Content-Type", "application/json"),),
    )

    assert echoed(observation)["method"] == "PUT"
    assert echoed(observation)["body"] == '{"a": 1}'
    assert echoed_header(observation, "Content-Length") == "8"


async def test_it_sends_basic_auth(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/echo"), basic_auth=("monitor", "s3cret"))

    assert echoed_header(observation, "Authorization") == "Basic bW9uaXRvcjpzM2NyZXQ="


async def test_it_sends_a_bearer_token(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/echo"), bearer_token="tok-123")

    assert echoed_header(observation, "Authorization") == "Bearer tok-123"


@pytest.mark.parametrize("path", ["/gzip", "/br", "/deflate", "/deflate-raw"])
async def test_it_decodes_compressed_bodies(http_target: HttpTarget, path: str) -> None:
    observation = await probe(http_target.url(path))

    assert observation.error is None
    assert observation.body == PLAIN
    assert not observation.body_truncated


async def test_it_reports_a_body_that_does_not_decode(http_target: HttpTarget) -> None:
    http_target.route(
        "/test-bad-gzip",
        lambda _: Response(200, b"definitely not gzip", (("Content-Encoding", "gzip"),)),
    )

    observation = await probe(http_target.url("/test-bad-gzip"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.INVALID_RESPONSE
    assert observation.status_code == 200


async def test_it_keeps_unknown_encodings_as_bytes(http_target: HttpTarget) -> None:
    http_target.route(
        "/test-zstd", lambda _: Response(200, b"\x28\xb5\x2f\xfd", (("Content-Encoding", "zstd"),))
    )

    observation = await probe(http_target.url("/test-zstd"))

    assert observation.error is None
    assert observation.body == b"\x28\xb5\x2f\xfd"


async def test_it_bounds_a_gzip_bomb_in_memory_and_time(http_target: HttpTarget) -> None:
    http_target.gzip_bomb()  # built once, before the clock and the memory count start
    tracemalloc.start()
    began = time.perf_counter()
    try:
        observation = await probe(http_target.url("/gzip-bomb"), max_body=256 * 1024)
        elapsed = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert observation.error is None
    assert observation.body_truncated
    assert observation.body == bytes(256 * 1024)
    assert elapsed < 1.0
    assert peak < 8 * 1024 * 1024  # against 1 GiB if it were inflated


async def test_it_truncates_a_huge_body_without_reading_it(http_target: HttpTarget) -> None:
    began = time.perf_counter()
    observation = await probe(http_target.url("/huge"), max_body=64 * 1024)

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body_truncated
    assert observation.body == b"z" * 64 * 1024
    assert time.perf_counter() - began < 1.0


async def test_it_keeps_a_body_of_exactly_max_body(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/head"), max_body=1000)

    assert observation.body == b"h" * 1000
    assert not observation.body_truncated


async def test_it_reads_a_chunked_body(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/chunked"))

    assert observation.error is None
    assert observation.body == b"first,second,third"


async def test_it_reads_a_body_delimited_by_the_close(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/close-delimited"))

    assert observation.error is None
    assert observation.body == b"until the end"
    assert observation.phases.transfer is not None


async def test_it_reads_no_body_after_head(http_target: HttpTarget) -> None:
    began = time.perf_counter()
    observation = await probe(http_target.url("/head"), method="HEAD", timeout_s=5)

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.header("content-length") == "1000"
    assert observation.body == b""
    assert time.perf_counter() - began < 1.0  # it did not wait for the promised 1000 bytes


async def test_it_skips_informational_responses(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/early-hints"))

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"hinted"
    assert observation.header("link") is None


async def test_it_reports_a_close_in_mid_body_as_a_reset(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/close-mid-response"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.CONNECTION_RESET
    assert observation.error.message == (
        "connection closed by the server after 10 body bytes, before the response ended"
    )
    assert observation.status_code == 200
    assert observation.phases.transfer is None


async def test_it_reports_a_close_before_any_byte_as_a_reset(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/empty"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.CONNECTION_RESET
    assert observation.error.message == "connection closed by the server before any response"
    assert observation.connected
    assert observation.status_code is None


async def test_it_reports_a_tcp_reset(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/reset"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.CONNECTION_RESET
    assert observation.error.message == "connection reset by peer before any response"


async def test_it_refuses_a_spec_that_is_no_http_url() -> None:
    with pytest.raises(ValueError, match="not an http"):
        await probe("gopher://127.0.0.1/")


async def test_it_reports_bytes_that_are_not_http(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/garbage"))

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.INVALID_RESPONSE
    assert observation.status_code is None


async def test_it_reports_a_refused_connection() -> None:
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound but not listening: refused

        observation = await probe(f"http://127.0.0.1:{port}/")

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.CONNECTION_REFUSED
    assert not observation.connected
    assert observation.ip is None


async def test_it_reports_a_name_that_does_not_resolve() -> None:
    began = time.perf_counter()
    observation = await probe("http://nonexistent.invalid/", timeout_s=5)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.DNS_ERROR
    assert observation.error.message.startswith("dns: ")
    assert time.perf_counter() - began < 2.0


async def test_it_reports_an_address_of_the_wrong_family(http_target: HttpTarget) -> None:
    observation = await probe(http_target.url("/ok"), ip_family=IpFamily.IPV6)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.DNS_ERROR


async def test_it_holds_the_deadline_against_a_dripping_body(http_target: HttpTarget) -> None:
    began = time.perf_counter()
    observation = await probe(http_target.url("/slow-drip"), timeout_s=0.5)
    elapsed = time.perf_counter() - began

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TIMEOUT
    assert observation.error.message == "timed out after 0.5s during transfer"
    assert 0.5 - 0.005 <= elapsed < 0.5 + 0.1  # uvloop timers tick in ms
    assert observation.status_code == 200
    assert observation.phases.ttfb is not None


async def test_it_holds_the_deadline_against_silence(http_target: HttpTarget) -> None:
    began = time.perf_counter()
    observation = await probe(http_target.url("/slow-headers"), timeout_s=0.3)
    elapsed = time.perf_counter() - began

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TIMEOUT
    assert observation.error.message == "timed out after 0.3s during ttfb"
    assert 0.3 - 0.005 <= elapsed < 0.3 + 0.1  # uvloop timers tick in ms
    assert observation.connected
    assert observation.status_code is None


async def test_it_reads_gzip_written_by_the_stdlib(http_target: HttpTarget) -> None:
    payload = gzip.compress(b"x" * 100_000)
    http_target.route(
        "/test-gzip-big", lambda _: Response(200, payload, (("Content-Encoding", "gzip"),))
    )

    observation = await probe(http_target.url("/test-gzip-big"), max_body=100_000)

    assert observation.body == b"x" * 100_000
    assert not observation.body_truncated


async def test_it_holds_the_deadline_while_connecting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # fills the accept queue
            began = time.perf_counter()
            observation = await probe(f"http://127.0.0.1:{port}/", timeout_s=0.3)
            elapsed = time.perf_counter() - began

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TIMEOUT
    assert observation.error.message == "timed out after 0.3s during connect"
    assert not observation.connected
    assert 0.3 - 0.005 <= elapsed < 0.3 + 0.1  # uvloop timers tick in ms


async def test_it_probes_an_ipv6_literal() -> None:
    async def answer_with_host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        host = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"host:"))
        value = host[5:].strip()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(value), value))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_with_host, "::1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        observation = await probe(f"http://[::1]:{port}/", ip_family=IpFamily.IPV6)

    assert observation.error is None
    assert observation.ip == "::1"
    assert observation.body == f"[::1]:{port}".encode()


def _time_wait_ports() -> set[int]:
    """Ports of TIME_WAIT sockets (either end) in /proc/net/tcp."""
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "06":
            ports.add(int(fields[1].split(":")[1], 16))
            ports.add(int(fields[2].split(":")[1], 16))
    return ports


async def test_it_closes_first_with_a_reset_leaving_no_time_wait() -> None:
    served = asyncio.Semaphore(0)

    async def answer_and_stay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        with contextlib.suppress(OSError):
            await reader.read(1)  # the server stays until the client leaves: it closes first
        writer.close()
        served.release()

    server = await asyncio.start_server(answer_and_stay, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        for _ in range(20):
            observation = await probe(f"http://127.0.0.1:{port}/")
            assert observation.error is None
            assert observation.body == b"ok"
        for _ in range(20):  # every close seen by the server: a FIN would have left TIME_WAIT
            await asyncio.wait_for(served.acquire(), 5)

    assert port not in _time_wait_ports()


async def test_it_leaves_no_exchange_for_the_cycle_collector(http_target: HttpTarget) -> None:
    gc.collect()
    gc.disable()  # what is still alive now was not freed by reference counting
    try:
        for _ in range(5):
            observation = await probe(http_target.url("/ok"))
            assert observation.status_code == 200
        left = [o for o in gc.get_objects() if isinstance(o, Exchange)]
    finally:
        gc.enable()

    assert left == []
