"""The board's snapshot: host metrics, units, what may be shown of URLs, components from
the store, upstreams, builds, extra figures, overall, and the single-flight cache."""

from __future__ import annotations

import asyncio
import json
import stat
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.db import TestDatabase
from tests.targets.http import HttpTarget, Response, json_response
from upstate.config.loader import load_config_text
from upstate.config.models import Board, UpstateConfig
from upstate.domain.enums import ErrorKind, MonitorKind, Status
from upstate.services import board
from upstate.services.board import BoardCache, BoardSources, collect, public_origin
from upstate.services.live import LiveConfig
from upstate.store import monitors, results, states
from upstate.store.monitors import MonitorDraft, MonitorSource
from upstate.store.results import ResultRow
from upstate.store.states import StateRecord

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
GiB = 1024**3

FAKE_SYSTEMCTL = """#!/bin/sh
# Answers `systemctl show --property=... -- <units>` as systemd does: one block per unit.
shift 3
first=1
for unit in "$@"; do
  [ "$first" = 1 ] || echo
  first=0
  case "$unit" in
    api.service) state=active sub=running since=1000000;;
    worker.service) state=failed sub=failed since=0;;
    *) state=inactive sub=dead since=0;;
  esac
  printf 'ActiveState=%s\\nSubState=%s\\n' "$state" "$sub"
  printf 'ActiveEnterTimestampMonotonic=%s\\n' "$since"
done
"""


@pytest.fixture
def systemctl(tmp_path: Path) -> str:
    path = tmp_path / "systemctl"
    path.write_text(FAKE_SYSTEMCTL)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


# --- host ----------------------------------------------------------------------------------


def test_it_reads_load_memory_and_uptime_from_proc(tmp_path: Path) -> None:
    (tmp_path / "loadavg").write_text("0.50 1.25 2.00 1/234 5678\n")
    (tmp_path / "meminfo").write_text(
        "MemTotal:       16777216 kB\nMemFree:         1048576 kB\nMemAvailable:    4194304 kB\n"
    )
    (tmp_path / "uptime").write_text("93784.12 100000.00\n")
    (tmp_path / "mounts").write_text("overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n")
    host = board.host_metrics(tmp_path)
    assert host["load"] == [0.5, 1.25, 2.0]
    assert host["loadRatio"] == round(0.5 / host["cpus"], 3)
    assert host["memTotal"] == 16 * GiB
    assert host["memUsed"] == 12 * GiB  # total minus MemAvailable, not MemFree
    assert host["memUsedRatio"] == 0.75
    assert host["uptimeSec"] == 93784
    assert [d["mount"] for d in host["disks"]] == ["/"]  # proc is no real filesystem
    disk = host["disks"][0]
    assert 0 < disk["used"] <= disk["total"]
    assert disk["usedRatio"] == round(disk["used"] / disk["total"], 3)


def test_it_reads_the_real_proc_of_this_host() -> None:
    host = board.host_metrics()
    assert host["hostname"]
    assert host["cpus"] >= 1
    assert len(host["load"]) == 3
    assert 0 < host["memUsed"] < host["memTotal"]
    assert host["disks"]
    assert host["disks"][0]["mount"] == "/"


def test_it_keeps_each_block_device_once(tmp_path: Path) -> None:
    (tmp_path / "mounts").write_text(
        "/dev/sda1 / ext4 rw 0 0\n/dev/sda1 /etc/hosts ext4 rw 0 0\n"
        "/dev/loop3 /snap/core squashfs ro 0 0\ntmpfs /run tmpfs rw 0 0\n"
    )
    assert [d["mount"] for d in board.disks(tmp_path)] == ["/"]


# --- units ---------------------------------------------------------------------------------


async def test_it_reports_units_unknown_when_systemctl_is_absent(tmp_path: Path) -> None:
    found = await board.unit_states(["api.service"], systemctl=str(tmp_path / "nope"))
    assert found == {"api.service": {"active": "unknown", "sub": "unknown", "uptimeSec": None}}


