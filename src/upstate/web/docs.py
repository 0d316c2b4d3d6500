"""/api/docs without the internet: a plain HTML page listing every route of the OpenAPI schema.

FastAPI's default Swagger UI loads its scripts from a CDN, which a self-hosted monitor
on a closed network cannot reach (and a status tool should not depend on). This page
is rendered here from the same schema, with no script at all; the full machine-readable
schema is at /api/openapi.json for any OpenAPI tool.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/api/openapi.json"
_STYLE = (
    "body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "code{font:13px ui-monospace,monospace}table{border-collapse:collapse;width:100%}"
    "td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    ".m{font-weight:600;text-transform:uppercase}"
)


@router.get("/api/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(render(request.app.openapi()))


def render(schema: dict[str, Any]) -> str:
    info = schema.get("info", {})
    rows = []
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            params = ", ".join(f"{p['name']} ({p['in']})" for p in operation.get("parameters", []))
            text = operation.get("description") or operation.get("summary") or ""
            rows.append(
                f"<tr><td class=m>{escape(method)}</td><td><code>{escape(path)}</code></td>"
                f"<td>{escape(text)}</td><td><code>{escape(params)}</code></td></tr>"
            )
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    return (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
        f"<style>{_STYLE}</style><h1>{title}</h1>"
        f'<p>The OpenAPI schema: <a href="{OPENAPI_URL}"><code>{OPENAPI_URL}</code></a>. '
        "When UPSTATE_API_TOKEN is set, send it as <code>Authorization: Bearer …</code>.</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>parameters</th></tr>"
        f"{''.join(rows)}</table></html>"
    )
