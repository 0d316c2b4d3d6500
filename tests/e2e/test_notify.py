"""Notifications end to end: `upstate serve` as a user runs it, a real webhook receiver.

A target goes down and up: the webhook hears `monitor.down` then `monitor.up`, signed, once
each. A receiver that fails while Upstate is killed with `kill -9`: what waited in the
outbox is delivered after the restart, each event exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import config_text
from tests.e2e.serve import Serve, Switch
from tests.targets.http import HttpTarget, Request, Response

pytestmark = pytest.mark.slow

SECRET = "e2e-webhook-secret-7f3a"


class Receiver:
    """A webhook endpoint that answers `status` (a test flips it) and keeps what came."""

    def __init__(self, target: HttpTarget) -> None:
        self.status = 200
        self.path = f"/hook-{uuid.uuid4().hex[:10]}"
        self.url = target.url(self.path)
        self._lock = threading.Lock()
        self.received: list[tuple[int, dict[str, Any], Request]] = []
        target.route(self.path, self._answer)

    def _answer(self, request: Request) -> Response:
        with self._lock:
            body = json.loads(request.body)
            self.received.append((self.status, body, request))
            return Response(self.status, b"ok" if self.status == 200 else b"busy")

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered 200, in arrival order."""
        with self._lock:
            return [body for status, body, _ in self.received if status == 200]

    def events(self) -> list[str]:
        return [body["event"] for body in self.delivered()]


def _config(switch: Switch, receiver: Receiver) -> str:
    return config_text(
        switch,
        f"""notifications:
  channels:
    - key: hook
      kind: webhook
      url: {receiver.url}
      secret: {SECRET}
""",
    )


@pytest.fixture
def receiver(http_target: HttpTarget) -> Receiver:
    return Receiver(http_target)


@pytest.fixture
def serve(tmp_path: Path, switch: Switch, receiver: Receiver, database_url: str) -> Iterator[Serve]:
    config = tmp_path / "upstate.yaml"
    config.write_text(_config(switch, receiver))
    process = Serve(tmp_path, config, database_url)
    yield process
    process.stop(signal.SIGKILL if process.process else signal.SIGTERM)


def _signed(request: Request) -> bool:
    """Checked from the documented format: t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>."""
    parts = dict(p.split("=", 1) for p in (request.header("X-Upstate-Signature") or "").split(","))
    expected = hmac.new(
        SECRET.encode(), parts.get("t", "").encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def test_a_target_down_and_up_is_told_once_each_and_signed(
    serve: Serve, switch: Switch, receiver: Receiver
) -> None:
    serve.start()
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
    switch.status = 503
    serve.wait_for(lambda: receiver.events() == ["monitor.down"], timeout=10, what="down alert")
    switch.status = 200
    serve.wait_for(
        lambda: receiver.events() == ["monitor.down", "monitor.up"], timeout=10, what="recovery"
    )
    down = receiver.delivered()[0]
    assert down["monitor"]["key"] == "web"
    assert down["monitor"]["previous_status"] == "up"
    assert down["observation"]["status_code"] == 503
    assert all(_signed(request) for _, _, request in receiver.received)
    serve.wait_for(
        lambda: [i["state"] for i in serve.get("/api/v1/notifications")["items"]] == ["sent"] * 2,
        timeout=5,
        what="the delivery log to say sent",
    )


def test_notifications_waiting_at_kill_9_are_delivered_after_restart_once_each(
    serve: Serve, switch: Switch, receiver: Receiver
) -> None:
    receiver.status = 500
    serve.start()
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
    switch.status = 503
    serve.wait_for(lambda: serve.monitor("web")["status"] == "down", timeout=10, what="down")
    switch.status = 200
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up again")
    serve.wait_for(lambda: len(receiver.received) >= 1, timeout=10, what="a failed attempt")
    serve.stop(signal.SIGKILL)
    assert receiver.delivered() == []
    receiver.status = 200
    serve.start()
    serve.wait_for(
        lambda: receiver.events() == ["monitor.down", "monitor.up"],
        timeout=40,
        what="delivery after the restart",
    )
    keys = Counter(body["id"] for body in receiver.delivered())
    assert set(keys.values()) == {1}
