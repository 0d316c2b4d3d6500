"""The public render cache's keys, in one place: the routes store under them and the ASGI
fast path (web/fastpath.py) looks them up before FastAPI routes the request, so the two
can never disagree about what a request's answer is."""

from __future__ import annotations

from collections.abc import Hashable

from starlette.datastructures import QueryParams

from upstate.config.pages import StatusPage
from upstate.services import pages as page_service


def page_html_key(page: StatusPage, base: str, lang: str, *route: Hashable) -> tuple[Hashable, ...]:
    """web.public.pages._html: ("page-html", slug, base, language, route...)."""
    return ("page-html", page.slug, base, lang, *route)


def statuspage_key(page: StatusPage, name: str) -> tuple[Hashable, ...]:
    """web.public.statuspage._serve: name is the v2 endpoint, or "upstate" for v1."""
    return ("statuspage", page.slug, name)


def badge_key(monitor: str, *kind: str) -> tuple[Hashable, ...]:
    """web.public.badges._serve: ("badge", monitor, "status"|"shields"|kind, window)."""
    return ("badge", monitor, *kind)


def feed_key(page: StatusPage, kind: str) -> tuple[Hashable, ...]:
    """web.public.feeds._serve: kind is "atom" or "rss"."""
    return ("feed", page.slug, kind)


def page_window(query_string: bytes) -> str:
    """The page's `?rt=` as web.public.pages._status_page reads it (24h when unknown)."""
    window = QueryParams(query_string).get("rt", "24h") if query_string else "24h"
    return window if window in page_service.RESPONSE_WINDOWS else "24h"
