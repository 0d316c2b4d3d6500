"""A throw-away CA (trustme) and certificates good and bad, plus a plain TLS endpoint.

Fixtures:
- `ca`: the trusted test CA; `ca_file`: its PEM path (pass as ca_file to probes).
- `certs`: name -> CertPair(cert_file, key_file) for "good" (localhost, 127.0.0.1, ::1),
  "expired", "wrong_host" (only other.example), "self_signed", "untrusted" (another CA).
- `server_ssl_context(name)`: a server-side SSLContext presenting that certificate.
- `tls_endpoint`: name -> port of a TLS listener on 127.0.0.1 that completes the
  handshake, answers one HTTP/1.1 request with 200 "tls ok", and closes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.targets.loopthread import LoopThread


@dataclass(frozen=True)
class CertPair:
    cert_file: str
    key_file: str


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Upstate Test CA")


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _write(cert: trustme.LeafCert, folder: Path, name: str) -> CertPair:
    cert_file = folder / f"{name}.crt"
    key_file = folder / f"{name}.key"
    cert.private_key_pem.write_to_path(str(key_file))
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return CertPair(str(cert_file), str(key_file))


@pytest.fixture(scope="session")
def certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CertPair]:
    folder = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC)
    out = {
        "good": _write(ca.issue_cert("localhost", "127.0.0.1", "::1"), folder, "good"),
        "expired": _write(
            ca.issue_cert(
                "localhost",
                "127.0.0.1",
                not_before=now - dt.timedelta(days=30),
                not_after=now - dt.timedelta(days=1),
            ),
            folder,
            "expired",
        ),
        "wrong_host": _write(ca.issue_cert("other.example"), folder, "wrong_host"),
        "untrusted": _write(trustme.CA().issue_cert("localhost", "127.0.0.1"), folder, "untrusted"),
    }
    stranger = trustme.CA(organization_name="Self Signed")
    self_signed = CertPair(str(folder / "self_signed.crt"), str(folder / "self_signed.key"))
    stranger.cert_pem.write_to_path(self_signed.cert_file)
    stranger.private_key_pem.write_to_path(self_signed.key_file)
    out["self_signed"] = self_signed
    return out


@pytest.fixture(scope="session")
def server_ssl_context(certs: dict[str, CertPair]) -> Callable[[str], ssl.SSLContext]:
    def make(name: str) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs[name].cert_file, certs[name].key_file)
        return context

    return make


async def _answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ntls ok")
        await writer.drain()
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
        pass
    finally:
        writer.close()


@pytest.fixture(scope="session")
def tls_endpoint(
    server_ssl_context: Callable[[str], ssl.SSLContext],
) -> Iterator[dict[str, int]]:
    thread = LoopThread("tls-targets")
    ports: dict[str, int] = {}
    servers = []
    for name in ("good", "expired", "wrong_host", "self_signed", "untrusted"):
        server = thread.call(
            asyncio.start_server(_answer_once, "127.0.0.1", 0, ssl=server_ssl_context(name))
        )
        servers.append(server)
        ports[name] = server.sockets[0].getsockname()[1]
    yield ports
    for server in servers:
        server.close()
    thread.stop()
