"""Alert latency: a target goes down -> the webhook hears it. Overhead over the detection time.

    .venv/bin/python bench/alert_latency.py [--outages 50] [--interval 1] [--threshold 1]

Runs `upstate serve` as a user would (its own process, SQLite in a temp dir) with one
http monitor on a loopback target this script flips between 200 and 503, and one
webhook channel to a receiver in this script. For each outage it records when the
target started failing and when the `monitor.down` webhook arrived, then waits for the
`monitor.up` notice before the next outage. Prints p50/p99/max of

    delivered_at - failing_since - interval * threshold

i.e. what Upstate adds on top of the detection time the config asks for (the probe
that sees the failure runs 0..interval after the flip, so single values may be
negative), and, to see the pipeline alone, delivered_at - the status change's time
(`occurred_at` in the webhook: the moment the evaluator decided). Goal: p99 under 1 s.
Not part of make test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class State:
    def __init__(self) -> None:
        self.target_status = 200
        self.lock = threading.Lock()
        self.events: list[tuple[float, str, float]] = []  # arrived, event, occurred_at


def _server(state: State) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # the monitored target
            status = state.target_status
            body = b"ok" if status == 200 else b"down"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # the webhook receiver
            arrived = time.time()
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            occurred = datetime.fromisoformat(body["occurred_at"].replace("Z", "+00:00"))
            with state.lock:
                state.events.append((arrived, body["event"], occurred.timestamp()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outages", type=int, default=50)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--threshold", type=int, default=1)
    args = parser.parse_args()

    state = State()
    server = _server(state)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix="upstate-alert-bench-"))
    port = _free_port()
    config = work / "upstate.yaml"
    config.write_text(
        f"""
monitors:
  - key: target
    kind: http
    url: {base}/target
    interval: {args.interval}s
    timeout: 900ms
    failure_threshold: {args.threshold}
    success_threshold: 1
    flap_changes: 100000  # 50 outages back to back are the point here, not flapping
    conditions: ["[STATUS] == 200"]
notifications:
  channels:
    - {{key: hook, kind: webhook, url: "{base}/hook"}}
"""
    )
    env = {
        **os.environ,
        "UPSTATE_DATABASE_URL": f"sqlite:///{work}/upstate.db",
        "UPSTATE_DATA_DIR": str(work / "data"),
        "UPSTATE_PORT": str(port),
    }
    log = (work / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "upstate",
            "serve",
            "--config",
            str(config),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/monitors/target") as r:
                return bool(json.loads(r.read())["status"] == "up")
        except OSError:
            return False

    try:
        if not _wait(ready, 30):
            raise SystemExit(f"upstate did not come up; see {work}/serve.log")
        overheads: list[float] = []
        pipeline: list[float] = []  # from the status change to the webhook's arrival
        for n in range(args.outages):
            time.sleep(args.interval * (0.3 + 0.4 * (n % 7) / 7))  # vary the phase
            seen = len(state.events)
            state.target_status = 503
            failing_since = time.time()
            if not _wait(lambda seen=seen: len(state.events) > seen, 30):
                raise SystemExit(f"outage {n}: no webhook within 30 s; see {work}/serve.log")
            arrived, event, occurred = state.events[seen]
            if event != "monitor.down":
                raise SystemExit(f"outage {n}: expected monitor.down, got {event}")
            overheads.append(arrived - failing_since - args.interval * args.threshold)
            pipeline.append(arrived - occurred)
            state.target_status = 200
            if not _wait(lambda seen=seen: len(state.events) > seen + 1, 30):
                raise SystemExit(f"outage {n}: no recovery notice; see {work}/serve.log")
        ms = [value * 1000 for value in overheads]
        change_ms = [value * 1000 for value in pipeline]
        print(
            f"outages={len(ms)} interval={args.interval}s threshold={args.threshold} "
            f"overhead_ms p50={_quantile(ms, 0.5):.0f} p99={_quantile(ms, 0.99):.0f} "
            f"max={max(ms):.0f} min={min(ms):.0f}"
        )
        print(
            "status change -> webhook received, ms: "
            f"p50={_quantile(change_ms, 0.5):.0f} p99={_quantile(change_ms, 0.99):.0f} "
            f"max={max(change_ms):.0f}"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        server.shutdown()


if __name__ == "__main__":
    main()
