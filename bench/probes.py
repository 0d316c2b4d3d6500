"""HTTP(S) probes per CPU-second: Upstate's lean probe vs Prometheus blackbox exporter.

    .venv/bin/python bench/probes.py [--rounds 5] [--slice 3] [--concurrency 32]
        [--schemes http,https] [--baseline OTHER/src] [--floor]

Same machine, same nginx target (pinned to core 0). Upstate's prober is a long-lived
process pinned to core 1; blackbox exporter is pinned to core 1 too and driven by wrk
from core 0. Every probe opens a fresh connection and records the full timing breakdown.

The machine is shared, so its speed drifts by tens of percent within a minute. Measuring
one contender after the other for long stretches turned that drift into the ratio (it
swung ±20 % run to run for the same code). Instead the contenders take turns in short
slices, round after round, the order rotating each round, and each round gives a ratio
of two figures measured seconds apart; the median round is reported, with the spread.
Blackbox's concurrency is picked first by a short sweep (its best is kept).

`--baseline` adds a second Upstate prober importing another source tree (say a copy of
src/ before a change) to the same rounds: before and after measured side by side.
`--floor` adds bench/floor.py's bare socket loop, the most any probe could reach here.
Not part of make test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _targets import blackbox, cpu_seconds, nginx, wrk

HERE = Path(__file__).resolve().parent


# -- the prober process (one per Upstate source tree) ----------------------------------


async def _probe_slice(url: str, ca_file: str | None, seconds: float, concurrency: int) -> dict:
    from upstate.domain.specs import HttpSpec
    from upstate.probes import http
    from upstate.probes.base import ProbeContext

    ctx = ProbeContext()
    spec = HttpSpec(url=url, ca_file=ca_file, timeout_s=5)
    ok = failed = 0
    phases_seen = 0
    errors: dict[str, int] = {}

    async def worker(deadline: float) -> None:
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

    # Warm up (SSL context, caches, the loop) off the clock.
    await asyncio.gather(*(worker(time.perf_counter() + 0.2) for _ in range(concurrency)))
    ok = failed = phases_seen = 0
    errors.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(wall0 + seconds) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"ok": ok, "failed": failed, "errors": errors, "with_phases": phases_seen,
            "cpu_s": cpu, "wall_s": wall}  # fmt: skip


def _serve_slices(args: argparse.Namespace) -> None:
    """Answer each "seconds" line on stdin with one slice's figures as a JSON line."""
    import uvloop

    if args.floor_loop:
        from floor import measure as floor_measure

    print("ready", flush=True)
    for line in sys.stdin:
        seconds = float(line)
        if args.floor_loop:
            port = int(args.url.rsplit(":", 1)[1].strip("/"))
            count, cpu, wall = uvloop.run(floor_measure(port, seconds, args.concurrency))
            result = {"ok": count, "failed": 0, "errors": {}, "with_phases": 0,
                      "cpu_s": cpu, "wall_s": wall}  # fmt: skip
        else:
            result = uvloop.run(_probe_slice(args.url, args.ca_file, seconds, args.concurrency))
        print(json.dumps(result), flush=True)


class Prober:
    """A prober process kept alive across slices, so start-up is never on the clock."""

    def __init__(self, name: str, url: str, ca_file: str | None, concurrency: int,
                 src: str | None = None, floor: bool = False) -> None:  # fmt: skip
        self.name = name
        command = ["taskset", "-c", "1", sys.executable, __file__, "--worker", "--url", url,
                   "--concurrency", str(concurrency)]  # fmt: skip
        if ca_file:
            command += ["--ca-file", ca_file]
        if floor:
            command.append("--floor-loop")
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self._line() == "ready"

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"prober {self.name} exited ({self.process.wait()})")
        return line.strip()

    def run(self, seconds: float) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{seconds}\n")
        self.process.stdin.flush()
        result: dict = json.loads(self._line())
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


# -- the driver --------------------------------------------------------------------------


def _blackbox_rate(bb_port: int, pid: int, target: str, module: str, connections: int,
                   seconds: int) -> tuple[float, int, float]:  # fmt: skip
    url = f"http://127.0.0.1:{bb_port}/probe?module={module}&target={target}"
    cpu0 = cpu_seconds(pid)
    probes = wrk(url, connections=connections, seconds=seconds)
    cpu = cpu_seconds(pid) - cpu0
    return (probes / cpu if cpu else 0.0), probes, cpu


