"""Statuspage-compatible JSON (`/s/<slug>/api/v2/…`) and `/api/v1/pages/<slug>/status`.

The shapes are /work/shared/specs/statuspage-api-v2.md's, so existing Statuspage clients
and widgets, and Upstate's own `statuspage` probe, read an Upstate page unchanged. Both
are built from services.pages.PageView and served through the public cache (one render
per page and route per TTL, ETag, 304).

Decisions:

- **IDs** are stable, opaque, lowercase alphanumeric (`public_id`): 12 base-36 digits of
  a hash of the component's code, the group's name, the page's slug or the maintenance
  window's key. Incident ids already have that shape and are shown as they are. No
  monitor key, URL or database integer appears anywhere.
- **`/api/v1/pages/<slug>/status` is public** and lives here, not in web/api/pages.py:
  the API router demands the token when one is set, and the issue lists this route among
  the public APIs (anonymous widgets read it). It answers `Cache-Control: max-age=60`.
- **Private pages** (access `password` or `signed_in`) answer 404, the same 404 as an
  unknown slug, unless web.public.pages.has_access lets the request in (the page's
  login cookie, or the API token as a bearer on a `signed_in` page). Their answers are
  `Cache-Control: private`.
- **URLs**: `https://<domain>` for a page with a custom domain, else UPSTATE_BASE_URL +
  `/s/<slug>`, else the relative `/s/<slug>`; never the request's Host, which a visitor
  chooses and the cache does not key on.
- The same routes answer at `/api/v2/…` when the Host is a page's custom domain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from upstate.config.pages import StatusPage
from upstate.domain.incidents import Incident, IncidentUpdate
from upstate.errors import NotFound
from upstate.services import pages as page_service
from upstate.services.pages import ComponentView, MaintenanceView, PageView
from upstate.web.deps import AppState, app_state
from upstate.web.public import keys
from upstate.web.public import pages as html_pages
from upstate.web.public.cache import Rendered, cache_of

router = APIRouter(tags=["public"])

API_MAX_AGE = 60  # /api/v1/pages/<slug>/status, as the issue says
V2_MAX_AGE = 10  # the v2 JSON: clients poll it; changes still show within ~10 s
_JSON = "application/json"
_CORS = {"Access-Control-Allow-Origin": "*"}
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


# --- which page, and may this request see it -----------------------------------------------


def visible_page(request: Request, slug: str) -> tuple[StatusPage, bool]:
    """The page with this slug and whether it is private; NotFound (the same for unknown
    and not allowed) when the request may not read it."""
    state = app_state(request)
    page = next((p for p in state.live.config.status_pages if p.slug == slug), None)
    if page is None:
        raise NotFound("no such status page")
    if page.access == "public":
        return page, False
    if html_pages.has_access(request, page):
        return page, True
    raise NotFound("no such status page")


def domain_page(request: Request) -> tuple[StatusPage, bool]:
    """The page whose custom domain the request was sent to (Host routing)."""
    host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
    pages = app_state(request).live.config.status_pages
    page = next((p for p in pages if p.domain and p.domain.lower() == host), None)
    if page is None:
        raise NotFound("no such status page")
    return visible_page(request, page.slug)


def page_url(state: AppState, page: StatusPage) -> str:
    if page.domain:
        return f"https://{page.domain}"
    base = (state.settings.base_url or "").rstrip("/")
    return f"{base}/s/{page.slug}"


# --- shapes ---------------------------------------------------------------------------------


def public_id(kind: str, value: str) -> str:
    """A stable 12-character lowercase alphanumeric id for something named `value`."""
    number = int.from_bytes(hashlib.sha256(f"{kind}:{value}".encode()).digest()[:10], "big")
    digits = []
    for _ in range(12):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def timestamp(at: datetime | None) -> str | None:
    """ISO-8601 with milliseconds and a Z: 2024-09-16T21:37:26.995Z."""
    if at is None:
        return None
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Shaper:
    """Builds the v2 objects of one page view."""

    def __init__(self, view: PageView, url: str) -> None:
        self.view = view
        self.url = url
        self.page_id = public_id("page", view.slug)
        self.ids = {c.code: public_id("component", c.code) for c in view.components}
        self.by_code = {c.code: c for c in view.components}

    def page(self) -> dict[str, Any]:
        return {
            "id": self.page_id,
            "name": self.view.title,
            "url": self.url,
            "time_zone": "Etc/UTC",
            "updated_at": timestamp(self.view.updated_at),
        }

    def status(self) -> dict[str, Any]:
        return {
            "indicator": self.view.indicator.value,
            "description": self.view.status_description,
        }

    def components(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        position = 0
        for group in self.view.groups:
            group_id = None
            if group.name is not None:
                position += 1
                group_id = public_id("group", f"{self.view.slug}/{group.name}")
                out.append(self._group(group_id, group.name, group.description, position, group))
            for component in group.components:
                position += 1
                out.append(self.component(component, position, group_id))
        return out

    def component(
        self, c: ComponentView, position: int | None = None, group_id: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": self.ids[c.code],
            "name": c.name,
            "status": c.status.value,
            "created_at": timestamp(c.created_at or self.view.updated_at),
            "updated_at": timestamp(c.updated_at or c.created_at or self.view.updated_at),
            "position": position if position is not None else c.position,
            "description": c.description,
            "showcase": c.has_monitors,
            "start_date": c.created_at.date().isoformat() if c.created_at else None,
            "group_id": group_id,
            "page_id": self.page_id,
            "group": False,
            "only_show_if_degraded": False,
        }

    def _group(
        self,
        group_id: str,
        name: str,
        description: str | None,
        position: int,
        group: page_service.GroupView,
    ) -> dict[str, Any]:
        created = [c.created_at for c in group.components if c.created_at]
        updated = [c.updated_at for c in group.components if c.updated_at]
        return {
            "id": group_id,
            "name": name,
            "status": group.status.value,
            "created_at": timestamp(min(created, default=self.view.updated_at)),
            "updated_at": timestamp(max(updated, default=self.view.updated_at)),
            "position": position,
            "description": description,
            "showcase": False,
            "start_date": None,
            "group_id": None,
            "page_id": self.page_id,
            "group": True,
            "only_show_if_degraded": False,
            "components": [self.ids[c.code] for c in group.components],
        }

    def incident(self, incident: Incident) -> dict[str, Any]:
        updates = [self._update(incident, seq, u) for seq, u in enumerate(incident.updates)]
        updates.reverse()  # newest first, as Statuspage lists them
        last = incident.updates[-1].at if incident.updates else incident.started_at
        return {
            "id": incident.id,
            "name": incident.title,
            "status": incident.status.value,
            "created_at": timestamp(incident.started_at),
            "updated_at": timestamp(last),
            "monitoring_at": timestamp(incident.monitoring_at),
            "resolved_at": timestamp(incident.resolved_at),
            "impact": incident.impact.value,
            "shortlink": f"{self.url}/incidents/{incident.id}",
            "started_at": timestamp(incident.started_at),
            "page_id": self.page_id,
            "incident_updates": updates,
            "components": [
                self.component(self.by_code[code])
                for code in incident.components
                if code in self.by_code
            ],
        }

    def _update(self, incident: Incident, seq: int, update: IncidentUpdate) -> dict[str, Any]:
        affected = [
            {
                "code": self.ids.get(a.code, public_id("component", a.code)),
                "name": a.name,
                "old_status": a.old_status.value,
                "new_status": a.new_status.value,
            }
            for a in update.affected_components
        ]
        return {
            "id": public_id("update", f"{incident.id}/{seq}"),
            "status": update.status.value,
            "body": update.body,
            "incident_id": incident.id,
            "created_at": timestamp(update.at),
            "updated_at": timestamp(update.at),
            "display_at": timestamp(update.at),
            "affected_components": affected or None,
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
        }

    def maintenance(self, window: MaintenanceView) -> dict[str, Any]:
        window_id = public_id("maintenance", window.id)
        updates = []
        if window.description:
            updates.append(
                {
                    "id": public_id("maintenance-update", window.id),
                    "status": "scheduled",
                    "body": window.description,
                    "incident_id": window_id,
                    "created_at": timestamp(window.created_at),
                    "updated_at": timestamp(window.created_at),
                    "display_at": timestamp(window.created_at),
                    "affected_components": None,
                    "deliver_notifications": True,
                    "custom_tweet": None,
                    "tweet_id": None,
                }
            )
        done = window.ends_at if window.status.value == "completed" else None
        return {
            "id": window_id,
            "name": window.title,
            "status": window.status.value,
            "created_at": timestamp(window.created_at),
            "updated_at": timestamp(window.created_at),
            "monitoring_at": None,
            "resolved_at": timestamp(done),
            "impact": "maintenance",
            "shortlink": f"{self.url}/maintenance/{window_id}",
            "started_at": timestamp(window.starts_at),
            "page_id": self.page_id,
            "incident_updates": updates,
            "components": [
                self.component(self.by_code[code])
                for code in window.components
                if code in self.by_code
            ],
            "scheduled_for": timestamp(window.starts_at),
            "scheduled_until": timestamp(window.ends_at),
        }


def upstate_status(view: PageView, url: str) -> dict[str, Any]:
    """Upstate's own words for a page's status now (GET /api/v1/pages/<slug>/status)."""

    def window(m: MaintenanceView) -> dict[str, Any]:
        return {
            "title": m.title,
            "status": m.status.value,
            "starts_at": timestamp(m.starts_at),
            "ends_at": timestamp(m.ends_at),
            "components": list(m.components),
        }

    return {
        "page": {
            "slug": view.slug,
            "title": view.title,
            "description": view.description,
            "url": url,
        },
        "status": view.overall.value,
        "indicator": view.indicator.value,
        "description": view.status_description,
        "updated_at": timestamp(view.updated_at),
        "components": [
            {
                "code": c.code,
                "name": c.name,
                "group": c.group,
                "description": c.description,
                "status": c.status.value,
                "uptime_90d": c.uptime_pct,
            }
            for c in view.components
        ],
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "status": i.status.value,
                "impact": i.impact.value,
                "started_at": timestamp(i.started_at),
                "components": {code: s.value for code, s in i.components.items()},
                "updates": [
                    {"status": u.status.value, "body": u.body, "at": timestamp(u.at)}
                    for u in reversed(i.updates)
                ],
                "url": f"{url}/incidents/{i.id}",
            }
            for i in view.active_incidents
        ],
        "maintenance": {
            "active": [window(m) for m in view.active_maintenance],
            "upcoming": [window(m) for m in view.upcoming_maintenance],
        },
    }


# --- rendering ------------------------------------------------------------------------------

Build = Callable[[Any, StatusPage, PageView, Shaper, datetime], Awaitable[dict[str, Any]]]


def json_body(data: object) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


async def _serve(
    request: Request,
    found: tuple[StatusPage, bool],
    name: str,
    build: Build,
    *,
    max_age: int = V2_MAX_AGE,
) -> Response:
    page, private = found
    state = app_state(request)

    async def render() -> Rendered:
        now = state.clock()
        async with state.sessions() as session:
            view = await page_service.page_view(session, page, now)
            data = await build(session, page, view, Shaper(view, page_url(state, page)), now)
        return Rendered(json_body(data), _JSON, headers=_CORS)

    key = keys.statuspage_key(page, name)
    return await cache_of(request).get_or_render(
        key, render, request, max_age=max_age, private=private
    )


async def _summary(
    _: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    return {
        "page": shape.page(),
        "components": shape.components(),
        "incidents": [shape.incident(i) for i in view.active_incidents],
        "scheduled_maintenances": [
            shape.maintenance(m) for m in (*view.active_maintenance, *view.upcoming_maintenance)
        ],
        "status": shape.status(),
    }


async def _status(
    _: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    return {"page": shape.page(), "status": shape.status()}


async def _components(
    _: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    return {"page": shape.page(), "components": shape.components()}


async def _incidents(
    session: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    recent = await page_service.recent_incidents(session, page)
    return {"page": shape.page(), "incidents": [shape.incident(i) for i in recent]}


async def _unresolved(
    _: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    return {"page": shape.page(), "incidents": [shape.incident(i) for i in view.active_incidents]}


def _maintenances(which: str) -> Build:
    async def build(
        session: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
    ) -> dict[str, Any]:
        windows: Sequence[MaintenanceView]
        if which == "upcoming":
            windows = view.upcoming_maintenance
        elif which == "active":
            windows = view.active_maintenance
        else:
            windows = await page_service.maintenance_history(session, page, now)
        return {
            "page": shape.page(),
            "scheduled_maintenances": [shape.maintenance(m) for m in windows],
        }

    return build


async def _upstate(
    _: Any, page: StatusPage, view: PageView, shape: Shaper, now: datetime
) -> dict[str, Any]:
    return upstate_status(view, shape.url)


ENDPOINTS: dict[str, Build] = {
    "summary.json": _summary,
    "status.json": _status,
    "components.json": _components,
    "incidents.json": _incidents,
    "incidents/unresolved.json": _unresolved,
    "scheduled-maintenances.json": _maintenances("all"),
    "scheduled-maintenances/upcoming.json": _maintenances("upcoming"),
    "scheduled-maintenances/active.json": _maintenances("active"),
}


def _add_routes(name: str, build: Build) -> None:
    async def by_slug(slug: str, request: Request) -> Response:
        return await _serve(request, visible_page(request, slug), name, build)

    async def by_domain(request: Request) -> Response:
        return await _serve(request, domain_page(request), name, build)

    router.add_api_route(
        f"/s/{{slug}}/api/v2/{name}", by_slug, methods=["GET"], name=f"statuspage {name}"
    )
    router.add_api_route(
        f"/api/v2/{name}", by_domain, methods=["GET"], name=f"statuspage {name} (domain)"
    )


for _name, _build in ENDPOINTS.items():
    _add_routes(_name, _build)


@router.get("/api/v1/pages/{slug}/status", tags=["pages"])
async def page_status(slug: str, request: Request) -> Response:
    """A page's overall status, components, active incidents and maintenance, in
    Upstate's own words. Public (no token); cacheable for 60 s."""
    return await _serve(
        request, visible_page(request, slug), "upstate", _upstate, max_age=API_MAX_AGE
    )
