"""Certificate facts from DER bytes, and hostname matching the way OpenSSL does it.

Shared by the tls and http probes. Parsing a certificate costs tens of microseconds
while the http probe may run thousands of times a second against the same few
servers, so the parse is cached by the DER bytes (an LRU keyed by the bytes
themselves: hashing ~1 KB is cheap and equality makes collisions impossible).

Conventions (see CertInfo):
- `subject` and `issuer` are full RFC 4514 strings ("CN=example.com,O=Example"),
  not just the CN: an issuer's CN alone ("R11") says little, and the string
  round-trips through `x509.Name.from_rfc4514_string`.
- `san` holds DNS names as written in the certificate (A-labels) and IP
  addresses in their canonical text form ("127.0.0.1", "::1").
- `serial` and `fingerprint_sha256` are lowercase hex without separators.
- `not_before` / `not_after` are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
import ipaddress
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from cryptography import x509
from cryptography.x509.oid import NameOID

from upstate.domain.observation import CertInfo

_CACHE_SIZE = 1024

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class _Names:
    """The names a certificate is valid for, split the way hostname checks need them."""

    dns: tuple[str, ...]  # lowercased
    ips: frozenset[IpAddress]
    common_names: tuple[str, ...]  # used only when there is no DNS name in the SAN


@dataclass(frozen=True, slots=True)
class _Parsed:
    info: CertInfo  # chain_valid and hostname_match False
    names: _Names


def cert_info(der: bytes, *, chain_valid: bool, hostname_match: bool) -> CertInfo:
    """The CertInfo of a DER certificate; cached. Raises ValueError if it cannot be parsed."""
    return _cert_info(der, chain_valid, hostname_match)


def matches_hostname(cert_or_san: CertInfo | bytes | Iterable[str], host: str) -> bool:
    """True when the certificate is valid for `host` (a DNS name or an IP literal).

    `cert_or_san` is a DER certificate (exact), a CertInfo, or its SAN strings.
    From a CertInfo or bare strings an entry that reads as an IP address counts as
    an IP SAN. Rules follow RFC 6125 as OpenSSL applies them for Python's ssl
    module, so the tls and http probes agree with every Python client:
    case-insensitive; a trailing dot is not ignored; a wildcard only as the whole
    leftmost label, matching exactly one label, never in `*.tld`; an IP host
    matches only IP SANs; the subject CN counts only when the SAN has no DNS name.
    Raises ValueError for undecodable DER.
    """
    if isinstance(cert_or_san, bytes | bytearray | memoryview):
        return _der_matches(bytes(cert_or_san), host)
    if isinstance(cert_or_san, CertInfo):
        names = _names_from_strings(cert_or_san.san, cert_or_san.subject)
    else:
        names = _names_from_strings(tuple(cert_or_san), "")
    return _matches(names, host)


@lru_cache(maxsize=_CACHE_SIZE)
def _der_matches(der: bytes, host: str) -> bool:
    return _matches(_parse(der).names, host)


@lru_cache(maxsize=_CACHE_SIZE)
def _cert_info(der: bytes, chain_valid: bool, hostname_match: bool) -> CertInfo:
    base = _parse(der).info
    if not chain_valid and not hostname_match:
        return base
    return replace(base, chain_valid=chain_valid, hostname_match=hostname_match)


@lru_cache(maxsize=_CACHE_SIZE)
def _parse(der: bytes) -> _Parsed:
    with warnings.catch_warnings():
        # cryptography warns (rather than fails) on some lax encodings, e.g. negative
        # serial numbers; a monitor reports such certificates, it does not reject them.
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
        serial = cert.serial_number
        subject = cert.subject
        try:
            san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            san_ext = None
    dns: list[str] = []
    ips: list[IpAddress] = []
    if san_ext is not None:
        dns = [name for name in san_ext.get_values_for_type(x509.DNSName)]
        ips = [
            ip
            for ip in san_ext.get_values_for_type(x509.IPAddress)
            if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        ]
    info = CertInfo(
        subject=subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san=(*dns, *(str(ip) for ip in ips)),
        serial=format(serial, "x") if serial >= 0 else "-" + format(-serial, "x"),
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
    )
    names = _Names(
        dns=tuple(_normal(name) for name in dns),
        ips=frozenset(ips),
        common_names=tuple(
            _normal(str(attr.value)) for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ),
    )
    return _Parsed(info, names)


@lru_cache(maxsize=_CACHE_SIZE)
def _names_from_strings(san: tuple[str, ...], subject: str) -> _Names:
    dns: list[str] = []
    ips: list[IpAddress] = []
    for entry in san:
        try:
            ips.append(ipaddress.ip_address(entry.strip("[]")))
        except ValueError:
            dns.append(_normal(entry))
    common_names: tuple[str, ...] = ()
    if subject and not dns:
        try:
            name = x509.Name.from_rfc4514_string(subject)
        except ValueError:
            name = x509.Name([])
        common_names = tuple(
            _normal(str(attr.value)) for attr in name.get_attributes_for_oid(NameOID.COMMON_NAME)
        )
    return _Names(tuple(dns), frozenset(ips), common_names)


def _normal(name: str) -> str:
    return name.strip().lower()


def _matches(names: _Names, host: str) -> bool:
    address, wanted = _host_key(host)
    if address is not None:
        return address in names.ips  # an IP host never matches a DNS name or the CN
    if not wanted:
        return False
    patterns = names.dns or names.common_names
    return any(_match_pattern(pattern, wanted) for pattern in patterns)


@lru_cache(maxsize=_CACHE_SIZE)
def _host_key(host: str) -> tuple[IpAddress | None, str]:
    """(the IP address, None) for an IP literal, else (None, the lowercased A-label name)."""
    bare = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0]), ""
    except ValueError:
        return None, _a_label(bare).lower()


def _a_label(host: str) -> str:
    """The ASCII form Python's ssl module sends and checks (the "idna" codec, IDNA 2003)."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _match_pattern(pattern: str, host: str) -> bool:
    if pattern == host:
        return True
    if not pattern.startswith("*."):
        return False  # partial wildcards (f*.example.com) are not honoured, as in OpenSSL
    suffix = pattern[1:]  # ".example.com"
    if suffix.count(".") < 2 or "*" in suffix:
        return False  # "*.com" is never valid
    label, dot, rest = host.partition(".")
    if not dot or "." + rest != suffix or not label:
        return False
    return all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in label)
