"""Certificate facts and hostname matching, checked against OpenSSL's own verdict."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from upstate.probes.certs import cert_info, matches_hostname

NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issued:
    der: bytes
    cert_pem: bytes
    key_pem: bytes


class MiniCA:
    """Just enough of a CA to issue leaves with arbitrary names (trustme always adds a SAN)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Mini CA"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Mini Root"),
            ]
        )
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        common_name: str | None = None,
        serial: int = 0x0ABC,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Leaf Org")]
        if common_name:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - dt.timedelta(hours=1))
            .not_valid_after(NOW + dt.timedelta(days=10))
        )
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(
            der=cert.public_bytes(serialization.Encoding.DER),
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


@pytest.fixture(scope="module")
def mini_ca() -> MiniCA:
    return MiniCA()


def openssl_matches(
    mini_ca: MiniCA, issued: Issued, host: str, tmp_path_factory: pytest.TempPathFactory
) -> bool:
    """OpenSSL's verdict, from a real handshake over memory BIOs (no sockets)."""
    folder = tmp_path_factory.mktemp("leaf")
    (folder / "leaf.pem").write_bytes(issued.cert_pem)
    (folder / "leaf.key").write_bytes(issued.key_pem)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(folder / "leaf.pem", folder / "leaf.key")
    client_ctx = ssl.create_default_context(cadata=mini_ca.pem.decode())
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                if exc.verify_code not in (62, 64):  # hostname or IP address mismatch
                    raise
                return False
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    client.do_handshake()
    return True


CASES = [
    # (dns SANs, ip SANs, common name, host, expected)
    (("example.com",), (), None, "example.com", True),
    (("example.com",), (), None, "EXAMPLE.com", True),
    (("example.com",), (), None, "example.com.", False),  # OpenSSL keeps the trailing dot
    (("example.com",), (), None, "www.example.com", False),
    (("*.example.com",), (), None, "www.example.com", True),
    (("*.example.com",), (), None, "WWW.Example.COM", True),
    (("*.example.com",), (), None, "example.com", False),
    (("*.example.com",), (), None, "a.b.example.com", False),
    (("*.example.com",), (), None, "under_score.example.com", False),
    (("*.com",), (), None, "example.com", False),
    (("f*.example.com",), (), None, "foo.example.com", False),
    (("www.*.example.com",), (), None, "www.a.example.com", False),
    (("xn--bcher-kva.example",), (), None, "xn--bcher-kva.example", True),
    ((), ("127.0.0.1",), None, "127.0.0.1", True),
    ((), ("127.0.0.1",), None, "127.0.0.2", False),
    ((), ("::1",), None, "::1", True),
    ((), ("::1",), None, "0:0:0:0:0:0:0:1", True),
    (("127.0.0.1",), (), None, "127.0.0.1", False),  # a DNS SAN never vouches for an IP
    ((), (), "legacy.example", "legacy.example", True),  # no SAN at all: the CN counts
    ((), ("10.0.0.1",), "legacy.example", "legacy.example", True),  # IP-only SAN: CN counts
    (("new.example",), (), "legacy.example", "legacy.example", False),  # DNS SAN wins over CN
    ((), (), "10.0.0.1", "10.0.0.1", False),  # an IP host never matches the CN
]


@pytest.mark.parametrize(("dns", "ips", "common_name", "host", "expected"), CASES)
def test_it_matches_hostnames_as_openssl_does(
    mini_ca: MiniCA,
    tmp_path_factory: pytest.TempPathFactory,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    common_name: str | None,
    host: str,
    expected: bool,
) -> None:
    issued = mini_ca.issue(dns=dns, ips=ips, common_name=common_name)

    assert openssl_matches(mini_ca, issued, host, tmp_path_factory) is expected
    assert matches_hostname(issued.der, host) is expected


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# A CertInfo's SAN strings cannot tell a DNS SAN that reads as an IP from an IP SAN.
CERT_INFO_CASES = [case for case in CASES if not any(_is_ip(name) for name in case[0])]


@pytest.mark.parametrize(("dns", "ips", "common_name", "host", "expected"), CERT_INFO_CASES)
def test_it_matches_the_same_from_a_cert_info(
    mini_ca: MiniCA,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    common_name: str | None,
    host: str,
    expected: bool,
) -> None:
    issued = mini_ca.issue(dns=dns, ips=ips, common_name=common_name)
    info = cert_info(issued.der, chain_valid=False, hostname_match=False)

    assert matches_hostname(info, host) is expected


def test_it_matches_bare_san_strings() -> None:
    assert matches_hostname(["*.example.com", "10.1.2.3"], "api.example.com")
    assert matches_hostname(("*.example.com", "10.1.2.3"), "10.1.2.3")
    assert not matches_hostname(["*.example.com"], "10.1.2.3")
    assert not matches_hostname([], "example.com")


def test_it_encodes_an_international_name_before_matching() -> None:
    assert matches_hostname(["xn--bcher-kva.example"], "bücher.example")


def test_it_reads_every_fact_of_a_certificate(mini_ca: MiniCA) -> None:
    issued = mini_ca.issue(
        dns=("example.com", "*.example.com"), ips=("192.0.2.7", "2001:db8::1"), common_name="ex"
    )
    info = cert_info(issued.der, chain_valid=True, hostname_match=False)

    assert info.subject == "CN=ex,O=Leaf Org"
    assert info.issuer == "CN=Mini Root,O=Mini CA"
    assert info.san == ("example.com", "*.example.com", "192.0.2.7", "2001:db8::1")
    assert info.serial == "abc"
    assert info.fingerprint_sha256 == hashlib.sha256(issued.der).hexdigest()
    assert info.not_before.tzinfo is dt.UTC
    assert info.not_after.tzinfo is dt.UTC
    assert info.not_after - info.not_before == dt.timedelta(days=10, hours=1)
    assert info.chain_valid
    assert not info.hostname_match


def test_it_reuses_the_parse_for_the_same_certificate(mini_ca: MiniCA) -> None:
    issued = mini_ca.issue(dns=("cached.example",), serial=0x1234)
    first = cert_info(issued.der, chain_valid=True, hostname_match=True)
    again = cert_info(bytes(bytearray(issued.der)), chain_valid=True, hostname_match=True)
    other_flags = cert_info(issued.der, chain_valid=False, hostname_match=True)

    assert again is first  # equal bytes from another handshake hit the cache
    assert other_flags is not first
    assert not other_flags.chain_valid
    assert other_flags.fingerprint_sha256 == first.fingerprint_sha256


def test_it_refuses_bytes_that_are_not_a_certificate() -> None:
    with pytest.raises(ValueError, match=r"."):
        cert_info(b"\x30\x03\x02\x01\x00", chain_valid=False, hostname_match=False)
    with pytest.raises(ValueError, match=r"."):
        matches_hostname(b"not der", "example.com")
