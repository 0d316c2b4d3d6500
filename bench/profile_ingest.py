"""CPU per check of everything after the probe: verdict, engine, pipeline, writer, store.

    .venv/bin/python bench/profile_ingest.py [--monitors 10000] [--interval 60]
                                             [--rounds 60] [--repeat 5]
                                             [--profile] [--top 40] [--sort cumulative]

The same path as bench/scheduler.py, minus the network and the dispatcher: the real
Engine (scheduler/engine.py) with `run_check` swapped for one that builds the Observation
an HTTP probe of a healthy target returns and judges it (domain/check.judge, as the real
run_check does). Every simulated second, interval-th of the monitors is checked through
`Engine._check` and the ResultWriter flushes once into a SQLite file (WAL), as it does
at 10,000 monitors every 60 s: ~167 results, states and 334 rollup upserts per flush.
The clock is simulated (one second per round, no sleeping), so the run takes as long as
the CPU work. A first pass of `--interval` rounds touches every monitor (its rollup
rows then exist, so the measured upserts update, as in the steady state), then
`--rounds` rounds are measured.

It reaches into the Engine (`_add`, `_slots`, `_check`) on purpose: a benchmark of the
hot path, not an API.

Prints CPU µs per check, median and minimum of `--repeat` samples, for the whole
process (time.process_time: includes the aiosqlite thread, where SQLite itself runs),
the median for the event loop's thread alone (time.thread_time), and how that thread's
time splits between Engine._check and the writer's flush. With --profile, first the
loop thread's cProfile, timed by thread CPU time (the timer's cost inflates every
figure; read the proportions). Subtract from bench/scheduler.py's µs/check to get what
the probe and the dispatcher cost. Not part of make test.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

START = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def _run(args: argparse.Namespace, url: str) -> dict[str, float]:
    from prometheus_client import CollectorRegistry

    from upstate.domain.check import judge
    from upstate.domain.enums import MonitorKind
    from upstate.domain.observation import Observation, Phases
    from upstate.probes.base import ProbeContext
    from upstate.scheduler import engine as engine_module
    from upstate.scheduler.engine import Engine
    from upstate.services import runtime
    from upstate.services.checks import CheckResult
    from upstate.store.db import make_engine, session_factory

    clock = _Clock(START)

    async def fake_run_check(definition: object, ctx: ProbeContext) -> CheckResult:
        spec = definition.spec  # type: ignore[attr-defined]
        observation = Observation(
            kind=MonitorKind.HTTP,
            target=spec.url,
            region=ctx.region,
            started_at=clock.now,
            duration_ms=1.25,
            phases=Phases(connect=0.2, ttfb=0.9, transfer=0.05),
            status_code=200,
            ip="127.0.0.1",
            headers=(("Content-Type", "text/plain"), ("Content-Length", "2")),
            body=b"ok",
            connected=True,
        )
        verdict = judge(definition, observation, clock.now)  # type: ignore[arg-type]
        return CheckResult(definition, observation, verdict)  # type: ignore[arg-type]

    engine_module.run_check = fake_run_check  # type: ignore[assignment]

    db = make_engine(url)
    sessions = session_factory(db)
    engine = Engine(sessions, ProbeContext(clock=clock), registry=CollectorRegistry(), clock=clock)
    # engine.start() without its loops: the rounds below call _check and flush themselves.
    async with sessions() as session:
        monitors = await runtime.load_monitors(session)
        stored = await runtime.load_stored_states(session)
    for monitor in monitors:
        engine._add(monitor, stored.get(monitor.id), clock.now)
    slots = list(engine._slots.values())
    per_round = max(1, round(len(slots) / args.interval))

    split = [0.0, 0.0]  # loop thread CPU in _check, in flush

    async def rounds(count: int, first: int) -> None:
        for n in range(first, first + count):
            clock.now = START + timedelta(seconds=n)
            offset = (n * per_round) % len(slots)
            t0 = time.thread_time()
            for slot in slots[offset : offset + per_round]:
                await engine._check(slot)
            t1 = time.thread_time()
            assert await engine.writer.flush()
            split[0] += t1 - t0
            split[1] += time.thread_time() - t1

    await rounds(int(args.interval), 0)  # every monitor once: rollup rows exist
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    checks = per_round * args.rounds
    samples: list[tuple[float, float, float]] = []  # process, loop thread, wall: µs/check
    first = int(args.interval)
    split[:] = [0.0, 0.0]
    for _ in range(args.repeat):
        cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await rounds(args.rounds, first)
        if profiler is not None:
            profiler.disable()
        samples.append(
            (
                (time.process_time() - cpu0) / checks * 1e6,
                (time.thread_time() - thread0) / checks * 1e6,
                (time.perf_counter() - wall0) / checks * 1e6,
            )
        )
        first += args.rounds
    await db.dispose()
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    samples.sort()
    return {
        "checks": checks,
        "per_flush": per_round,
        "cpu_min": samples[0][0],
        "cpu_median": samples[len(samples) // 2][0],
        "thread_median": samples[len(samples) // 2][1],
        "wall_median": samples[len(samples) // 2][2],
        "check_us": split[0] / (checks * args.repeat) * 1e6,
        "flush_us": split[1] / (checks * args.repeat) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=60, help="simulated seconds per sample")
    parser.add_argument("--repeat", type=int, default=5, help="samples (median and min shown)")
    parser.add_argument("--profile", action="store_true", help="print the loop's cProfile")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="pstats order: tottime, ...")
    args = parser.parse_args()

    import uvloop

    from scheduler import _populate

    folder = tempfile.mkdtemp(prefix="upstate-profile-ingest-")
    url = f"sqlite:///{folder}/upstate.db"
    try:
        asyncio.run(_populate(url, args.monitors, 9, args.interval))
        result = uvloop.run(_run(args, url))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"{args.monitors:,} monitors, {result['per_flush']} checks per flush, "
        f"{args.repeat} samples of {result['checks']:,} checks"
    )
    print(
        f"CPU per check: median {result['cpu_median']:.0f} µs, min {result['cpu_min']:.0f} µs"
        f" (process); median {result['thread_median']:.0f} µs in the event loop's thread;"
        f" wall median {result['wall_median']:.0f} µs"
    )
    print(
        f"event loop thread, mean: {result['check_us']:.0f} µs in Engine._check (verdict,"
        f" evaluation, metrics, hand-over), {result['flush_us']:.0f} µs in ResultWriter.flush"
    )


if __name__ == "__main__":
    main()
