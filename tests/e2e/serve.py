"""A real `upstate serve` process for end-to-end tests, and a switchable loopback target."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.targets.http import HttpTarget, Request, Response
from tests.targets.tcp import free_port


class Switch:
    """A route on the loopback HTTP target whose answer a test flips between up and down."""

    def __init__(self, target: HttpTarget) -> None:
        self.status = 200
        self.path = f"/e2e-{uuid.uuid4().hex[:12]}"
        self.url = target.url(self.path)
        target.route(self.path, self._answer)

    def _answer(self, request: Request) -> Response:
        return Response(self.status, b'{"status": "ok"}' if self.status == 200 else b"down")


class Serve:
    """`python -m upstate serve` on a free port; logs in `log_path`."""

    def __init__(self, workdir: Path, config: Path, database_url: str) -> None:
        self.workdir = workdir
        self.config = config
        self.database_url = database_url
        self.port = free_port()
        self.log_path = workdir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Serve:
        env = {
            **os.environ,
            "UPSTATE_DATABASE_URL": self.database_url,
            "UPSTATE_DATA_DIR": str(self.workdir / "data"),
            "UPSTATE_PORT": str(self.port),
        }
        env.pop("UPSTATE_API_TOKEN", None)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "upstate", "serve", "--config", str(self.config)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(lambda: self.status_code("/readyz") == 200, timeout=30, what="readiness")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status_code(self, path: str) -> int | None:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as response:
            return json.loads(response.read())

    def monitor(self, key: str) -> dict[str, Any]:
        data: dict[str, Any] = self.get(f"/api/v1/monitors/{key}")
        return data

    def wait_for(self, condition: Callable[[], object], *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"serve exited ({self.process.returncode}):\n{self.log()}")
            try:
                if condition():
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; log:\n{self.log()[-4000:]}")

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        return self.process.wait(timeout)
