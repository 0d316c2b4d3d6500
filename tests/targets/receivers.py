"""Loopback receivers for the notification channels, on the session's HTTP target server.

Each fixture is a factory; every call claims a fresh path, so tests never share state.
- `webhook_receiver(*answers, secret=None)`: an Inbox that records each request and
  answers with `answers` in turn, then 200. With `secret` it checks X-Upstate-Signature
  the way a receiver written from the docs would (its own HMAC code, real time, 300 s
  tolerance) and answers 401 to a bad or missing signature; `inbox.verdicts` keeps each
  verdict.
- `pagerduty_fake(*answers)`: a PagerDutyFake speaking Events API v2 under `fake.base_url`
  (the channel posts to `base_url + "/v2/enqueue"`): 202 with the dedup_key for a valid
  event, 400 "invalid event" with PagerDuty's error texts otherwise; it keeps the alerts
  (dedup_key -> "triggered" | "resolved"). `answers` are served first (e.g. a 429).
- `apprise_receiver(*answers)`: an Inbox for Apprise's json:// (see `Inbox.apprise_url`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.targets.http import HttpTarget, Request, Response, json_response

PAGERDUTY_ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # 32 characters, as PagerDuty's are
SIGNATURE_TOLERANCE = 300

_paths = itertools.count()


def _fresh_path(kind: str) -> str:
    return f"/notify-{kind}-{next(_paths)}-{uuid.uuid4().hex[:8]}"


@dataclass
class Inbox:
    target: HttpTarget
    path: str
    answers: deque[Response]
    secret: str | None = None
    requests: list[Request] = field(default_factory=list)
    verdicts: list[bool] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.target.url(self.path)

    def apprise_url(self, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user and password else (f"{user}@" if user else "")
        return f"json://{auth}127.0.0.1:{self.target.port}{self.path}"

    def bodies(self) -> list[Any]:
        with self._lock:
            return [json.loads(request.body) for request in self.requests]

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            if self.secret is not None:
                verdict = _signature_ok(self.secret, request)
                self.verdicts.append(verdict)
                if not verdict:
                    return Response(401, b"bad signature")
            return self.answers.popleft() if self.answers else Response(200, b"ok")


def _signature_ok(secret: str, request: Request) -> bool:
    """Written from the documented format, not from Upstate's code."""
    header = request.header("X-Upstate-Signature") or ""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.partition("=")
        fields.setdefault(name.strip(), []).append(value.strip())
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE:
        return False
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return any(hmac.compare_digest(expected, got) for got in fields.get("v1", []))


@dataclass
class PagerDutyFake:
    target: HttpTarget
    prefix: str
    answers: deque[Response]
    events: list[dict[str, Any]] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return self.target.url(self.prefix)

    def handle(self, request: Request) -> Response:
        with self._lock:
            if self.answers:
                return self.answers.popleft()
            try:
                event = json.loads(request.body)
            except ValueError:
                return _invalid(["Invalid JSON"])
            if not isinstance(event, dict):
                return _invalid(["Event object must be a JSON object"])
            errors = _problems(event)
            if errors:
                return _invalid(errors)
            self.events.append(event)
            key = event.get("dedup_key") or uuid.uuid4().hex
            if event["event_action"] == "trigger":
                self.alerts[key] = "triggered"
            elif event["event_action"] == "resolve" and self.alerts.get(key) == "triggered":
                self.alerts[key] = "resolved"  # a resolve for no open alert is dropped
            return json_response(
                {"status": "success", "message": "Event processed", "dedup_key": key}, 202
            )


def _invalid(errors: list[str]) -> Response:
    return json_response(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, 400
    )


def _problems(event: dict[str, Any]) -> list[str]:
    """The Events API v2 rules: routing_key of 32 characters, a known event_action, a
    payload with summary (at most 1024), source and severity for a trigger, a dedup_key of
    at most 255 characters (required to resolve or acknowledge)."""
    errors = []
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or len(routing_key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup_key:
        errors.append("'dedup_key' is required for acknowledge and resolve events")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary or len(summary) > 1024:
                errors.append("'payload.summary' is missing or longer than 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload["source"]:
                errors.append("'payload.source' is missing")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
    return errors


@pytest.fixture
def webhook_receiver(http_target: HttpTarget) -> Callable[..., Inbox]:
    def make(*answers: Response, secret: str | None = None) -> Inbox:
        inbox = Inbox(http_target, _fresh_path("webhook"), deque(answers), secret)
        http_target.route(inbox.path, inbox.handle)
        return inbox

    return make


@pytest.fixture
def apprise_receiver(http_target: HttpTarget) -> Callable[..., Inbox]:
    def make(*answers: Response) -> Inbox:
        inbox = Inbox(http_target, _fresh_path("apprise"), deque(answers))
        http_target.route(inbox.path, inbox.handle)
        return inbox

    return make


@pytest.fixture
def pagerduty_fake(http_target: HttpTarget) -> Callable[..., PagerDutyFake]:
    def make(*answers: Response) -> PagerDutyFake:
        fake = PagerDutyFake(http_target, _fresh_path("pagerduty"), deque(answers))
        http_target.route(fake.prefix + "/v2/enqueue", fake.handle)
        return fake

    return make
