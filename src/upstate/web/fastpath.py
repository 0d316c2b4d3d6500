"""The fast path: cached public answers sent straight from the caches, before FastAPI.

A cache hit through FastAPI cost ~310-340 µs of CPU, ~6x a bare ASGI app; route matching
alone was 90-113 µs. A status page under a traffic spike is nearly all hits, so this
layer answers them itself: for GET and HEAD on the cached public routes it builds the
route's cache key and asks the public render cache (`PublicCache.lookup`, which also
starts the entry's background refresh when one is due); when it answers, the entry is
sent in two ASGI messages, labelled as the route would label it (`X-Cache: hit`, or
`stale` while the refresh the cache started is on its way). `/api/status` is answered
the same way from the BoardCache's encoded snapshot while it is fresh. Everything else
falls through to FastAPI unchanged: misses, expired entries (the route renders, single
flight), other paths, other methods, a non-empty root_path.

What it must never do, and how:

- **Serve a private page's answer to someone else.** Only pages whose `access` is
  `public` in the config the entry was rendered under are looked up (an entry of an
  older config version is never served), only monitors on such a page have badges,
  and an entry the route rendered as private (`entry.private`) is never sent here.
- **Let a request choose or poison a key.** Keys are built exactly as the routes build
  them (the functions below mirror the routes' code, and tests/web/test_fastpath.py
  checks that each route's entry is found here): path parameters, the whitelisted `rt`
  parameter of the page, the Host of a custom domain, the language resolved from
  Accept-Language among the shipped ones. No other query parameter or header reaches a
  key, and the fast path never stores anything: only routes render.
- **Answer differently from the route.** Same status, body and headers (the entry's own:
  the render's Vary and CORS, ETag, Cache-Control with the route's max-age; the content
  type as Starlette writes it), same 304 for a matching If-None-Match. HEAD gets the
  headers without the body; a HEAD the fast path cannot answer is passed on as a GET
  whose body is dropped (the routes declare GET only), so HEAD and GET agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from dataclasses import dataclass
from typing import Any

from upstate.config.pages import StatusPage
from upstate.web.public import badges, statuspage
from upstate.web.public.board import JSON, status_headers
from upstate.web.public.cache import Entry, PublicCache
from upstate.web.public.keys import badge_key, feed_key, page_html_key, page_window, statuspage_key
from upstate.web.public.pages import resolve_language

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

MEMO_LIMIT = 10_000  # encoded header lists kept (one per live key), and languages
_METHODS = frozenset({"GET", "HEAD"})
_S = "/s/"
_BADGE = "/badge/"
_V2 = "/api/v2/"
_V1_PAGES = "/api/v1/pages/"


# --- the keys, as the routes build them --------------------------------------------------------


# --- what the config allows, indexed once per config version ---------------------------------


@dataclass(frozen=True, slots=True)
class PublicIndex:
    """The public pages by slug and custom domain, and the monitors with badges."""

    version: int
    by_slug: dict[str, StatusPage]
    by_domain: dict[str, StatusPage]
    badge_monitors: frozenset[str]

    @classmethod
    def of(cls, pages: tuple[StatusPage, ...], version: int) -> PublicIndex:
        by_domain: dict[str, StatusPage] = {}
        for page in pages:  # the first page with a domain wins, as in the routes
            if page.domain:
                by_domain.setdefault(page.domain.lower(), page)
        public = [p for p in pages if p.access == "public"]
        return cls(
            version,
            {p.slug: p for p in public},
            {host: p for host, p in by_domain.items() if p.access == "public"},
            frozenset(m for p in public for c in p.all_components() for m in c.monitors),
        )


# --- the middleware ------------------------------------------------------------------------------


class FastPath:
    """ASGI middleware (`app.add_middleware(FastPath)`): cached public hits, then FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hits = 0  # answered here: for tests and metrics
        self._index: PublicIndex | None = None
        self._encoded: dict[Hashable, tuple[object, Headers]] = {}
        self._languages: dict[bytes, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == "/api/status":
            if not await self._board(scope, send):
                await self._pass(scope, receive, send)
            return
        state = scope["app"].state
        cache: PublicCache | None = getattr(state, "public_cache", None)
        upstate = getattr(state, "upstate", None)
        if cache is None or upstate is None:
            await self.app(scope, receive, send)
            return
        live = upstate.live
        index = self._index
        if index is None or index.version != live.version:
            index = self._index = PublicIndex.of(live.config.status_pages, live.version)
        host, language, etags = _headers(scope["headers"])
        key = self._key(path, scope["query_string"], host, language, index)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not await self._cached(cache, key, index.version, scope, etags, send):
            await self._pass(scope, receive, send)

    # --- which key ------------------------------------------------------------------------------

    def _key(
        self, path: str, query: bytes, host: bytes, language: bytes, index: PublicIndex
    ) -> Hashable | None:
        if path.startswith(_S):
            slug, slash, rest = path[3:].partition("/")
            page = index.by_slug.get(slug)
            if page is None or (slash and not rest):  # /s/<slug>/ is a redirect
                return None
            return self._page_route(page, f"/s/{slug}", rest, query, language)
        if path.startswith(_BADGE):
            return _badge(path[7:], index)
        if path.startswith(_V1_PAGES):
            slug, _, rest = path[14:].partition("/")
            page = index.by_slug.get(slug)
            if page is None or rest != "status":
                return None
            return statuspage_key(page, "upstate")
        page = index.by_domain.get(host.decode("latin-1").rsplit(":", 1)[0].lower())
        if page is None:
            return None
        if path.startswith(_V2):
            return _v2(page, path[8:])
        if path in ("/", "/heatmap") or path.startswith("/incidents/"):
            return self._page_route(page, "", path[1:], query, language)
        return None

    def _page_route(
        self, page: StatusPage, base: str, rest: str, query: bytes, language: bytes
    ) -> Hashable | None:
        """/s/<slug>/<rest> (or /<rest> on the page's domain): the HTML, v2 JSON, feeds."""
        if rest.startswith("api/v2/"):
            return _v2(page, rest[7:]) if base else None
        if base and rest in ("history.atom", "history.rss"):
            return feed_key(page, rest[8:])
        if rest == "":
            route: tuple[Hashable, ...] = ("page", page_window(query))
        elif rest == "heatmap":
            route = ("heatmap",)
        elif rest.startswith("incidents/"):
            incident = rest[10:]
            if not incident or "/" in incident or len(incident) > 64:
                return None
            route = ("incident", incident)
        else:
            return None
        lang = self._language(page, language)
        return page_html_key(page, base, lang, *route)

    def _language(self, page: StatusPage, accept: bytes) -> str:
        if page.language:
            return page.language
        lang = self._languages.get(accept)
        if lang is None:
            if len(self._languages) >= MEMO_LIMIT:
                self._languages.clear()
            lang = resolve_language(page, accept.decode("latin-1") if accept else None)
            self._languages[accept] = lang
        return lang

    # --- answering ------------------------------------------------------------------------------

    async def _cached(
        self,
        cache: PublicCache,
        key: Hashable,
        version: int,
        scope: Scope,
        etags: bytes,
        send: Send,
    ) -> bool:
        found = cache.lookup(key, version)  # may start the entry's background refresh
        if found is None or found.entry.private:
            return False
        entry = found.entry
        memo = self._encoded.get(key)
        if memo is not None and memo[0] is entry:
            headers = memo[1]
        else:
            headers = _encode_headers(entry)
            if len(self._encoded) >= MEMO_LIMIT:
                self._encoded.clear()
            self._encoded[key] = (entry, headers)
        self.hits += 1
        label = (b"x-cache", b"hit" if found.fresh else b"stale")
        if etags and entry.status_code == 200 and _matches(etags, entry.etag):
            await _send(send, 304, [*headers, label], b"", head=True)
            return True
        full = [
            *headers,
            label,
            (b"content-type", _content_type(entry.media_type)),
            (b"content-length", str(len(entry.body)).encode()),
        ]
        await _send(send, entry.status_code, full, entry.body, scope["method"] == "HEAD")
        return True

    async def _board(self, scope: Scope, send: Send) -> bool:
        board = getattr(scope["app"].state, "board_cache", None)
        fresh = board.fresh_body() if board is not None else None
        if fresh is None:
            return False
        body, age = fresh
        headers = [
            (name.lower().encode(), value.encode())
            for name, value in status_headers(True, age).items()
        ]
        headers += [(b"content-type", JSON.encode()), (b"content-length", b"%d" % len(body))]
        self.hits += 1
        await _send(send, 200, headers, body, scope["method"] == "HEAD")
        return True

    async def _pass(self, scope: Scope, receive: Receive, send: Send) -> None:
        """To FastAPI; a HEAD goes as a GET (the routes declare GET only) without its body."""
        if scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _badge(rest: str, index: PublicIndex) -> Hashable | None:
    """/badge/<monitor>/status.svg, shields.json, uptime/<w>.svg, response-time/<w>.svg."""
    monitor, _, what = rest.partition("/")
    if monitor not in index.badge_monitors:
        return None
    if what in ("status.svg", "shields.json"):
        return badge_key(monitor, what.partition(".")[0])
    kind, _, file = what.partition("/")
    window = file.removesuffix(".svg")
    windows = {"uptime": badges.UPTIME_WINDOWS, "response-time": badges.RESPONSE_WINDOWS}
    if kind in windows and file.endswith(".svg") and window in windows[kind]:
        return badge_key(monitor, kind, window)
    return None


def _v2(page: StatusPage, name: str) -> Hashable | None:
    return statuspage_key(page, name) if name in statuspage.ENDPOINTS else None


def _headers(raw: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes, bytes]:
    """(Host, Accept-Language, If-None-Match): each the first one sent, as Starlette reads."""
    host = language = etags = None
    for name, value in raw:
        if name == b"host":
            host = value if host is None else host
        elif name == b"accept-language":
            language = value if language is None else language
        elif name == b"if-none-match":
            etags = value if etags is None else etags
    return host or b"", language or b"", etags or b""


def _matches(header: bytes, etag: str) -> bool:
    """If-None-Match as web.public.cache._matches reads it: `*` or a list, weak comparison."""
    tags = [tag.strip().removeprefix(b"W/") for tag in header.split(b",")]
    return b"*" in tags or etag.encode() in tags


def _encode_headers(entry: Entry) -> Headers:
    """The entry's headers (the render's, ETag, Cache-Control) as ASGI byte pairs."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in entry.headers.items()]


def _content_type(media_type: str) -> bytes:
    """As Starlette's Response writes it: text types get `; charset=utf-8`."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    return media_type.encode("latin-1")


async def _send(send: Send, status: int, headers: Headers, body: bytes, head: bool) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
