"""HTTP(S) probes per CPU-second: Upstate's lean probe vs Prometheus blackbox exporter.

    .venv/bin/python bench/probes.py [--seconds 10] [--concurrency 32]

One run, same machine, same nginx target (pinned to core 0). Upstate's prober runs
in its own process pinned to core 1; blackbox exporter runs pinned to core 1 and is
driven by wrk from core 0 at several concurrencies, keeping its best. Every probe
opens a fresh connection and records the full timing breakdown. Not part of make test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import blackbox, cpu_seconds, nginx, wrk


async def _probe_loop(url: str, ca_file: str | None, seconds: float, concurrency: int) -> dict:
    from upstate.domain.specs import HttpSpec
    from upstate.probes import http
    from upstate.probes.base import ProbeContext

    ctx = ProbeContext()
    spec = HttpSpec(url=url, ca_file=ca_file, timeout_s=5)
    ok = failed = 0
    phases_seen = 0
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal ok, failed, phases_seen
        while time.perf_counter() < deadline:
            obs = await http.run(spec, ctx)
            if obs.error is None and obs.status_code == 200:
                ok += 1
                if obs.phases.connect is not None and obs.phases.ttfb is not None:
                    phases_seen += 1
            else:
                failed += 1
                kind = str(obs.error.kind) if obs.error else f"http {obs.status_code}"
                errors[kind] = errors.get(kind, 0) + 1

    await http.run(spec, ctx)  # warm the SSL context cache
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "ok": ok,
        "failed": failed,
        "errors": errors,
        "with_phases": phases_seen,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def _worker_main(args: argparse.Namespace) -> None:
    import uvloop

    result = uvloop.run(_probe_loop(args.url, args.ca_file, args.seconds, args.concurrency))
    print(json.dumps(result))


def _upstate(url: str, ca_file: str | None, seconds: float, concurrency: int) -> dict:
    command = [
        "taskset", "-c", "1", sys.executable, __file__, "--worker", "--url", url,
        "--seconds", str(seconds), "--concurrency", str(concurrency),
    ]  # fmt: skip
    if ca_file:
        command += ["--ca-file", ca_file]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _blackbox_best(bb_port: int, target: str, module: str, seconds: int, pid: int) -> dict:
    best: dict = {}
    for connections in (1, 4, 16, 64):
        url = f"http://127.0.0.1:{bb_port}/probe?module={module}&target={target}"
        cpu0 = cpu_seconds(pid)
        probes = wrk(url, connections=connections, seconds=seconds)
        cpu = cpu_seconds(pid) - cpu0
        rate = probes / cpu if cpu else 0.0
        print(f"  blackbox {module} c={connections}: {probes} probes, {cpu:.2f} CPU-s, "
              f"{rate:,.0f} probes/CPU-s", flush=True)  # fmt: skip
        if rate > best.get("per_cpu_s", 0):
            best = {"connections": connections, "probes": probes, "cpu_s": cpu, "per_cpu_s": rate}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker_main(args)
        return

    with nginx(core=0) as target, blackbox(target.ca_file, core=1) as bb:
        rows = []
        for scheme, port, module in (
            ("http", target.http_port, "http_2xx"),
            ("https", target.https_port, "https_2xx"),
        ):
            url = f"{scheme}://127.0.0.1:{port}/"
            ca = target.ca_file if scheme == "https" else None
            ours = _upstate(url, ca, args.seconds, args.concurrency)
            per_cpu = ours["ok"] / ours["cpu_s"]
            print(
                f"  upstate {scheme}: {ours['ok']} ok ({ours['with_phases']} with phases), "
                f"{ours['failed']} failed {ours['errors'] or ''}, {ours['cpu_s']:.2f} CPU-s, "
                f"{ours['ok'] / ours['wall_s']:,.0f} probes/s wall, {per_cpu:,.0f} probes/CPU-s",
                flush=True,
            )
            theirs = _blackbox_best(bb.port, url, module, int(args.seconds), bb.process.pid)
            rows.append((scheme, per_cpu, 1e6 / per_cpu, theirs))

    print("\nprobes per CPU-second, fresh connection each, full timing breakdown")
    print(
        f"{'scheme':<7}{'upstate':>12}{'µs/probe':>10}{'blackbox':>12}{'(best c)':>10}{'ratio':>8}"
    )
    for scheme, per_cpu, us, theirs in rows:
        ratio = per_cpu / theirs["per_cpu_s"] if theirs else float("nan")
        print(
            f"{scheme:<7}{per_cpu:>12,.0f}{us:>10.1f}{theirs.get('per_cpu_s', 0):>12,.0f}"
            f"{theirs.get('connections', '-'):>10}{ratio:>7.1f}x"
        )


if __name__ == "__main__":
    main()
