"""Quick throughput of the http probe alone: probes/s and CPU µs per probe against nginx.

    .venv/bin/python bench/http_quick.py [--seconds 5] [--concurrency 32] [--scheme http]

nginx (one worker, pinned to core 0) answers 200 "ok" with the connection closed; the
probe loop runs on uvloop in this process, pinned to core 1. Every probe opens a fresh
connection and records the full timing breakdown. CPU is this process's user + system
time, so the figure is what one core spends per probe.

For scale, the same loop first runs a "floor": a bare asyncio.Protocol that connects,
writes a request, and closes at the first byte back (no parsing, no timing, no result).
What the probe costs above the floor is its own doing; the floor is the machine's.
Not part of make test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import nginx


class _Bare(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.done.done():
            self.done.set_result(None)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _floor(port: int, seconds: float, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    count = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop:
            bare = _Bare(loop.create_future())
            await loop.create_connection(lambda: bare, "127.0.0.1", port)  # noqa: B023
            await bare.done
            count += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(
        f"floor (bare protocol, plain): {count / wall:,.0f} probes/s wall, "
        f"{cpu / count * 1e6:.1f} µs CPU per probe"
    )


async def _loop(url: str, ca_file: str | None, seconds: float, concurrency: int) -> None:
    from upstate.domain.specs import HttpSpec
    from upstate.probes import http
    from upstate.probes.base import ProbeContext

    ctx = ProbeContext()
    spec = HttpSpec(url=url, ca_file=ca_file, timeout_s=5)
    outcomes: Counter[str] = Counter()
    ttfb: list[float] = []
    lag: list[float] = []
    for _ in range(200):  # warm caches (SSL context, certificate facts, parsed URL)
        await http.run(spec, ctx)
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < stop:
            obs = await http.run(spec, ctx)
            if obs.error is None and obs.status_code == 200 and obs.phases.ttfb is not None:
                outcomes["ok"] += 1
                ttfb.append(obs.phases.ttfb)
                lag.append(obs.loop_lag_ms or 0.0)
            else:
                outcomes[str(obs.error.kind) if obs.error else f"http {obs.status_code}"] += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = sum(outcomes.values())
    print(
        f"{url}: {done} probes in {wall:.1f}s, {dict(outcomes)}\n"
        f"  {done / wall:,.0f} probes/s wall, {done / cpu:,.0f} probes per CPU-second, "
        f"{cpu / done * 1e6:.1f} µs CPU per probe\n"
        f"  ttfb p50 {statistics.median(ttfb):.3f} ms, loop lag p50 {statistics.median(lag):.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--scheme", choices=["http", "https", "both"], default="both")
    args = parser.parse_args()
    import uvloop

    with nginx(core=0) as target:
        os.sched_setaffinity(0, {1})
        uvloop.run(_floor(target.http_port, args.seconds, args.concurrency))
        schemes = ["http", "https"] if args.scheme == "both" else [args.scheme]
        for scheme in schemes:
            port = target.http_port if scheme == "http" else target.https_port
            ca = target.ca_file if scheme == "https" else None
            url = f"{scheme}://127.0.0.1:{port}/"
            uvloop.run(_loop(url, ca, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