async def test_it_reads_unit_states_from_one_systemctl_call(systemctl: str) -> None:
    found = await board.unit_states(["api.service", "worker.service"], systemctl=systemctl)
    assert found["api.service"]["active"] == "active"
    assert found["api.service"]["sub"] == "running"
    assert abs(found["api.service"]["uptimeSec"] - (time.monotonic() - 1)) <= 1
    assert found["worker.service"] == {"active": "failed", "sub": "failed", "uptimeSec": None}


async def test_it_gives_up_on_a_slow_systemctl(tmp_path: Path) -> None:
    slow = tmp_path / "slow-systemctl"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    started = time.monotonic()
    found = await board.unit_states(["api.service"], systemctl=str(slow), timeout_s=0.2)
    assert found["api.service"]["active"] == "unknown"
    assert time.monotonic() - started < 2


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://admin:hunter2@api.example.com/health?token=abc", "https://api.example.com"),
        ("https://api.example.com:8443/x", "https://api.example.com:8443"),
        ("http://127.0.0.1:8080/health", None),
        ("http://[::1]/health", None),
        ("http://10.1.2.3/health", None),
        ("http://192.168.1.10/health", None),
        ("http://localhost:9000/", None),
        ("http://postgres:5432/", None),
        ("http://db.internal/", None),
        ("not a url", None),
        (None, None),
    ],
)
def test_it_shows_only_the_origin_of_public_urls(url: str | None, shown: str | None) -> None:
    assert public_origin(url) == shown


# --- components from the store -------------------------------------------------------------


async def seed(
    db: TestDatabase,
    key: str,
    definition: dict[str, Any],
    status: Status | None,
    *,
    kind: MonitorKind = MonitorKind.HTTP,
    critical: bool = False,
    paused: bool = False,
    **result: Any,
) -> None:
    async with db.sessions() as session:
        record = await monitors.upsert(
            session,
            MonitorDraft(
                key=key,
                name=key.title(),
                kind=kind,
                source=MonitorSource.CONFIG,
                definition={"key": key, "kind": kind.value, **definition},
                interval_s=60.0,
                critical=critical,
                paused=paused,
            ),
            now=NOW,
        )
        if status is not None:
            await states.put_state(session, StateRecord(record.id, status, NOW, NOW, {}, NOW))
        if result:
            row = ResultRow(
                monitor_id=record.id,
                region="local",
                started_at=NOW - timedelta(seconds=5),
                **{"status": status or Status.UP, "duration_ms": 12.345, **result},
            )
            await results.insert_many(session, [row])
        await session.commit()


def sources(db: TestDatabase, config: UpstateConfig | None = None, **options: Any) -> BoardSources:
    live = LiveConfig(config or UpstateConfig(board=Board(monitors="all")))
    options.setdefault("systemctl", "/nonexistent/systemctl")
    return BoardSources(db.sessions, live, lambda: NOW, **options)


