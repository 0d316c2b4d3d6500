"""Loopback tcp targets: a banner server, an echo server, a silent one, a closer, a refused port.

Fixture `tcp_target` (session): TcpTargets with the ports, all on 127.0.0.1.
- banner: sends BANNER on connect, then waits for the client to go away.
- echo: sends back whatever it reads.
- silent: accepts and says nothing.
- closer: accepts and closes at once, without a word.
- refused: a port nothing listens on (bound, then closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.targets.loopthread import LoopThread

BANNER = b"220 upstate-test ESMTP\r\n"


@dataclass(frozen=True)
class TcpTargets:
    banner: int
    echo: int
    silent: int
    closer: int
    refused: int
    host: str = "127.0.0.1"


async def _until_gone(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while await reader.read(4096):
            pass
    writer.close()


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(BANNER)
    await _until_gone(reader, writer)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    writer.close()


async def _closer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on: bound to learn it, then closed."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def tcp_target() -> Iterator[TcpTargets]:
    thread = LoopThread("tcp-targets")
    servers = [
        thread.call(asyncio.start_server(handler, "127.0.0.1", 0))
        for handler in (_banner, _echo, _until_gone, _closer)
    ]
    banner, echo, silent, closer = (s.sockets[0].getsockname()[1] for s in servers)
    yield TcpTargets(banner, echo, silent, closer, refused=free_port())

    async def close() -> None:
        for server in servers:
            server.close()

    thread.call(close())
    thread.stop()
