"""The machine's floor for one HTTP probe: a bare asyncio.Protocol on uvloop that only
connects, writes a request, reads and closes — no parsing, no timing, no result.

    .venv/bin/python bench/floor.py [--seconds 5] [--concurrency 32]
    .venv/bin/python bench/floor.py --rate 167 --windows 0.02 0.25 [--seconds 10]

nginx pinned to core 0, this loop pinned to core 1, as in bench/probes.py. Whatever
Upstate's probe costs above this is ours to cut. Not part of make test.

With `--rate`, connections are not back to back but paced as a scheduler paces them:
`rate` a second, started in batches every `window` seconds (the loop sleeps between).
This is the floor of the whole-path benchmark (bench/scheduler.py: 10,000 monitors a
minute is 167 a second), and it shows what waking an idle process costs here.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import nginx

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


class _Bare(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REQUEST)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def measure(port: int, seconds: float, concurrency: int) -> tuple[int, float, float]:
    """Connections completed, CPU seconds and wall seconds of one timed stretch."""
    loop = asyncio.get_running_loop()
    count = 0

    async def worker(end: float) -> None:
        nonlocal count
        while time.perf_counter() < end:
            done: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(lambda done=done: _Bare(done), "127.0.0.1", port)
            await done
            count += 1

    await asyncio.gather(*(worker(time.perf_counter() + 0.2) for _ in range(concurrency)))
    count = 0
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(wall + seconds) for _ in range(concurrency)))
    return count, time.process_time() - cpu, time.perf_counter() - wall


async def paced(port: int, rate: float, window: float, seconds: float) -> tuple[int, float]:
    """Connections started and CPU seconds of `seconds` at `rate`, in batches every `window`."""
    loop = asyncio.get_running_loop()
    per_window = rate * window
    owed = 0.0
    started = 0

    async def one() -> None:
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(lambda: _Bare(done), "127.0.0.1", port)
        await done

    async def run(until: float) -> None:
        nonlocal owed, started
        tasks: set[asyncio.Task[None]] = set()
        while time.perf_counter() < until:
            owed += per_window
            while owed >= 1:
                owed -= 1
                started += 1
                task = loop.create_task(one())
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(window)
        await asyncio.gather(*tasks)

    await run(time.perf_counter() + 2)  # warm up
    started = 0
    cpu = time.process_time()
    await run(time.perf_counter() + seconds)
    return started, time.process_time() - cpu


async def _paced(port: int, rate: float, windows: list[float], seconds: float) -> None:
    for window in windows:
        count, cpu = await paced(port, rate, window, seconds)
        print(
            f"paced {rate:g}/s in {window * 1000:g} ms batches: {count} connections,"
            f" {cpu / count * 1e6:.0f} µs CPU each"
        )


async def _loop(port: int, seconds: float, concurrency: int) -> None:
    count, cpu, _ = await measure(port, seconds, concurrency)
    print(f"floor: {count} connections, {cpu:.2f} CPU-s, {count / cpu:,.0f} per CPU-second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, help="pace connections: this many a second")
    parser.add_argument("--windows", type=float, nargs="+", default=[0.02, 0.25])
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.port:
        import uvloop

        if args.rate:
            uvloop.run(_paced(args.port, args.rate, args.windows, args.seconds))
        else:
            uvloop.run(_loop(args.port, args.seconds, args.concurrency))
        return
    with nginx(core=0) as target:
        command = [sys.executable, __file__, "--port", str(target.http_port)]
        command += ["--seconds", str(args.seconds), "--concurrency", str(args.concurrency)]
        if args.rate:
            command += ["--rate", str(args.rate), "--windows", *map(str, args.windows)]
        subprocess.run(["taskset", "-c", "1", *command], check=True)


if __name__ == "__main__":
    main()