async def test_it_builds_components_and_upstreams_from_the_store(
    db: TestDatabase, systemctl: str, http_target: HttpTarget, tmp_path: Path
) -> None:
    extra_path = f"/board-extra-{uuid.uuid4().hex}"
    http_target.route(extra_path, lambda _: json_response({"blocked": 12, "nested": {"x": 1}}))
    manifest = tmp_path / "version.json"
    manifest.write_text(json.dumps({"components": {"api": {"build": "41"}, "web": {"build": "7"}}}))
    await seed(
        db,
        "api",
        {
            "url": "https://admin:s3cret-pass@api.example.com/health?token=t0k3n",
            "unit": "api.service",
            "extra_url": http_target.url(extra_path),
        },
        Status.UP,
        critical=True,
        status_code=200,
        extracted={"build": "42"},
    )
    await seed(
        db,
        "web",
        {"url": "http://127.0.0.1:8080/"},
        Status.DOWN,
        status_code=None,
        error_kind=ErrorKind.CONNECTION_REFUSED,
        error_message="connect to 127.0.0.1:8080 refused (internal detail)",
    )
    await seed(db, "old", {"url": "https://old.example.com/"}, Status.PAUSED, paused=True)
    await seed(
        db,
        "github",
        {"url": "https://www.githubstatus.com"},
        Status.DEGRADED,
        kind=MonitorKind.STATUSPAGE,
        status_code=200,
    )
    config = UpstateConfig(board=Board(manifest=str(manifest), monitors="all"))

    snapshot = await collect(sources(db, config, systemctl=systemctl))

    assert snapshot["generatedAt"] == "2026-03-14T12:00:00Z"
    assert set(snapshot) == {"generatedAt", "overall", "host", "components", "upstreams"}
    api, web = snapshot["components"]  # paused monitors are left out
    assert api == {
        "key": "api",
        "label": "Api",
        "role": None,
        "host": "api.example.com",
        "url": "https://api.example.com",
        "critical": True,
        "unit": "api.service",
        "probe": {
            "up": True,
            "httpStatus": 200,
            "latencyMs": 12.3,
            "build": "42",
            "manifestBuild": "41",
            "extra": {"blocked": 12},
        },
        "unitState": {
            "active": "active",
            "sub": "running",
            "uptimeSec": api["unitState"]["uptimeSec"],
        },
    }
    assert web["url"] is None
    assert web["host"] is None
    assert web["unitState"] is None
    assert web["probe"] == {
        "up": False,
        "httpStatus": None,
        "latencyMs": 12.3,
        "error": "connection_refused",
        "build": "7",
    }
    assert snapshot["overall"] == "degraded"  # web is down but not critical
    assert snapshot["upstreams"] == [
        {
            "key": "github",
            "label": "Github",
            "provider": "www.githubstatus.com",
            "indicator": "minor",
            "description": "Minor Service Outage",
            "components": [],
            "incidents": [],
        }
    ]
    text = json.dumps(snapshot)
    for secret in ("s3cret-pass", "t0k3n", "127.0.0.1", "internal detail", extra_path):
        assert secret not in text


async def test_it_counts_a_failed_unit_as_down_even_when_the_probe_answers(
    db: TestDatabase, systemctl: str
) -> None:
    await seed(
        db,
        "worker",
        {"url": "https://w.example.com", "unit": "worker.service"},
        Status.UP,
        critical=True,
        status_code=200,
    )
    snapshot = await collect(sources(db, systemctl=systemctl))
    (worker,) = snapshot["components"]
    assert worker["probe"]["up"] is True
    assert worker["unitState"]["active"] == "failed"
    assert snapshot["overall"] == "down"


async def test_it_counts_unknown_units_as_fine_without_systemctl(db: TestDatabase) -> None:
    await seed(
        db,
        "api",
        {"url": "https://a.example.com", "unit": "api.service"},
        Status.UP,
        critical=True,
        status_code=200,
    )
    snapshot = await collect(sources(db))
    assert snapshot["components"][0]["unitState"] == board.unknown_unit()
    assert snapshot["overall"] == "operational"


async def test_it_reads_stored_statuspage_facts_and_drops_a_bad_extra(
    db: TestDatabase, http_target: HttpTarget
) -> None:
    bad_path = f"/board-extra-bad-{uuid.uuid4().hex}"
    http_target.route(bad_path, lambda _: Response(200, b"not json"))
    facts = {
        "indicator": "major",
        "description": "Partial System Outage",
        "components": [{"name": "Actions", "status": "major_outage"}],
        "incidents": [{"name": "Actions delayed", "status": "investigating", "impact": "major"}],
    }
    await seed(
        db,
        "gh",
        {"url": "https://www.githubstatus.com"},
        Status.DOWN,
        kind=MonitorKind.STATUSPAGE,
        status_code=200,
        extracted={board.STATUSPAGE_KEY: facts},
    )
    await seed(
        db,
        "api",
        {"url": "https://a.example.com", "extra_url": http_target.url(bad_path)},
        Status.UP,
        status_code=200,
    )
    snapshot = await collect(sources(db))
    (upstream,) = snapshot["upstreams"]
    assert upstream["indicator"] == "major"
    assert upstream["components"] == facts["components"]
    assert upstream["incidents"] == facts["incidents"]
    assert "extra" not in snapshot["components"][0]["probe"]
    assert snapshot["overall"] == "operational"  # upstreams are shown, not counted


