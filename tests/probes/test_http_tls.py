"""The http probe over TLS: phases, certificate facts, verification failures, client certs."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.targets.http import HttpTarget
from tests.targets.tls import CertPair
from upstate.domain.enums import ErrorKind, TlsReason
from upstate.domain.observation import Observation
from upstate.domain.specs import HttpSpec
from upstate.probes import http
from upstate.probes.base import ProbeContext


async def probe(url: str, **options: object) -> Observation:
    return await http.run(HttpSpec(url=url, **options), ProbeContext())  # type: ignore[arg-type]


def leaf(pair: CertPair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(pair.cert_file).read_bytes())


async def test_it_times_the_handshake_apart_from_the_connect(
    https_target: HttpTarget, ca_file: str
) -> None:
    observation = await probe(https_target.url("/ok"), ca_file=ca_file)

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"ok\n"
    phases = observation.phases
    assert phases.connect is not None
    assert phases.connect > 0
    assert phases.tls is not None
    assert phases.tls > 0
    assert phases.ttfb is not None
    assert phases.ttfb > 0
    assert phases.transfer is not None


async def test_it_fills_the_certificate_facts(
    https_target: HttpTarget, ca_file: str, certs: dict[str, CertPair]
) -> None:
    observation = await probe(https_target.url("/ok"), ca_file=ca_file)

    expected = leaf(certs["good"])
    cert = observation.cert
    assert cert is not None
    assert cert.not_after == expected.not_valid_after_utc
    assert cert.not_after.tzinfo is not None
    assert cert.not_before == expected.not_valid_before_utc
    assert cert.san == ("localhost", "127.0.0.1", "::1")
    assert cert.serial == format(expected.serial_number, "x")
    der = expected.public_bytes(Encoding.DER)
    assert cert.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert "Upstate Test CA" in cert.issuer
    assert cert.chain_valid
    assert cert.hostname_match


async def test_it_sends_the_name_for_sni_and_verification(
    https_target: HttpTarget, ca_file: str
) -> None:
    observation = await probe(f"https://localhost:{https_target.port}/json", ca_file=ca_file)

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.phases.dns is not None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("expired", TlsReason.EXPIRED),
        ("wrong_host", TlsReason.HOSTNAME_MISMATCH),
        ("self_signed", TlsReason.SELF_SIGNED),
        ("untrusted", TlsReason.UNTRUSTED),
    ],
)
async def test_it_names_why_a_certificate_is_refused(
    tls_endpoint: dict[str, int], ca_file: str, name: str, reason: TlsReason
) -> None:
    observation = await probe(f"https://127.0.0.1:{tls_endpoint[name]}/", ca_file=ca_file)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TLS_ERROR
    assert observation.error.reason is reason
    assert observation.error.message.startswith("tls: ")
    assert observation.connected
    assert observation.status_code is None


async def test_it_refuses_the_test_ca_without_its_ca_file(https_target: HttpTarget) -> None:
    observation = await probe(https_target.url("/ok"))

    assert observation.error is not None
    assert observation.error.reason is TlsReason.UNTRUSTED


async def test_it_accepts_anything_without_verification_and_still_reads_the_cert(
    tls_endpoint: dict[str, int], certs: dict[str, CertPair]
) -> None:
    observation = await probe(f"https://127.0.0.1:{tls_endpoint['expired']}/", tls_verify=False)

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"tls ok"
    cert = observation.cert
    assert cert is not None
    assert cert.not_after == leaf(certs["expired"]).not_valid_after_utc
    assert cert.not_after < datetime.now(UTC)
    assert not cert.chain_valid  # not checked, so not claimed
    assert cert.hostname_match  # the expired certificate does name 127.0.0.1


async def test_it_matches_the_name_itself_when_not_verifying(tls_endpoint: dict[str, int]) -> None:
    observation = await probe(f"https://127.0.0.1:{tls_endpoint['wrong_host']}/", tls_verify=False)

    assert observation.cert is not None
    assert observation.cert.san == ("other.example",)
    assert not observation.cert.hostname_match


@pytest.fixture(scope="module")
def mtls_url(certs: dict[str, CertPair], ca_file: str) -> Iterator[str]:
    """A server that demands a client certificate from the test CA.

    Blocking sockets in a thread, because asyncio's TLS server closes without sending
    its alert when a handshake fails, and the point here is what a real server says.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_file)
    context.load_cert_chain(certs["good"].cert_file, certs["good"].key_file)
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    address = listener.getsockname()
    stop = threading.Event()

    def serve() -> None:
        while True:
            raw, _ = listener.accept()
            if stop.is_set():
                raw.close()
                return
            with raw:
                raw.settimeout(5)
                try:
                    with context.wrap_socket(raw, server_side=True) as tls:
                        tls.recv(65536)
                        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmtls")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, name="mtls-target", daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{address[1]}/"
    stop.set()
    socket.create_connection(address).close()  # wakes the accept()
    thread.join(5)
    listener.close()


@pytest.fixture(scope="module")
def client_pair(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    folder = tmp_path_factory.mktemp("client")
    issued = ca.issue_cert("probe.client.example")
    pair = CertPair(str(folder / "client.crt"), str(folder / "client.key"))
    issued.cert_chain_pems[0].write_to_path(pair.cert_file)
    issued.private_key_pem.write_to_path(pair.key_file)
    return pair


async def test_it_presents_a_client_certificate(
    mtls_url: str, ca_file: str, client_pair: CertPair
) -> None:
    observation = await probe(
        mtls_url,
        ca_file=ca_file,
        client_cert=client_pair.cert_file,
        client_key=client_pair.key_file,
    )

    assert observation.error is None
    assert observation.status_code == 200
    assert observation.body == b"mtls"


async def test_it_reports_a_server_that_wants_a_client_certificate(
    mtls_url: str, ca_file: str
) -> None:
    observation = await probe(mtls_url, ca_file=ca_file)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TLS_ERROR
    assert observation.error.reason is TlsReason.HANDSHAKE
    assert "CERTIFICATE_REQUIRED" in observation.error.message


async def test_it_follows_a_redirect_over_tls(https_target: HttpTarget, ca_file: str) -> None:
    observation = await probe(https_target.url("/redirect-absolute"), ca_file=ca_file)

    assert observation.error is None
    assert observation.redirects == (https_target.url("/ok"),)
    assert observation.body == b"ok\n"
    assert observation.cert is not None


async def test_it_holds_the_deadline_during_the_handshake(http_target: HttpTarget) -> None:
    # The plain server waits for a blank line that a ClientHello never sends.
    url = f"https://127.0.0.1:{http_target.port}/"

    observation = await probe(url, timeout_s=0.3)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TIMEOUT
    assert observation.error.message == "timed out after 0.3s during tls"
    assert observation.phases.tls is None


async def test_it_reports_a_server_that_answers_in_plain_text() -> None:
    async def plain(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nplain http here\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        observation = await probe(f"https://127.0.0.1:{port}/", timeout_s=2)

    assert observation.error is not None
    assert observation.error.kind is ErrorKind.TLS_ERROR
    assert observation.error.reason is TlsReason.HANDSHAKE
