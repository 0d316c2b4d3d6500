"""The one-host board: a snapshot of the box (load, memory, disks), its services and the
cloud dependencies it leans on, for `/board`, `/api/status` and the heartbeat push.

Built from the monitors already checked (their stored state and newest result), so
nothing is probed twice; the only calls out are one `systemctl show` for every unit
and the best-effort `extra_url` fetches. The board is public and must work while auth
is down, so the snapshot carries coarse health only: error kinds, never messages; no
credentials; a URL whose host is loopback, private or a bare internal name is null,
and a public one is cut to its origin (paths and queries may carry tokens).

`BoardCache` keeps the snapshot for `board.cache_ttl` seconds and makes concurrent
misses share one collection (single flight), so a hundred viewers cost one burst.

Overall follows the spec: a component is unhealthy when its monitor is down or its
unit is neither `active` nor `unknown`; then overall is `down` if it is critical,
else `degraded` (a degraded monitor also makes it `degraded`, as on status pages).
Upstreams are shown, not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from upstate.config.models import Board, UpstateConfig
from upstate.domain.enums import MonitorKind, Status
from upstate.services.live import LiveConfig
from upstate.services.queries import overall_of
from upstate.store import latest as latest_store
from upstate.store import monitors as monitor_store
from upstate.store import results as result_store
from upstate.store import states as state_store
from upstate.store.monitors import MonitorRecord
from upstate.store.results import ResultRow

logger = logging.getLogger(__name__)

Snapshot = dict[str, Any]

UNIT_TIMEOUT_S = 2.0  # one `systemctl show` for all units
EXTRA_TIMEOUT_S = 2.0  # each extra_url fetch
EXTRA_MAX_FIGURES = 24  # figures kept from an extra_url document
STATUSPAGE_KEY = "$statuspage"  # where a statuspage result's facts ride in `extracted`
UNKNOWN = "unknown"
LOCAL = "local"  # the region of the server itself
URL_MEMO = 4096  # monitor URLs whose public origin and host are kept
YIELD_EVERY = 100  # components built between two yields to the event loop
_UNIT_PROPERTIES = "ActiveState,SubState,ActiveEnterTimestampMonotonic"
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa", ".localdomain")
_REAL_FS_PREFIX = "/dev/"
_SKIPPED_FS = frozenset({"squashfs", "iso9660", "udf"})  # read-only images are always full
_UP_STATUSES = frozenset({Status.UP, Status.DEGRADED, Status.MAINTENANCE})
_INDICATORS = {  # a statuspage monitor's own status, when the page's facts were not stored
    Status.UP: ("none", "All Systems Operational"),
    Status.DEGRADED: ("minor", "Minor Service Outage"),
    Status.DOWN: ("major", "Unreachable or Major Outage"),
    Status.MAINTENANCE: ("maintenance", "Under Maintenance"),
}


# --- the host ------------------------------------------------------------------------------


def host_metrics(proc: Path = Path("/proc")) -> dict[str, Any]:
    """Load, memory, uptime and real filesystems, from /proc and statvfs (no dependency)."""
    cpus = _cpus()
    load = _loadavg(proc)
    total, used = _memory(proc)
    return {
        "hostname": socket.gethostname(),
        "platform": sys.platform,
        "uptimeSec": _uptime(proc),
        "cpus": cpus,
        "load": load,
        "loadRatio": round(load[0] / cpus, 3) if load else None,
        "memTotal": total,
        "memUsed": used,
        "memUsedRatio": round(used / total, 3) if total and used is not None else None,
        "disks": disks(proc),
    }


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _loadavg(proc: Path) -> list[float]:
    text = _read(proc / "loadavg")
    try:
        return [float(part) for part in (text or "").split()[:3]]
    except ValueError:
        return []


def _memory(proc: Path) -> tuple[int | None, int | None]:
    """(total, used) bytes; used is total minus MemAvailable (what the kernel could give)."""
    fields: dict[str, int] = {}
    for line in (_read(proc / "meminfo") or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024  # kB
    total = fields.get("MemTotal")
    available = fields.get("MemAvailable", fields.get("MemFree"))
    if total is None or available is None:
        return total, None
    return total, max(total - available, 0)


def _uptime(proc: Path) -> int | None:
    text = _read(proc / "uptime")
    try:
        return int(float((text or "").split()[0]))
    except (IndexError, ValueError):
        return None


def disks(proc: Path = Path("/proc")) -> list[dict[str, Any]]:
    """`/` and every block-device filesystem, each device once (bind mounts are repeats)."""
    mounts = ["/"]
    for line in (_read(proc / "mounts") or "").splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        device, mount, fstype = parts[0], _unescape(parts[1]), parts[2]
        real = device.startswith(_REAL_FS_PREFIX) and not device.startswith("/dev/loop")
        if real and fstype not in _SKIPPED_FS:
            mounts.append(mount)
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for mount in mounts:
        try:
            if not os.path.isdir(mount):
                continue
            st_dev = os.stat(mount).st_dev
            stats = os.statvfs(mount)
        except OSError:
            continue
        if st_dev in seen or stats.f_blocks == 0:
            continue
        seen.add(st_dev)
        total = stats.f_blocks * stats.f_frsize
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
        out.append(
            {"mount": mount, "total": total, "used": used, "usedRatio": round(used / total, 3)}
        )
    return out


def _unescape(mount: str) -> str:
    """/proc/mounts writes a space as \\040 (and tab, newline, backslash likewise)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        mount = mount.replace(code, char)
    return mount


