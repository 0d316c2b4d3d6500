"""The public render cache: a traffic spike costs one render per key per TTL, not one per visitor.

Every public route (status page HTML, Statuspage JSON, badges, feeds) answers through
`get_or_render(key, render, request)`:

- **Keys come from routes only**: built from path parameters and whitelisted query
  parameters (and, for HTML, the Host of a custom domain and a shipped language). No
  request header or query string reaches the key or the decision, so `Cache-Control:
  no-cache`, `Pragma` or `?nocache=1` cannot make a visitor's request reach the database.
- **TTL** is short (1 s by default: every answer reflects a change within a second) and
  an entry also dies when the config changes (`live.version`), so a reload shows at once.
- **Single flight**: concurrent requests for a missing or expired entry share one render;
  the others await its result. A render that fails is not cached, and its error reaches
  every waiter (each then answers as the error handler says).
- **ETag** is strong, a hash of the body; `If-None-Match` with it gets a 304. Browsers
  and CDNs see `Cache-Control: public, max-age=<route's>`; `X-Cache` says hit or miss.
- **Bounded**: at most MAX_ENTRIES keys (the oldest go first); routes only cache keys
  that exist in the config, so unknown slugs cannot fill it.

Renders run in the request's task, on the event loop: the cache cuts their number, it
does not move them. Checks run in the scheduler's own tasks and only share the loop, so
a busy page costs them one render a second at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from starlette.responses import Response

DEFAULT_TTL = 1.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Rendered:
    """What a render produces: the body and how to send it."""

    body: bytes
    media_type: str
    status_code: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. CORS, Vary


@dataclass(frozen=True, slots=True)
class _Entry:
    rendered: Rendered
    etag: str
    expires: float  # on the cache's clock
    version: int  # live.version it was rendered under


Render = Callable[[], Awaitable[Rendered]]


class PublicCache:
    """Per-key rendered responses with a TTL, single flight and ETags."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._flights: dict[Hashable, asyncio.Future[_Entry]] = {}
        self.renders = 0  # how many renders ran: for tests and metrics

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
        version = _version(request)
        entry = self._fresh(key, version)
        hit = entry is not None
        if entry is None:
            entry, rendered_here = await self._render_once(key, render, ttl, version)
            hit = not rendered_here
        age = max_age if max_age is not None else max(1, int(ttl + 0.999))
        return _respond(entry, request, age=age, private=private, hit=hit)

    def invalidate(self) -> None:
        """Forget every entry (e.g. after an incident is posted)."""
        self._entries.clear()

    def _fresh(self, key: Hashable, version: int) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version or entry.expires <= self._clock():
            return None
        return entry

    async def _render_once(
        self, key: Hashable, render: Render, ttl: float, version: int
    ) -> tuple[_Entry, bool]:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight), False
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            self.renders += 1
            rendered = await render()
            entry = _Entry(rendered, _etag(rendered.body), self._clock() + ttl, version)
            self._store(key, entry)
            future.set_result(entry)
            return entry, True
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        finally:
            del self._flights[key]

    def _store(self, key: Hashable, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


def cache_of(request: Request) -> PublicCache:
    """The app's cache, created on first use (app.state.public_cache)."""
    state = request.app.state
    cache: PublicCache | None = getattr(state, "public_cache", None)
    if cache is None:
        cache = state.public_cache = PublicCache()
    return cache


def _version(request: Request) -> int:
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


def _respond(entry: _Entry, request: Request, *, age: int, private: bool, hit: bool) -> Response:
    rendered = entry.rendered
    scope = "private" if private else "public"
    headers = {
        **rendered.headers,
        "ETag": entry.etag,
        "Cache-Control": f"{scope}, max-age={age}",
        "X-Cache": "hit" if hit else "miss",
    }
    if rendered.status_code == 200 and _matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(
        content=rendered.body,
        status_code=rendered.status_code,
        media_type=rendered.media_type,
        headers=headers,
    )
