"""The whole monitoring path at scale: scheduling lag, CPU per check, memory per monitor.

    .venv/bin/python bench/scheduler.py [--monitors 10000 100000] [--interval 60]
                                        [--seconds 60] [--warmup SECONDS]

nginx (one worker, pinned to core 0) is the target of every monitor (a distinct URL
each). Upstate's engine runs in its own process pinned to core 1, exactly as `serve`
runs it: the heap scheduler, the lean HTTP probe, the verdict and the evaluator, the
batched result writer into a SQLite file (WAL) with rollups and states, and Prometheus
metrics. Every monitor starts with a stored UP state, as after a restart, so the run
measures the steady state (monitors without a state would all run at once at start).
The measured window opens after `--warmup` seconds, by default one interval and 5 s: by
then every monitor has run once, so its cached request and its rollup rows exist, as in
a process that has been running for a while.
`--profile FILE` writes the measured window's cProfile (the event loop's thread) to
FILE.<monitors> for `python -m pstats`; bench/profile_ingest.py profiles the same path
after the probe without the network.

Per size it prints: scheduling lag (start - due) p50/p99/max over the measured window,
checks per CPU-second of the whole process (probing, evaluation, storage: the SQLite
work happens in aiosqlite's thread, inside the process), CPU µs per check, and RSS
(after start, and the growth per 10,000 monitors over an empty engine). Because every
monitor points at one host, the per-host limit is raised to the global one.
Not part of make test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import nginx


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _populate(url: str, count: int, port: int, interval: float) -> None:
    """Monitors and their stored UP states, inserted in bulk (setup, not measured)."""
    from sqlalchemy import insert

    from upstate.domain.enums import Status
    from upstate.domain.status import MonitorState, RegionResult
    from upstate.store import migrate
    from upstate.store.db import make_engine
    from upstate.store.tables import monitor_state, monitors

    await migrate.upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    state = MonitorState(
        status=Status.UP,
        since=now,
        underlying=Status.UP,
        regions=(RegionResult("local", Status.UP, now, "the condition passed"),),
    ).to_dict()
    try:
        for start in range(0, count, 5000):
            numbers = range(start, min(count, start + 5000))
            async with engine.begin() as connection:
                await connection.execute(
                    insert(monitors),
                    [
                        {
                            "id": n + 1,
                            "key": f"m{n}",
                            "name": f"m{n}",
                            "kind": "http",
                            "source": "api",
                            "definition": {
                                "key": f"m{n}",
                                "kind": "http",
                                "url": f"http://127.0.0.1:{port}/m{n}",
                                "interval": f"{interval:g}s",
                                "timeout": "5s",
                            },
                            "interval_s": interval,
                            "critical": False,
                            "tags": [],
                            "regions": ["local"],
                            "paused": False,
                            "ping_token": None,
                            "created_at": now,
                            "updated_at": now,
                        }
                        for n in numbers
                    ],
                )
                await connection.execute(
                    insert(monitor_state),
                    [
                        {
                            "monitor_id": n + 1,
                            "status": "up",
                            "since": now,
                            "last_checked_at": now,
                            "state": state,
                            "updated_at": now,
                        }
                        for n in numbers
                    ],
                )
    finally:
        await engine.dispose()


async def _measure(args: argparse.Namespace) -> dict[str, object]:
    from prometheus_client import CollectorRegistry

    from upstate.probes.base import ProbeContext
    from upstate.scheduler.engine import Engine
    from upstate.store.db import make_engine, session_factory

    engine_db = make_engine(args.database)
    lags: list[float] = []
    recording = False

    def on_lag(lag: float) -> None:
        if recording:
            lags.append(lag)

    engine = Engine(
        session_factory(engine_db),
        ProbeContext(),
        registry=CollectorRegistry(),
        max_concurrency=args.concurrency,
        per_host=args.concurrency,
        on_lag=on_lag,
        freeze_gc=args.freeze,
    )
    rss_empty = _rss_mb()
    started = time.perf_counter()
    await engine.start()
    start_s = time.perf_counter() - started
    rss_started = _rss_mb()
    await asyncio.sleep(args.warmup)

    recording = True
    checks0 = engine.dispatcher.started
    written0 = engine.writer.written
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(args.seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    checks = engine.dispatcher.started - checks0
    written = engine.writer.written - written0
    recording = False
    rss_running = _rss_mb()
    health = engine.health()
    skipped = engine.dispatcher.skipped
    down = sum(1 for n in range(0, args.count, 97) if str(engine.state_of(f"m{n}").status) != "up")
    await engine.stop()
    await engine_db.dispose()
    return {
        "monitors": args.count,
        "interval_s": args.interval,
        "start_s": start_s,
        "wall_s": wall,
        "cpu_s": cpu,
        "checks": checks,
        "written": written,
        "lag_p50_ms": _quantile(lags, 0.5) * 1000,
        "lag_p99_ms": _quantile(lags, 0.99) * 1000,
        "lag_max_ms": max(lags, default=float("nan")) * 1000,
        "lag_samples": len(lags),
        "rss_empty_mb": rss_empty,
        "rss_started_mb": rss_started,
        "rss_running_mb": rss_running,
        "skipped": skipped,
        "dropped": health.dropped_results,
        "buffered_at_end": health.buffered_results,
        "not_up_sampled": down,
    }


def _worker_main(args: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(_measure(args))
    print(json.dumps(result))


def _run_size(count: int, port: int, args: argparse.Namespace) -> dict[str, object]:
    folder = tempfile.mkdtemp(prefix="upstate-bench-sched-")
    url = f"sqlite:///{folder}/upstate.db"
    try:
        asyncio.run(_populate(url, count, port, args.interval))  # in this process: not measured
        return _run_worker(url, count, port, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_worker(url: str, count: int, port: int, args: argparse.Namespace) -> dict[str, object]:
    command = [
        "taskset", "-c", "1", sys.executable, __file__, "--worker", "--database", url,
        "--count", str(count), "--port", str(port), "--interval", str(args.interval),
        "--seconds", str(args.seconds), "--warmup", str(args.warmup),
        "--concurrency", str(args.concurrency),
        *([] if args.freeze else ["--no-freeze"]),
        *(["--profile", f"{args.profile}.{count}"] if args.profile else []),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        raise SystemExit(f"worker failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--warmup", type=float, help="seconds before measuring (default: one interval + 5)"
    )
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--no-freeze", dest="freeze", action="store_false", help="skip gc.freeze()")
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="cProfile the measured window into FILE.<monitors> (pstats; inflates CPU figures)",
    )
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = args.interval + 5.0
    if args.worker:
        _worker_main(args)
        return

    rows = []
    with nginx(core=0) as target:
        for count in args.monitors:
            print(
                f"{count:,} monitors every {args.interval:g}s for {args.seconds:g}s ...", flush=True
            )
            result = _run_size(count, target.http_port, args)
            print(f"  {json.dumps(result)}", flush=True)
            rows.append(result)

    print(
        "\nmonitors  start s  checks/s  lag p50 / p99 / max ms  checks/CPU-s  µs/check"
        "  written  RSS MB  MB/10k"
    )
    for r in rows:
        per_cpu = r["checks"] / r["cpu_s"] if r["cpu_s"] else float("nan")  # type: ignore[operator]
        growth = (r["rss_running_mb"] - r["rss_empty_mb"]) / r["monitors"] * 10_000  # type: ignore[operator]
        kept_up = r["written"] / r["checks"] if r["checks"] else float("nan")  # type: ignore[operator]
        print(
            f"{r['monitors']:>8,} {r['start_s']:>8.1f} {r['checks'] / r['wall_s']:>9,.0f}"  # type: ignore[operator]
            f"  {r['lag_p50_ms']:>6.1f} / {r['lag_p99_ms']:>6.1f} / {r['lag_max_ms']:>7.1f}"
            f"  {per_cpu:>12,.0f} {1e6 / per_cpu:>9.0f} {kept_up:>8.0%}"
            f" {r['rss_running_mb']:>7.0f} {growth:>7.1f}"
        )
    print("written: results the writer stored in the window, as a share of checks run")


if __name__ == "__main__":
    main()
