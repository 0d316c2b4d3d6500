"""A page's incident history as Atom (/s/<slug>/history.atom) and RSS (/s/<slug>/history.rss).

The 50 latest published incidents, newest first; each entry links to the incident's page
(/s/<slug>/incidents/<id>) and carries its updates, newest first, as the safe HTML of
domain.markdown (escaped once more as XML text by ElementTree, so the document is
always well-formed whatever an update says). Private pages have no feeds for anonymous
readers: the same 404 as an unknown slug. Served through the public cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from starlette.responses import Response

from upstate.domain import markdown
from upstate.domain.incidents import Incident
from upstate.services import pages as page_service
from upstate.web.deps import app_state
from upstate.web.public import keys
from upstate.web.public.cache import Rendered, cache_of
from upstate.web.public.statuspage import page_url, timestamp, visible_page

router = APIRouter(tags=["feeds"])

TTL = 5.0
MAX_AGE = 50
_ATOM_NS = "http://www.w3.org/2005/Atom"


def _content(incident: Incident) -> str:
    """The updates, newest first, each as its status, time and rendered body."""
    parts = []
    for update in reversed(incident.updates):
        parts.append(
            f"<p><strong>{update.status.value.capitalize()}</strong> "
            f"({timestamp(update.at)})</p>{markdown.render(update.body)}"
        )
    return "".join(parts)


def _last(incident: Incident) -> datetime:
    return incident.updates[-1].at if incident.updates else incident.started_at


def _feed_updated(incidents: Sequence[Incident], now: datetime) -> datetime:
    """The latest update shown; the start of today without any (stable across renders)."""
    floor = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    return max((_last(i) for i in incidents), default=floor)


def atom(title: str, url: str, slug: str, incidents: Sequence[Incident], now: datetime) -> bytes:
    ET.register_namespace("", _ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, f"{{{_ATOM_NS}}}{tag}", attrs)
        element.text = text
        return element

    feed = ET.Element(f"{{{_ATOM_NS}}}feed")
    sub(feed, "title", f"{title}: incident history")
    sub(feed, "id", f"urn:upstate:page:{slug}")
    sub(feed, "link", href=url, rel="alternate")
    sub(feed, "link", href=f"{url}/history.atom", rel="self")
    sub(feed, "updated", timestamp(_feed_updated(incidents, now)))
    author = sub(feed, "author")
    sub(author, "name", title)
    for incident in incidents:
        entry = sub(feed, "entry")
        sub(entry, "title", incident.title)
        sub(entry, "id", f"urn:upstate:incident:{incident.id}")
        sub(entry, "link", href=f"{url}/incidents/{incident.id}", rel="alternate")
        sub(entry, "published", timestamp(incident.started_at))
        sub(entry, "updated", timestamp(_last(incident)))
        sub(entry, "content", _content(incident), type="html")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))


def rss(title: str, url: str, incidents: Sequence[Incident], now: datetime) -> bytes:
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")

    def sub(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrs)
        element.text = text
        return element

    sub(channel, "title", f"{title}: incident history")
    sub(channel, "link", url)
    sub(channel, "description", f"Incidents of {title}")
    sub(channel, "lastBuildDate", format_datetime(_feed_updated(incidents, now)))
    for incident in incidents:
        item = ET.SubElement(channel, "item")
        sub(item, "title", incident.title)
        sub(item, "link", f"{url}/incidents/{incident.id}")
        sub(item, "guid", f"urn:upstate:incident:{incident.id}", isPermaLink="false")
        sub(item, "pubDate", format_datetime(incident.started_at.astimezone(UTC)))
        sub(item, "description", _content(incident))
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


async def _serve(request: Request, slug: str, kind: str) -> Response:
    page, private = visible_page(request, slug)
    state = app_state(request)

    async def render() -> Rendered:
        now = state.clock()
        async with state.sessions() as session:
            incidents = await page_service.recent_incidents(session, page)
        url = page_url(state, page)
        if kind == "atom":
            return Rendered(atom(page.title, url, page.slug, incidents, now), _ATOM_TYPE)
        return Rendered(rss(page.title, url, incidents, now), _RSS_TYPE)

    return await cache_of(request).get_or_render(
        keys.feed_key(page, kind), render, request, ttl=TTL, max_age=MAX_AGE, private=private
    )


_ATOM_TYPE = "application/atom+xml; charset=utf-8"
_RSS_TYPE = "application/rss+xml; charset=utf-8"


@router.get("/s/{slug}/history.atom")
async def history_atom(slug: str, request: Request) -> Response:
    return await _serve(request, slug, "atom")


@router.get("/s/{slug}/history.rss")
async def history_rss(slug: str, request: Request) -> Response:
    return await _serve(request, slug, "rss")
