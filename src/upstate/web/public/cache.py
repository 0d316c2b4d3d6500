"""The public render cache: a traffic spike costs one render per key per TTL, not one per visitor.

Every public route (status page HTML, Statuspage JSON, badges, feeds) answers through
`get_or_render(key, render, request)`:

- **Keys come from routes only**: built from path parameters and whitelisted query
  parameters (and, for HTML, the Host of a custom domain and a shipped language). No
  request header or query string reaches the key or the decision, so `Cache-Control:
  no-cache`, `Pragma` or `?nocache=1` cannot make a visitor's request reach the database.
- **TTL** is short (1 s by default: every answer reflects a change within a second),
  counted from the moment its render *started* (what the data is as old as), and an
  entry also dies when the config changes (`live.version`), so a reload shows at once.
- **Refresh ahead, stale while revalidate**: a request for an entry near the end of its
  TTL (the last tenth, or twice its last render time) starts ONE background refresh
  and is answered from the entry; until that refresh lands, requests past the TTL get
  the previous entry (`X-Cache: stale`). So under traffic no visitor waits for a render,
  and an answer is at most TTL + one render old. Without traffic nothing refreshes: a
  request past the TTL with no refresh running renders in its own task and waits.
- **Single flight**: concurrent requests for a missing or expired entry share one render;
  the others await its result. A render that fails is not cached, and its error reaches
  every waiter (each then answers as the error handler says); a failed background
  refresh is logged and the entry expires as usual.
- **ETag** is strong, a hash of the body; `If-None-Match` with it gets a 304. Browsers
  and CDNs see `Cache-Control: public, max-age=<route's>`; `X-Cache` says hit, stale or miss.
- **Bounded**: at most MAX_ENTRIES keys (the oldest go first); routes only cache keys
  that exist in the config, so unknown slugs cannot fill it.
- **Values too**: `value(key, compute, ttl)` keeps any computed object (e.g. the
  response-time charts, which change hourly, for 60 s) under its own TTL.

The API for code answering before the routes (an ASGI fast path): `lookup(key, version)`
returns a `Hit` (the `Entry`, and whether it is fresh or stale) or None, and starts the
background refresh itself when one is due (the entry keeps the render that made it).
An `Entry` holds what to send: `body`, `status_code`, `media_type`, `headers` (the
route's own, `ETag` and `Cache-Control`; add `X-Cache` and the content type),
`raw_headers` (the same as ASGI byte pairs, with content-type and content-length) and
`etag`; `not_modified(if_none_match)` says whether to answer 304. Build the key exactly
as the route does, and answer only GETs of public pages (`entry.private` is False) —
None means "let the route answer". `version` is `live.version` (`version_of(request)`).

Renders run on the event loop that also starts the checks: the cache cuts their
number and keeps visitors from waiting on them; keeping each one short is the
services' job (services.pages builds a 1,000-monitor page in a few queries).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from starlette.responses import Response

logger = logging.getLogger(__name__)

DEFAULT_TTL = 1.0
MAX_ENTRIES = 10_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a render produces: the body and how to send it."""

    body: bytes
    media_type: str
    status_code: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. CORS, Vary