# --- the cache -----------------------------------------------------------------------------


async def test_it_collects_once_for_fifty_concurrent_viewers() -> None:
    calls = 0

    async def slow_collect() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"n": calls}

    cache = BoardCache(slow_collect, lambda: 4.0)
    answers = await asyncio.gather(*(cache.get() for _ in range(50)))
    assert calls == 1
    assert all(snapshot == {"n": 1} for snapshot, _, _ in answers)
    assert [hit for _, hit, _ in answers].count(False) == 1
    assert (await cache.get())[1] is True


async def test_it_collects_again_after_the_ttl_and_serves_the_last_snapshot_on_failure() -> None:
    now = [100.0]
    outcomes: list[Any] = [{"n": 1}, RuntimeError("database gone"), {"n": 3}]

    async def collect_next() -> dict[str, Any]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome)

    cache = BoardCache(collect_next, lambda: 4.0, monotonic=lambda: now[0])
    assert (await cache.get())[:2] == ({"n": 1}, False)
    now[0] += 3.9
    assert (await cache.get())[:2] == ({"n": 1}, True)
    assert cache.collections == 1  # at most one burst per ttl: none before it ends
    now[0] += 0.2  # past the ttl: this request collects; it fails, the last is kept
    assert (await cache.get())[:2] == ({"n": 1}, False)
    assert cache.collections == 2
    now[0] += 3.0
    assert (await cache.get())[:2] == ({"n": 1}, True)
    assert cache.collections == 2  # no retry before another ttl
    now[0] += 1.5
    assert (await cache.get())[:2] == ({"n": 3}, False)
    assert cache.collections == 3


async def test_it_serves_the_last_snapshot_while_the_next_is_collected() -> None:
    now, gate = [100.0], asyncio.Event()
    count = 0

    async def collect_next() -> dict[str, Any]:
        nonlocal count
        count += 1
        if count > 1:
            await gate.wait()
        return {"n": count}

    cache = BoardCache(collect_next, lambda: 1.0, monotonic=lambda: now[0])
    first = await cache.get_body()
    assert first[:2] == (b'{"n":1}', False)
    now[0] = 100.95
    assert cache.fresh_body() == (b'{"n":1}', pytest.approx(0.95))
    assert cache.collections == 1
    now[0] = 101.5  # past the ttl: the fast path cannot answer, a request collects
    assert cache.fresh_body() is None
    waiting = asyncio.ensure_future(cache.get())
    await asyncio.sleep(0)
    assert cache.collections == 2
    # Meanwhile every other viewer gets the last snapshot at once.
    assert (await cache.get())[:2] == ({"n": 1}, True)
    assert cache.fresh_body() == (b'{"n":1}', pytest.approx(1.5))
    gate.set()
    assert (await waiting)[:2] == ({"n": 2}, False)
    now[0] = 101.6
    snapshot, hit, age = await cache.get()
    assert (snapshot, hit) == ({"n": 2}, True)
    assert age == pytest.approx(0.1)  # counted from when its collection started
    assert cache.collections == 2


