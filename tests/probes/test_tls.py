"""The tls probe against loopback listeners: good and bad certificates, non-TLS peers."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from collections.abc import Iterator

import pytest

from tests.targets.loopthread import LoopThread
from upstate.domain.enums import ErrorKind, MonitorKind, TlsReason
from upstate.domain.specs import TlsSpec
from upstate.probes import tls
from upstate.probes.base import ProbeContext


@pytest.fixture(scope="module")
def ctx() -> ProbeContext:
    """Shared, as in production: building an SSL context loads the system trust store (~0.1 s)."""
    return ProbeContext(region="test")


@pytest.fixture(scope="module")
def plain_listeners() -> Iterator[dict[str, int]]:
    """Plain TCP: "http" answers anything with an HTTP 400; "hangup" closes on accept."""

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.read(1024), 5)
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def hangup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    thread = LoopThread("plain-targets")
    servers = {
        "http": thread.call(asyncio.start_server(http, "127.0.0.1", 0)),
        "hangup": thread.call(asyncio.start_server(hangup, "127.0.0.1", 0)),
    }
    yield {name: server.sockets[0].getsockname()[1] for name, server in servers.items()}
    for server in servers.values():
        server.close()
    thread.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A listener that completes TCP (the kernel does) but never says a word."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as sock:
        yield sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


async def test_it_verifies_a_good_certificate(
    tls_endpoint: dict[str, int], ca_file: str, ctx: ProbeContext
) -> None:
    spec = TlsSpec(
        host="127.0.0.1", port=tls_endpoint["good"], server_name="localhost", ca_file=ca_file
    )
    obs = await tls.run(spec, ctx)

    assert obs.error is None
    assert obs.kind is MonitorKind.TLS
    assert obs.target == f"127.0.0.1:{tls_endpoint['good']}"
    assert obs.region == "test"
    assert obs.connected
    assert obs.ip == "127.0.0.1"
    assert obs.cert is not None
    assert obs.cert.chain_valid
    assert obs.cert.hostname_match
    assert obs.tls_version in ("TLSv1.2", "TLSv1.3")
    assert obs.tls_cipher
    assert obs.phases.dns is None  # an IP literal needs no lookup
    assert obs.phases.connect is not None
    assert obs.phases.tls is not None
    assert obs.duration_ms >= obs.phases.connect + obs.phases.tls


async def test_it_fills_every_certificate_fact(
    tls_endpoint: dict[str, int], ca_file: str, ctx: ProbeContext
) -> None:
    spec = TlsSpec(host="127.0.0.1", port=tls_endpoint["good"], ca_file=ca_file)
    obs = await tls.run(spec, ctx)

    assert obs.error is None  # the certificate names 127.0.0.1 as an IP SAN
    cert = obs.cert
    assert cert is not None
    assert cert.san == ("localhost", "127.0.0.1", "::1")
    assert "O=trustme" in cert.subject
    assert "O=Upstate Test CA" in cert.issuer
    assert cert.not_before.tzinfo is dt.UTC
    assert cert.not_before < dt.datetime.now(dt.UTC) < cert.not_after
    assert len(cert.fingerprint_sha256) == 64
    assert int(cert.serial, 16) > 0


async def test_it_times_the_lookup_of_a_name(
    tls_endpoint: dict[str, int], ca_file: str, ctx: ProbeContext
) -> None:
    spec = TlsSpec(host="localhost", port=tls_endpoint["good"], ca_file=ca_file)
    obs = await tls.run(spec, ctx)

    assert obs.error is None
    assert obs.phases.dns is not None
    assert obs.target == f"localhost:{tls_endpoint['good']}"


@pytest.mark.parametrize(
    ("name", "reason", "chain_valid", "hostname_match"),
    [
        ("expired", TlsReason.EXPIRED, False, True),
        ("wrong_host", TlsReason.HOSTNAME_MISMATCH, True, False),
        ("self_signed", TlsReason.SELF_SIGNED, False, False),
        ("untrusted", TlsReason.UNTRUSTED, False, True),
    ],
)
async def test_it_names_why_a_certificate_is_bad_and_still_shows_it(
    tls_endpoint: dict[str, int],
    ca_file: str,
    ctx: ProbeContext,
    name: str,
    reason: TlsReason,
    chain_valid: bool,
    hostname_match: bool,
) -> None:
    spec = TlsSpec(
        host="127.0.0.1", port=tls_endpoint[name], server_name="localhost", ca_file=ca_file
    )
    obs = await tls.run(spec, ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.TLS_ERROR
    assert obs.error.reason is reason
    assert obs.error.message.startswith("tls: ")
    assert obs.connected
    assert obs.cert is not None
    assert obs.cert.chain_valid is chain_valid
    assert obs.cert.hostname_match is hostname_match
    assert obs.cert.not_after.tzinfo is dt.UTC
    assert obs.cert.fingerprint_sha256
    assert obs.tls_version is not None


async def test_it_shows_when_an_expired_certificate_ran_out(
    tls_endpoint: dict[str, int], ca_file: str, ctx: ProbeContext
) -> None:
    spec = TlsSpec(
        host="127.0.0.1", port=tls_endpoint["expired"], server_name="localhost", ca_file=ca_file
    )
    obs = await tls.run(spec, ctx)

    assert obs.error is not None
    assert "expired" in obs.error.message
    assert obs.cert is not None
    assert obs.cert.not_after < dt.datetime.now(dt.UTC)


async def test_it_says_which_names_a_misissued_certificate_has(
    tls_endpoint: dict[str, int], ca_file: str, ctx: ProbeContext
) -> None:
    spec = TlsSpec(
        host="127.0.0.1", port=tls_endpoint["wrong_host"], server_name="localhost", ca_file=ca_file
    )
    obs = await tls.run(spec, ctx)

    assert obs.error is not None
    assert obs.error.message == (
        "tls: certificate is not valid for 'localhost' (it names other.example)"
    )
    assert obs.cert is not None
    assert obs.cert.san == ("other.example",)


async def test_it_does_not_trust_the_test_ca_without_ca_file(
    tls_endpoint: dict[str, int], ctx: ProbeContext
) -> None:
    spec = TlsSpec(host="127.0.0.1", port=tls_endpoint["good"], server_name="localhost")
    obs = await tls.run(spec, ctx)

    assert obs.error is not None
    assert obs.error.reason is TlsReason.UNTRUSTED
    assert obs.cert is not None
    assert not obs.cert.chain_valid
    assert obs.cert.hostname_match


@pytest.mark.parametrize("listener", ["http", "hangup"])
async def test_it_reports_a_peer_that_does_not_speak_tls_as_a_handshake_failure(
    plain_listeners: dict[str, int], ctx: ProbeContext, listener: str
) -> None:
    obs = await tls.run(TlsSpec(host="127.0.0.1", port=plain_listeners[listener]), ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.TLS_ERROR
    assert obs.error.reason is TlsReason.HANDSHAKE
    assert obs.connected
    assert obs.cert is None
    assert obs.phases.tls is not None
    if listener == "http":
        assert obs.error.message == (
            "tls: handshake failed, wrong version number: the port does not seem to speak TLS"
        )


async def test_it_reports_a_refused_connection(closed_port: int, ctx: ProbeContext) -> None:
    obs = await tls.run(TlsSpec(host="127.0.0.1", port=closed_port), ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.CONNECTION_REFUSED
    assert obs.error.message == "connect: connection refused"
    assert not obs.connected
    assert obs.phases.tls is None


async def test_it_gives_up_on_a_silent_peer_at_the_deadline(
    silent_port: int, ctx: ProbeContext
) -> None:
    began = time.perf_counter()
    obs = await tls.run(TlsSpec(host="127.0.0.1", port=silent_port, timeout_s=0.3), ctx)
    took = time.perf_counter() - began

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.TIMEOUT
    assert obs.error.message == "tls: timed out after 0.3s"
    assert obs.connected
    assert 0.29 <= took < 0.4  # uvloop's clock ticks in milliseconds
    assert obs.duration_ms < 400


async def test_it_reports_a_name_that_does_not_resolve(ctx: ProbeContext) -> None:
    obs = await tls.run(TlsSpec(host="no-such-host.invalid", port=443, timeout_s=2), ctx)

    assert obs.error is not None
    assert obs.error.kind is ErrorKind.DNS_ERROR
    assert obs.error.message.startswith("dns: ")
    assert not obs.connected