Render = Callable[[], Awaitable[Rendered]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached answer, ready to send (see the module docstring for its use)."""

    rendered: Rendered  # what the render gave (its own headers only)
    headers: Mapping[str, str]  # the render's, ETag, Cache-Control (no X-Cache)
    raw_headers: tuple[tuple[bytes, bytes], ...]  # the same + content-type, -length
    etag: str
    private: bool
    started: float  # on the cache's clock: when its render began
    ttl: float
    render_s: float  # how long that render took
    version: int  # live.version it was rendered under
    render: Render = field(repr=False, compare=False)  # what refreshes it

    @property
    def body(self) -> bytes:
        return self.rendered.body

    @property
    def status_code(self) -> int:
        return self.rendered.status_code

    @property
    def media_type(self) -> str:
        return self.rendered.media_type

    def not_modified(self, if_none_match: str | None) -> bool:
        """Whether a request with this If-None-Match gets a 304."""
        return self.status_code == 200 and _matches(if_none_match, self.etag)

    @property
    def refresh_lead(self) -> float:
        """How long before its TTL ends a refresh starts."""
        return min(self.ttl / 2, max(self.ttl / 10, 2 * self.render_s))


@dataclass(frozen=True, slots=True)
class Hit:
    """What `lookup` found: fresh (age < TTL) or stale (a refresh is on its way)."""

    entry: Entry
    fresh: bool

    @property
    def label(self) -> str:
        return "hit" if self.fresh else "stale"


class PublicCache:
    """Per-key rendered responses with a TTL, refresh ahead, single flight and ETags."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Future[Entry]] = {}
        self._values: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._value_flights: dict[Hashable, asyncio.Future[Any]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.renders = 0  # how many renders ran: for tests and metrics

    def lookup(self, key: Hashable, version: int) -> Hit | None:
        """The entry to answer `key` with now, or None (the caller must render).

        Fresh within its TTL; when it nears the end, one background refresh starts
        here. Past the TTL it is served only while that refresh runs."""
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        age = self._clock() - entry.started
        if age < entry.ttl:
            if age >= entry.ttl - entry.refresh_lead and key not in self._flights:
                self._refresh(key, entry, version)
            return Hit(entry, fresh=True)
        if key in self._flights:
            return Hit(entry, fresh=False)
        return None

    def _fresh(self, key: Hashable, version: int) -> Entry | None:
        """Deprecated: what web/fastpath.py read before `lookup` existed (the entry to
        serve, fresh or stale, or None). Use `lookup`."""
        found = self.lookup(key, version)
        return None if found is None else found.entry

    async def get_or_render(
        self,
        key: Hashable,
        render: Render,
        request: Request,
        *,
        ttl: float = DEFAULT_TTL,
        max_age: int | None = None,
        private: bool = False,
    ) -> Response:
        """The cached response for `key`, rendering it once when missing or expired.

        `max_age` is the Cache-Control max-age (defaults to the TTL, rounded up);
        `private` answers `Cache-Control: private` (pages behind a password)."""
        version = version_of(request)
        found = self.lookup(key, version)
        if found is not None:
            return _respond(found.entry, request, found.label)
        age = max_age if max_age is not None else max(1, int(ttl + 0.999))
        spec = _Spec(render, ttl, age, private, version)
        entry, rendered_here = await self._render_once(key, spec)
        return _respond(entry, request, "miss" if rendered_here else "hit")

    async def value(self, key: Hashable, compute: Callable[[], Awaitable[T]], ttl: float) -> T:
        """A computed value kept for `ttl` seconds (single flight; failures not kept)."""
        found = self._values.get(key)
        if found is not None and found[1] > self._clock():
            return found[0]  # type: ignore[no-any-return]
        flight = self._value_flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._value_flights[key] = future
        try:
            started = self._clock()
            result = await compute()
            self._values[key] = (result, started + ttl)
            self._values.move_to_end(key)
            while len(self._values) > self._max:
                self._values.popitem(last=False)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            raise
        finally:
            del self._value_flights[key]

    def invalidate(self) -> None:
        """Forget every entry and value (e.g. after an incident is posted)."""
        self._entries.clear()
        self._values.clear()

    async def settle(self) -> None:
        """Wait for the background refreshes under way (tests, shutdown)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _refresh(self, key: Hashable, entry: Entry, version: int) -> None:
        spec = _Spec(entry.render, entry.ttl, 0, entry.private, version, entry.headers)
        future = self._start_flight(key)
        task = asyncio.get_running_loop().create_task(self._background_render(key, spec, future))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _background_render(
        self, key: Hashable, spec: _Spec, future: asyncio.Future[Entry]
    ) -> None:
        try:
            await self._run(key, spec, future)
        except Exception:
            logger.exception("public cache refresh failed key=%s", key)

    def _start_flight(self, key: Hashable) -> asyncio.Future[Entry]:
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        return future

    async def _render_once(self, key: Hashable, spec: _Spec) -> tuple[Entry, bool]:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight), False
        return await self._run(key, spec, self._start_flight(key)), True

    async def _run(self, key: Hashable, spec: _Spec, future: asyncio.Future[Entry]) -> Entry:
        try:
            self.renders += 1
            started = self._clock()
            rendered = await spec.render()
            entry = spec.entry(rendered, started, self._clock() - started)
            self._store(key, entry)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._flights[key]

    def _store(self, key: Hashable, entry: Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _Spec:
    """How a key renders and is sent; `kept` carries a refreshed entry's Cache-Control."""

    render: Render
    ttl: float
    max_age: int
    private: bool
    version: int
    kept: Mapping[str, str] | None = None

    def entry(self, rendered: Rendered, started: float, render_s: float) -> Entry:
        etag = _etag(rendered.body)
        if self.kept is not None:
            control = self.kept["Cache-Control"]
        else:
            control = f"{'private' if self.private else 'public'}, max-age={self.max_age}"
        headers = {**rendered.headers, "ETag": etag, "Cache-Control": control}
        raw = [(b"content-type", rendered.media_type.encode("latin-1"))]
        raw.append((b"content-length", str(len(rendered.body)).encode()))
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        return Entry(
            rendered=rendered,
            headers=headers,
            raw_headers=tuple(raw),
            etag=etag,
            private=self.private,
            started=started,
            ttl=self.ttl,
            render_s=render_s,
            version=self.version,
            render=self.render,
        )


def cache_of(request: Request) -> PublicCache:
    """The app's cache, created on first use (app.state.public_cache)."""
    state = request.app.state
    cache: PublicCache | None = getattr(state, "public_cache", None)
    if cache is None:
        cache = state.public_cache = PublicCache()
    return cache


def version_of(request: Request) -> int:
    """The config version entries are keyed under (`live.version`; 0 without a config)."""
    upstate = getattr(request.app.state, "upstate", None)
    return int(upstate.live.version) if upstate is not None else 0


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str | None, etag: str) -> bool:
    """If-None-Match: `*` or a list of tags; weak comparison, as RFC 9110 says for it."""
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def _respond(entry: Entry, request: Request, label: str) -> Response:
    headers = {**entry.headers, "X-Cache": label}
    if entry.not_modified(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(
        content=entry.body,
        status_code=entry.status_code,
        media_type=entry.media_type,
        headers=headers,
    )