# --- systemd units -------------------------------------------------------------------------


def unknown_unit() -> dict[str, Any]:
    return {"active": UNKNOWN, "sub": UNKNOWN, "uptimeSec": None}


async def unit_states(
    units: Sequence[str], *, systemctl: str = "systemctl", timeout_s: float = UNIT_TIMEOUT_S
) -> dict[str, dict[str, Any]]:
    """`{active, sub, uptimeSec}` per unit from one `systemctl show`; all `unknown` when
    systemctl is absent, fails (no systemd in a container) or is slow."""
    wanted = [unit for unit in dict.fromkeys(units) if unit and not unit.startswith("-")]
    out = {unit: unknown_unit() for unit in units}
    if not wanted:
        return out
    try:
        process = await asyncio.create_subprocess_exec(
            systemctl,
            "show",
            f"--property={_UNIT_PROPERTIES}",
            "--",
            *wanted,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return out  # no systemctl here: a laptop, a container
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        logger.warning("systemctl show timed out units=%d", len(wanted))
        return out
    if process.returncode != 0:
        return out
    blocks = stdout.decode(errors="replace").strip().split("\n\n")
    if len(blocks) != len(wanted):
        return out
    now = time.monotonic()  # CLOCK_MONOTONIC, the clock systemd's *Monotonic values use
    for unit, block in zip(wanted, blocks, strict=True):
        out[unit] = _unit_state(block, now)
    return out


def _unit_state(block: str, monotonic_now: float) -> dict[str, Any]:
    values = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
    active = values.get("ActiveState") or UNKNOWN
    uptime = None
    entered = values.get("ActiveEnterTimestampMonotonic", "")
    if active == "active" and entered.isdigit() and int(entered) > 0:
        uptime = max(int(monotonic_now - int(entered) / 1e6), 0)
    return {"active": active, "sub": values.get("SubState") or UNKNOWN, "uptimeSec": uptime}


# --- what may be shown of a URL ------------------------------------------------------------


def public_origin(url: object) -> str | None:
    """`scheme://host[:port]` of a public URL; None for internal hosts or anything odd.

    Credentials, paths and queries never survive: they may carry tokens."""
    return _public_origin(url) if isinstance(url, str) else None


@lru_cache(maxsize=URL_MEMO)
def _public_origin(url: str) -> str | None:
    host = public_host(url)
    if host is None:
        return None
    parts = urlsplit(url)
    shown = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return None
    return f"{parts.scheme}://{shown}" + (f":{port}" if port else "")


def public_host(url_or_host: object) -> str | None:
    """The host of a URL (or a bare host), or None when it is internal."""
    if not isinstance(url_or_host, str) or not url_or_host:
        return None
    return _public_host(url_or_host)


@lru_cache(maxsize=URL_MEMO)  # pure, and asked twice per component per collection
def _public_host(url_or_host: str) -> str | None:
    if "://" in url_or_host:
        try:
            host = urlsplit(url_or_host).hostname
        except ValueError:
            return None
    else:
        host = url_or_host.strip("[]").lower()
    if not host or is_internal_host(host):
        return None
    return host


def is_internal_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host == "localhost" or "." not in host or host.endswith(_INTERNAL_SUFFIXES)
    return not address.is_global


# --- components ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store says of one monitor right now."""

    record: MonitorRecord
    status: Status
    result: ResultRow | None


def probe_of(facts: Facts, manifest_build: object, extra: Any) -> dict[str, Any]:
    definition = facts.record.definition
    if is_self(definition):
        probe: dict[str, Any] = {"up": True, "httpStatus": None, "latencyMs": None}
    else:
        probe = {
            "up": _up(facts.status),
            "httpStatus": facts.result.status_code if facts.result else None,
            "latencyMs": round(facts.result.duration_ms, 1) if facts.result else None,
        }
        if facts.status is Status.DOWN and facts.result and facts.result.error_kind:
            probe["error"] = facts.result.error_kind.value
    extracted = facts.result.extracted if facts.result and facts.result.extracted else {}
    build = _scalar(extracted.get("build"))
    manifest = _scalar(manifest_build)
    if build is not None or manifest is not None:
        probe["build"] = build if build is not None else manifest
    if build is not None and manifest is not None and build != manifest:
        probe["manifestBuild"] = manifest  # deploy drift: running one thing, shipped another
    if extra is not None:
        probe["extra"] = extra
    return probe


def is_self(definition: Mapping[str, Any]) -> bool:
    """Upstate itself: trivially up, never fetched (`self: true`, stored as self or is_self)."""
    return definition.get("self") is True or definition.get("is_self") is True


def _up(status: Status) -> bool | None:
    if status in (Status.UNKNOWN, Status.PAUSED):
        return None
    return status in _UP_STATUSES


def _scalar(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value)[:64]
    return None


def component_of(
    facts: Facts,
    unit_state: dict[str, Any] | None,
    manifest_build: object,
    extra: Any,
) -> dict[str, Any]:
    record, definition = facts.record, facts.record.definition
    url = definition.get("url")
    unit = definition.get("unit")
    component: dict[str, Any] = {
        "key": record.key,
        "label": _text(definition.get("label")) or record.name,
        "role": _text(definition.get("role")),
        "host": public_host(url) if url else public_host(definition.get("host")),
        "url": public_origin(url),
        "critical": record.critical,
        "unit": unit if isinstance(unit, str) else None,
        "probe": probe_of(facts, manifest_build, extra),
        "unitState": unit_state,
    }
    if is_self(definition):
        component["self"] = True
    return component


def _text(value: object) -> str | None:
    return value[:120] if isinstance(value, str) and value else None


def unhealthy(component: Mapping[str, Any]) -> bool:
    unit = component.get("unitState")
    return component["probe"]["up"] is False or (
        unit is not None and unit["active"] not in ("active", UNKNOWN)
    )


def overall(components: Sequence[Mapping[str, Any]], statuses: Mapping[str, Status]) -> str:
    pairs = []
    for component in components:
        status = Status.DOWN if unhealthy(component) else statuses[component["key"]]
        pairs.append((status, bool(component["critical"])))
    return overall_of(pairs).value


# --- upstreams -----------------------------------------------------------------------------


def upstream_of(facts: Facts) -> dict[str, Any]:
    record, definition = facts.record, facts.record.definition
    extracted = facts.result.extracted if facts.result and facts.result.extracted else {}
    stored = extracted.get(STATUSPAGE_KEY)
    page = stored if isinstance(stored, Mapping) else {}
    indicator, description = _INDICATORS.get(facts.status, (UNKNOWN, "No data yet"))
    indicator = _text(page.get("indicator")) or _text(extracted.get("indicator")) or indicator
    description = (
        _text(page.get("description")) or _text(extracted.get("description")) or description
    )
    upstream: dict[str, Any] = {
        "key": record.key,
        "label": _text(definition.get("label")) or record.name,
        "provider": _text(definition.get("provider")) or public_host(definition.get("url")),
        "indicator": indicator,
        "description": description,
        "components": _named(page.get("components"), ("name", "status")),
        "incidents": _named(page.get("incidents"), ("name", "status", "impact")),
    }
    region = _text(definition.get("provider_region"))
    if region is not None:
        upstream["region"] = region
    return upstream


def _named(items: object, keys: tuple[str, ...]) -> list[dict[str, str]]:
    if not isinstance(items, list):
        return []
    return [
        {key: str(item.get(key, ""))[:200] for key in keys}
        for item in items[:50]
        if isinstance(item, Mapping)
    ]


# --- builds and extra figures --------------------------------------------------------------


def manifest_builds(board: Board, config_path: str | None) -> dict[str, object]:
    """`components.<key>.build` of the version manifest; empty when absent or malformed."""
    if not board.manifest:
        return {}
    path = Path(board.manifest)
    if not path.is_absolute() and config_path:
        path = Path(config_path).parent / path
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        logger.debug("board manifest unreadable path=%s", path)
        return {}
    components = document.get("components") if isinstance(document, dict) else None
    if not isinstance(components, dict):
        return {}
    return {
        key: value.get("build")
        for key, value in components.items()
        if isinstance(value, dict) and "build" in value
    }


async def fetch_extra(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """A flat card of figures from a JSON object; None on any failure (never raises)."""
    try:
        answer = await http.get(url, timeout=EXTRA_TIMEOUT_S, follow_redirects=False)
        if answer.status_code != 200:
            return None
        document = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    figures = {
        str(key)[:64]: value if not isinstance(value, str) else value[:120]
        for key, value in document.items()
        if isinstance(value, int | str | bool)
        or value is None
        or (isinstance(value, float) and math.isfinite(value))  # NaN is not JSON
    }
    return dict(list(figures.items())[:EXTRA_MAX_FIGURES]) or None


# --- one collection ------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardSources:
    """Where a snapshot comes from. `transport` swaps the extra_url client's transport."""

    sessions: async_sessionmaker[AsyncSession]
    live: LiveConfig
    clock: Callable[[], datetime]
    systemctl: str = "systemctl"
    proc: Path = Path("/proc")
    transport: httpx.AsyncBaseTransport | None = None


def shown_monitors(config: UpstateConfig) -> frozenset[str] | None:
    """The monitors the public board may show (None: all): `board.monitors`, else those
    on a public status page."""
    if config.board.monitors == "all":
        return None
    if config.board.monitors is not None:
        return frozenset(config.board.monitors)
    return frozenset(
        key
        for page in config.status_pages
        if page.access == "public"
        for component in page.all_components()
        for key in component.monitors
    )


async def _facts(session: AsyncSession, shown: frozenset[str] | None) -> list[Facts]:
    """Each shown monitor's state and newest result in a handful of queries, not one per
    monitor (store.latest): a monitor's `local` result when it runs there, else its newest."""
    records = [
        r
        for r in await monitor_store.list_all(session)
        if not r.paused and (shown is None or r.key in shown)
    ]
    known = await state_store.list_states(session)
    ids = [record.id for record in records]
    local = await latest_store.latest_many(session, ids, region=LOCAL)
    newest = await latest_store.latest_many(session, ids)
    out = []
    for record in records:
        state = known.get(record.id)
        result = await _shown_result(session, record, local, newest)
        out.append(Facts(record, state.status if state else Status.UNKNOWN, result))
    return out


async def _shown_result(
    session: AsyncSession,
    record: MonitorRecord,
    local: Mapping[int, ResultRow],
    newest: Mapping[int, ResultRow],
) -> ResultRow | None:
    """The `local` result when the monitor runs there, else the newest of its regions."""
    if LOCAL in record.regions and record.id in local:
        return local[record.id]
    candidate = newest.get(record.id)
    if candidate is None or candidate.region in record.regions:
        return candidate
    # Its newest result is from a region it no longer runs in (rare): ask region by region.
    latest = await result_store.latest_per_region(session, record.id, record.regions)
    return max(latest.values(), key=lambda row: row.started_at, default=None)


async def _extras(facts: Sequence[Facts], sources: BoardSources) -> dict[str, Any]:
    wanted = {
        f.record.key: f.record.definition["extra_url"]
        for f in facts
        if isinstance(f.record.definition.get("extra_url"), str)
    }
    if not wanted:
        return {}
    async with httpx.AsyncClient(transport=sources.transport, trust_env=False) as http:
        fetched = await asyncio.gather(*(fetch_extra(http, url) for url in wanted.values()))
    return dict(zip(wanted, fetched, strict=True))


async def collect(sources: BoardSources) -> Snapshot:
    """One collection burst: the store, systemctl and extra_url fetches, concurrently."""
    async with sources.sessions() as session:
        facts = await _facts(session, shown_monitors(sources.live.config))
    live = sources.live
    parts = [f for f in facts if f.record.kind is not MonitorKind.STATUSPAGE]
    upstreams = [f for f in facts if f.record.kind is MonitorKind.STATUSPAGE]
    units = [u for f in parts if isinstance(u := f.record.definition.get("unit"), str)]
    unit_task = unit_states(units, systemctl=sources.systemctl)
    states, extras = await asyncio.gather(unit_task, _extras(parts, sources))
    builds = manifest_builds(live.config.board, live.path)
    components = []
    for n, f in enumerate(parts, 1):
        unit = f.record.definition.get("unit")
        unit_state = states.get(unit) if isinstance(unit, str) else None
        extra = extras.get(f.record.key)
        components.append(component_of(f, unit_state, builds.get(f.record.key), extra))
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let requests and checks run between slices
    return {
        "generatedAt": sources.clock().isoformat().replace("+00:00", "Z"),
        "overall": overall(components, {f.record.key: f.status for f in parts}),
        "host": host_metrics(sources.proc),
        "components": components,
        "upstreams": [upstream_of(f) for f in upstreams],
    }


# --- the cache -----------------------------------------------------------------------------


def encode(snapshot: Snapshot) -> bytes:
    """The snapshot as `/api/status` sends it: compact UTF-8 JSON, as Starlette's
    JSONResponse wrote it (so the bytes did not change when the encoding moved here)."""
    return json.dumps(
        snapshot, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


@dataclass
class BoardCache:
    """The newest snapshot, served `ttl()` seconds from when its collection started;
    concurrent misses share one collection.

    At most one collection starts per `ttl` (specs/board.md): the first request past
    the TTL starts it and waits for it; every other request meanwhile is answered from
    the previous snapshot (stale while revalidate), so under traffic one request per
    TTL waits for a burst and a snapshot is at most `ttl` + one collection old. A
    failed collection keeps the last snapshot for another `ttl` (then it is tried
    again).

    `get()` answers (snapshot, hit, age in seconds), `get_body()` the same with the
    snapshot encoded: a 1,000-monitor snapshot is ~170 KB of JSON, ~2-5 ms to encode,
    so it is encoded once per collection, not once per request. `fresh_body()` answers
    without waiting, or None when the caller must collect (the web's fast path). A
    caller that did not start a burst of its own counts as a hit.
    """

    collect: Callable[[], Awaitable[Snapshot]]
    ttl: Callable[[], float]
    monotonic: Callable[[], float] = time.monotonic
    collections: int = 0  # bursts started so far, for tests and metrics
    _snapshot: Snapshot | None = None
    _body: bytes = b""  # _snapshot encoded
    _at: float = 0.0  # when the snapshot's collection started (what its data is as old as)
    _until: float = 0.0  # served without waiting until then
    _pending: asyncio.Task[Snapshot] | None = field(default=None, repr=False)

    async def get(self) -> tuple[Snapshot, bool, float]:
        if self._ready() is not None and self._snapshot is not None:
            return self._snapshot, True, self.monotonic() - self._at
        if self._pending is not None:
            snapshot = await asyncio.shield(self._pending)
            return snapshot, True, self.monotonic() - self._at
        snapshot = await asyncio.shield(self._start())
        return snapshot, False, self.monotonic() - self._at

    async def get_body(self) -> tuple[bytes, bool, float]:
        """(the snapshot as JSON bytes, hit, age in seconds)."""
        _, hit, age = await self.get()
        return self._body, hit, age

    def fresh_body(self) -> tuple[bytes, float] | None:
        """(JSON bytes, age) when a request may be answered now (a refresh that is due
        is started); None when `get` would collect and wait."""
        age = self._ready()
        return None if age is None else (self._body, age)

    def _ready(self) -> float | None:
        """The snapshot's age when it may be served now, else None; starts a due refresh."""
        if self._snapshot is None:
            return None
        now = self.monotonic()
        if now < self._until or self._pending is not None:
            return now - self._at
        return None

    def _start(self) -> asyncio.Task[Snapshot]:
        self.collections += 1
        self._pending = asyncio.ensure_future(self._collect(self.monotonic()))
        return self._pending

    async def _collect(self, started: float) -> Snapshot:
        """A burst; when it fails, the last snapshot is served again (retried after ttl)."""
        try:
            snapshot = await self.collect()
            body = encode(snapshot)  # what cannot be JSON fails here, like a collection
        except Exception as exc:
            if self._snapshot is None:
                raise
            logger.warning("board collection failed error=%s", type(exc).__name__)
            self._until = self.monotonic() + self.ttl()
            return self._snapshot
        finally:
            self._pending = None
        self._snapshot, self._body, self._at = snapshot, body, started
        self._until = started + self.ttl()
        return snapshot


def board_cache(
    sessions: async_sessionmaker[AsyncSession],
    live: LiveConfig,
    clock: Callable[[], datetime],
    **options: Any,
) -> BoardCache:
    """The cache `/api/status`, `/board` and the heartbeat push share."""
    sources = BoardSources(sessions, live, clock, **options)
    return BoardCache(lambda: collect(sources), lambda: live.config.board.cache_ttl)