def _compare(scheme: str, url: str, ca_file: str | None, module: str, bb_port: int,
             bb_pid: int, args: argparse.Namespace) -> dict:  # fmt: skip
    slice_s = int(args.slice)
    best_c, best_rate = 1, 0.0
    for connections in (1, 4, 16, 64):
        rate, probes, cpu = _blackbox_rate(bb_port, bb_pid, url, module, connections, 2)
        print(f"  sweep blackbox {scheme} c={connections}: {probes} probes, {cpu:.2f} CPU-s, "
              f"{rate:,.0f} probes/CPU-s", flush=True)  # fmt: skip
        if rate > best_rate:
            best_c, best_rate = connections, rate

    probers = [Prober("upstate", url, ca_file, args.concurrency)]
    if args.baseline:
        probers.append(Prober("baseline", url, ca_file, args.concurrency, src=args.baseline))
    if args.floor and scheme == "http":
        probers.append(Prober("floor", url, None, args.concurrency, floor=True))
    try:
        contenders: list[tuple[str, Callable[[], float]]] = []
        for prober in probers:

            def run_prober(prober: Prober = prober) -> float:
                result = prober.run(slice_s)
                if result["failed"]:
                    print(f"    {prober.name}: {result['failed']} failed {result['errors']}")
                return float(result["ok"] / result["cpu_s"])

            contenders.append((prober.name, run_prober))

        def run_blackbox() -> float:
            return _blackbox_rate(bb_port, bb_pid, url, module, best_c, slice_s)[0]

        contenders.append(("blackbox", run_blackbox))
        rates: dict[str, list[float]] = {name: [] for name, _ in contenders}
        for round_no in range(args.rounds):
            shift = round_no % len(contenders)  # rotate who goes first
            for name, measure in contenders[shift:] + contenders[:shift]:
                rates[name].append(measure())
            figures = ", ".join(f"{name} {values[-1]:,.0f}" for name, values in rates.items())
            ratio = rates["upstate"][-1] / rates["blackbox"][-1]
            print(
                f"  round {round_no + 1} {scheme} (probes/CPU-s): {figures}, ratio {ratio:.2f}x",
                flush=True,
            )
    finally:
        for prober in probers:
            prober.close()
    return {"scheme": scheme, "blackbox_c": best_c, "rates": rates}


def _ratios(ours: list[float], theirs: list[float]) -> str:
    """Median of the per-round ratios, and their range."""
    values = [a / b for a, b in zip(ours, theirs, strict=True)]
    return f"{statistics.median(values):.2f}x ({min(values):.2f} to {max(values):.2f})"


def _report(rows: list[dict]) -> None:
    print("\nprobes per CPU-second, fresh connection each, full timing breakdown;")
    print("medians of the rounds, each ratio within one round, (min to max) over rounds")
    for row in rows:
        rates = row["rates"]
        bb = rates["blackbox"]
        print(f"\n{row['scheme']} (blackbox at c={row['blackbox_c']})")
        for name, values in rates.items():
            median = statistics.median(values)
            line = f"  {name:<9}{median:>9,.0f} probes/CPU-s {1e6 / median:>8.1f} µs/probe"
            if name != "blackbox":
                line += f"   vs blackbox {_ratios(values, bb)}"
            print(line)
        if "baseline" in rates:
            print(f"  upstate / baseline {_ratios(rates['upstate'], rates['baseline'])}")
        if "floor" in rates:
            print(f"  floor / upstate {_ratios(rates['floor'], rates['upstate'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slice", type=int, default=3, help="seconds per contender per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--schemes", default="http,https")
    parser.add_argument("--baseline", help="another Upstate src/ to measure alongside")
    parser.add_argument("--floor", action="store_true", help="add the bare-socket floor")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor-loop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _serve_slices(args)
        return

    load = os.getloadavg()[0]
    print(
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average {load:.1f}", flush=True
    )
    modules = {"http": "http_2xx", "https": "https_2xx"}
    rows = []
    with nginx(core=0) as target, blackbox(target.ca_file, core=1) as bb:
        for scheme in args.schemes.split(","):
            port = target.http_port if scheme == "http" else target.https_port
            url = f"{scheme}://127.0.0.1:{port}/"
            ca = target.ca_file if scheme == "https" else None
            rows.append(_compare(scheme, url, ca, modules[scheme], bb.port, bb.process.pid, args))
    _report(rows)


if __name__ == "__main__":
    main()
