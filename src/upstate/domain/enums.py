"""The closed vocabularies of Upstate. Everything that has a state uses these."""

from __future__ import annotations

from enum import StrEnum


class MonitorKind(StrEnum):
    HTTP = "http"
    TCP = "tcp"
    DNS = "dns"
    ICMP = "icmp"
    TLS = "tls"
    PUSH = "push"
    STATUSPAGE = "statuspage"
    HOST = "host"
    COMPOSITE = "composite"


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"
    PAUSED = "paused"


class ErrorKind(StrEnum):
    """Why a probe got no usable answer. A closed set: every failure maps to one."""

    TIMEOUT = "timeout"
    DNS_ERROR = "dns_error"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION_RESET = "connection_reset"
    TLS_ERROR = "tls_error"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    INVALID_RESPONSE = "invalid_response"
    ICMP_NOT_PERMITTED = "icmp_not_permitted"
    UNREACHABLE = "unreachable"


class TlsReason(StrEnum):
    EXPIRED = "expired"
    SELF_SIGNED = "self_signed"
    HOSTNAME_MISMATCH = "hostname_mismatch"
    UNTRUSTED = "untrusted"
    HANDSHAKE = "handshake"


class IpFamily(StrEnum):
    """Which address family a probe may use: `any` prefers IPv4 then IPv6 in resolver order."""

    ANY = "any"
    IPV4 = "ipv4"
    IPV6 = "ipv6"


class ComponentStatus(StrEnum):
    """Statuspage vocabulary for what a status page shows."""

    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
