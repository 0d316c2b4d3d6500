"""A small authoritative DNS server for the zone `example.test`, on 127.0.0.1 over UDP and TCP.

Fixture `dns_target` (session): DnsTarget(host, port, log), one port for both transports.
`log` lists every question as (transport, name, type), to show which transport answered.

The zone (see RECORDS): A, AAAA, MX, TXT, NS, SOA, CAA at the apex; `www` is a
CNAME to the apex; `big` holds TXT records too large for a UDP answer (TC set,
full answer over TCP); `silent` is never answered; `garbled` gets bytes that do
not parse; any other name is NXDOMAIN.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tests.targets.loopthread import LoopThread

ZONE = dns.name.from_text("example.test.")
SOA = "ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 300"
BIG_TXT = tuple(f'"chunk {i:02d} {"x" * 60}"' for i in range(40))

RECORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "example.test.": {
        "A": ("203.0.113.10",),
        "AAAA": ("2001:db8::10",),
        "MX": ("20 backup.example.test.", "10 mail.example.test."),
        "TXT": ('"v=spf1 -all"',),
        "NS": ("ns1.example.test.",),
        "SOA": (SOA,),
        "CAA": ('0 issue "letsencrypt.org"',),
    },
    "www.example.test.": {"CNAME": ("example.test.",)},
    "big.example.test.": {"TXT": BIG_TXT},
}
SILENT = "silent.example.test."
GARBLED = "garbled.example.test."


@dataclass
class DnsTarget:
    host: str
    port: int
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def asked(self, name: str) -> list[str]:
        """The transports that carried questions for `name`, in order."""
        return [transport for transport, asked, _ in self.log if asked == name]


def _rrset(name: str, rdtype: str) -> dns.rrset.RRset | None:
    texts = RECORDS.get(name, {}).get(rdtype)
    return dns.rrset.from_text_list(name, 300, "IN", rdtype, list(texts)) if texts else None


def answer(wire: bytes, transport: str, log: list[tuple[str, str, str]]) -> bytes | None:
    """The reply to one query, or None to stay silent."""
    query = dns.message.from_wire(wire)
    question = query.question[0]
    name = question.name.to_text().lower()
    rdtype = dns.rdatatype.to_text(question.rdtype)
    log.append((transport, name, rdtype))
    if name == SILENT:
        return None
    if name == GARBLED:  # a header promising one answer, then junk
        return wire[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xff\xff"
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if name not in RECORDS:
        response.set_rcode(dns.rcode.NXDOMAIN)
        response.authority.append(dns.rrset.from_text(ZONE, 300, "IN", "SOA", SOA))
    else:
        alias = _rrset(name, "CNAME")
        if alias is not None:
            response.answer.append(alias)
            if rdtype != "CNAME":
                name = alias[0].to_text()
        found = _rrset(name, rdtype)
        if found is not None and rdtype != "CNAME":
            response.answer.append(found)
    limit = 65535 if transport == "tcp" else (query.payload if query.edns >= 0 else 512)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        truncated = dns.message.make_response(query)
        truncated.flags |= dns.flags.AA | dns.flags.TC
        return truncated.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, log: list[tuple[str, str, str]]) -> None:
        self.log = log
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = answer(data, "udp", self.log)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def _tcp_handler(
    log: list[tuple[str, str, str]],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                (size,) = struct.unpack("!H", await reader.readexactly(2))
                reply = answer(await reader.readexactly(size), "tcp", log)
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        writer.close()

    return handle


async def _serve(target: DnsTarget) -> tuple[asyncio.DatagramTransport, asyncio.Server]:
    """UDP and TCP on the same free port (retried if TCP finds the port taken)."""
    loop = asyncio.get_running_loop()
    for _ in range(20):
        udp, _protocol = await loop.create_datagram_endpoint(
            lambda: _Udp(target.log), local_addr=(target.host, 0), family=socket.AF_INET
        )
        port = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(_tcp_handler(target.log), target.host, port)
        except OSError as exc:
            udp.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        target.port = port
        return udp, tcp
    raise RuntimeError("no port free for both UDP and TCP")


@pytest.fixture(scope="session")
def dns_target() -> Iterator[DnsTarget]:
    thread = LoopThread("dns-targets")
    target = DnsTarget("127.0.0.1", 0)
    udp, tcp = thread.call(_serve(target))
    yield target

    async def close() -> None:
        udp.close()
        tcp.close()

    thread.call(close())
    thread.stop()
