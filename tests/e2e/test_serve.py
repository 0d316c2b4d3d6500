"""`upstate serve` as a user runs it: a real process, a real database, loopback targets."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.e2e.conftest import config_text
from tests.e2e.proxy import TcpProxy
from tests.e2e.serve import Serve, Switch

pytestmark = pytest.mark.slow


@pytest.fixture
def serve(tmp_path: Path, switch: Switch, database_url: str) -> Iterator[Serve]:
    config = tmp_path / "upstate.yaml"
    config.write_text(config_text(switch))
    process = Serve(tmp_path, config, database_url)
    yield process
    process.stop(signal.SIGKILL if process.process else signal.SIGTERM)


def statuses(serve: Serve, key: str) -> list[str]:
    changes = serve.get(f"/api/v1/monitors/{key}/changes")
    items = changes["items"] if isinstance(changes, dict) else changes
    return [item["status"] for item in reversed(items)]


def test_it_follows_a_target_down_and_up(serve: Serve, switch: Switch) -> None:
    serve.start()
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
    switch.status = 503
    serve.wait_for(lambda: serve.monitor("web")["status"] == "down", timeout=10, what="down")
    switch.status = 200
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up again")
    serve.wait_for(
        lambda: statuses(serve, "web")[-3:] == ["up", "down", "up"], timeout=5, what="changes"
    )
    results = serve.get("/api/v1/monitors/web/results")["items"]
    assert {r["status_code"] for r in results} >= {200, 503}
    overall = serve.get("/api/v1/status")
    assert overall["status"] == "operational"


def test_it_flushes_results_on_sigterm(serve: Serve) -> None:
    serve.start()
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
    time.sleep(1.5)
    assert serve.stop(signal.SIGTERM) == 0
    log = serve.log()
    assert "engine stopped" in log
    assert "dropped=0" in log
    written = int(log.split("engine stopped written=")[1].split()[0])
    restarted = serve.start()
    count = len(restarted.get("/api/v1/monitors/web/results?limit=500")["items"])
    assert count >= written


def test_it_resumes_after_kill_9(serve: Serve) -> None:
    serve.start()
    serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
    since = serve.monitor("web")["since"]
    time.sleep(3)
    killed_at = time.time()
    serve.stop(signal.SIGKILL)
    serve.start()
    web = serve.monitor("web")
    assert web["status"] == "up"
    assert web["since"] == since  # the same outage-free stretch: no new change was made
    items = serve.get("/api/v1/monitors/web/results?limit=500")["items"]
    before = [r for r in items if _epoch(r["started_at"]) < killed_at]
    assert before, "results written before the kill are kept"
    newest = max(_epoch(r["started_at"]) for r in before)
    assert killed_at - newest < 2.5, "at most about the last second of results is lost"
    serve.wait_for(
        lambda: (
            _epoch(serve.get("/api/v1/monitors/web/results")["items"][0]["started_at"]) > killed_at
        ),
        timeout=10,
        what="the schedule to resume",
    )
    assert statuses(serve, "web") == ["up"]


def test_it_reloads_the_config_when_the_file_changes(serve: Serve, switch: Switch) -> None:
    serve.start()
    serve.config.write_text(
        config_text(switch, f"  - {{key: extra, kind: tcp, host: 127.0.0.1, port: {serve.port}}}\n")
    )
    serve.wait_for(lambda: serve.monitor("extra")["status"] == "up", timeout=15, what="reload")
    assert serve.monitor("web")["status"] == "up"

    serve.config.write_text("monitors:\n  - key: web\n    kind: http\n    interval: soon\n")
    serve.wait_for(lambda: "config reload refused" in serve.log(), timeout=10, what="refusal")
    assert "interval" in serve.log()
    assert serve.monitor("extra")["status"] == "up", "the running set is kept"

    serve.config.write_text(config_text(switch))
    serve.send(signal.SIGHUP)
    serve.wait_for(
        lambda: serve.status_code("/api/v1/monitors/extra") == 404, timeout=10, what="removal"
    )


@contextmanager
def sqlite_locked(database_url: str) -> Iterator[None]:
    """Another writer holds SQLite's lock: every write fails until it lets go."""
    blocker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_it_keeps_probing_while_the_database_is_away(
    tmp_path: Path, switch: Switch, database_url: str, db_kind: str
) -> None:
    config = tmp_path / "upstate.yaml"
    config.write_text(config_text(switch))
    proxy = None
    url = database_url
    if db_kind == "postgresql":  # the server stopped and started, through a proxy we cut
        parts = make_url(database_url)
        proxy = TcpProxy(parts.host or "127.0.0.1", parts.port or 5432).start()
        url = parts.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    serve = Serve(tmp_path, config, url)
    try:
        serve.start()
        serve.wait_for(lambda: serve.monitor("web")["status"] == "up", timeout=10, what="up")
        outage = sqlite_locked(url) if proxy is None else contextlib.nullcontext()
        with outage:
            if proxy is not None:
                proxy.cut()
            away_at = time.time()
            serve.wait_for(
                lambda: serve.status_code("/readyz") == 503, timeout=20, what="readiness to fail"
            )
            time.sleep(2)
            if proxy is not None:
                proxy.restore()
        serve.wait_for(lambda: serve.status_code("/readyz") == 200, timeout=30, what="recovery")
        items = serve.get("/api/v1/monitors/web/results?limit=500")["items"]
        during = [r for r in items if away_at + 0.5 < _epoch(r["started_at"]) < away_at + 3]
        assert during, "results probed during the outage were written when it ended"
        assert serve.get("/api/v1/monitors/web")["status"] == "up"
    finally:
        serve.stop(signal.SIGTERM)
        if proxy is not None:
            proxy.close()


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