async def test_it_shows_only_monitors_on_a_public_page_unless_told(db: TestDatabase) -> None:
    for key in ("shown", "private", "hidden-page"):
        await seed(db, key, {"url": "https://x.example.com/"}, Status.UP)
    config = load_config_text(
        """
monitors:
  - {key: shown, kind: http, url: "https://x.example.com/"}
  - {key: private, kind: http, url: "https://x.example.com/"}
  - {key: hidden-page, kind: http, url: "https://x.example.com/"}
status_pages:
  - {slug: pub, title: Public, components: [{name: A, monitors: [shown]}]}
  - slug: internal
    title: Internal
    access: password
    password: s3cret-page
    components: [{name: B, monitors: [hidden-page]}]
"""
    )
    snapshot = await collect(sources(db, config))
    assert [c["key"] for c in snapshot["components"]] == ["shown"]
    listed = config.model_copy(update={"board": Board(monitors=("private",))})
    snapshot = await collect(sources(db, listed))
    assert [c["key"] for c in snapshot["components"]] == ["private"]


# --- newest results in a few queries, and the encoded snapshot ------------------------------


async def test_it_shows_the_local_result_else_the_newest_of_the_monitors_regions(
    db: TestDatabase,
) -> None:
    cases = {  # key: (the monitor's regions, its results as (region, age s, latency ms))
        "both": (("local", "eu"), [("local", 30, 1.0), ("eu", 5, 2.0)]),  # local, though older
        "remote": (("eu", "us"), [("us", 20, 3.0), ("eu", 10, 4.0), ("local", 1, 9.0)]),
        "moved": (("us",), [("us", 40, 5.0), ("eu", 2, 6.0)]),  # it no longer runs in eu
    }
    async with db.sessions() as session:
        for key, (regions, made) in cases.items():
            record = await monitors.upsert(
                session,
                MonitorDraft(
                    key=key,
                    name=key,
                    kind=MonitorKind.HTTP,
                    source=MonitorSource.CONFIG,
                    definition={"key": key, "kind": "http", "url": "https://x.example.com/"},
                    interval_s=60.0,
                    regions=regions,
                ),
                now=NOW,
            )
            await states.put_state(session, StateRecord(record.id, Status.UP, NOW, NOW, {}, NOW))
            rows = [
                ResultRow(record.id, region, NOW - timedelta(seconds=age), Status.UP, ms)
                for region, age, ms in made
            ]
            await results.insert_many(session, rows)
        await session.commit()
    snapshot = await collect(sources(db))
    latency = {c["key"]: c["probe"]["latencyMs"] for c in snapshot["components"]}
    assert latency == {"both": 1.0, "remote": 4.0, "moved": 5.0}


async def test_it_encodes_each_snapshot_once_as_the_json_response_did() -> None:
    now = [100.0]
    snapshots = iter([{"n": 1, "text": "été ✓"}, {"n": 2, "text": ""}])

    async def collect_next() -> dict[str, Any]:
        return next(snapshots)

    cache = BoardCache(collect_next, lambda: 1.0, monotonic=lambda: now[0])
    assert cache.fresh_body() is None  # nothing collected yet
    body, hit, _ = await cache.get_body()
    assert (body, hit) == ('{"n":1,"text":"été ✓"}'.encode(), False)
    now[0] += 0.5
    assert cache.fresh_body() == (body, 0.5)
    now[0] += 0.5
    assert cache.fresh_body() is None  # due: the caller must collect
    assert (await cache.get_body())[:2] == (b'{"n":2,"text":""}', False)
    assert cache.collections == 2


async def test_it_drops_figures_that_json_cannot_carry(http_target: HttpTarget) -> None:
    path = f"/board-nan-{uuid.uuid4().hex}"
    body = b'{"ok": 1.5, "bad": NaN, "worse": Infinity}'
    json_type = (("Content-Type", "application/json"),)
    http_target.route(path, lambda _: Response(200, body, json_type))
    async with httpx.AsyncClient(trust_env=False) as http:
        assert await board.fetch_extra(http, http_target.url(path)) == {"ok": 1.5}
