"""`upstate incident open|update|resolve`: post to a running server's incident API.

The command talks to the server over HTTP (never to the database), so what it does is
exactly what the API does: the same checks, the same notifications, one transaction.
The server is `--url`, else UPSTATE_URL, else http://127.0.0.1:8080; the bearer token
is UPSTATE_API_TOKEN (or UPSTATE_API_TOKEN_FILE), as the server expects. It prints the
incident's id and status, and exits 0, or 1 when the server refused or was unreachable
(with the server's reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from urllib.parse import quote

import httpx

from upstate.config import Settings
from upstate.domain.enums import ComponentStatus
from upstate.domain.incidents import Impact, IncidentStatus

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 10.0
_STATUSES = [s.value for s in IncidentStatus]
_IMPACTS = [i.value for i in Impact]
_COMPONENT_STATUSES = ", ".join(s.value for s in ComponentStatus)


def component(text: str) -> dict[str, str]:
    """CODE=STATUS, e.g. main.api=major_outage (an argparse type)."""
    code, sep, status = text.partition("=")
    if not sep or not code.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected CODE=STATUS")
    try:
        ComponentStatus(status.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the status is one of {_COMPONENT_STATUSES}"
        ) from None
    return {"code": code.strip(), "status": status.strip()}


def add_parser(subparsers: Any) -> None:
    """Add `incident` and its commands to the `upstate` parser's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the Upstate server (default UPSTATE_URL, or {DEFAULT_URL})")
    components = argparse.ArgumentParser(add_help=False)
    components.add_argument(
        "--component",
        action="append",
        default=[],
        type=component,
        metavar="CODE=STATUS",
        help=f"a component's status ({_COMPONENT_STATUSES}); repeatable",
    )
    incident = subparsers.add_parser(
        "incident",
        help="open, update or resolve an incident on a running server",
        description="Exit status: 0 done, 1 refused or unreachable, 2 usage error.",
    )
    commands = incident.add_subparsers(dest="incident_command", required=True)

    opened = commands.add_parser(
        "open", parents=[common, components], help="open an incident (published unless --draft)"
    )
    opened.add_argument("--title", required=True)
    opened.add_argument("--status", choices=_STATUSES, default=IncidentStatus.INVESTIGATING)
    opened.add_argument("--impact", choices=_IMPACTS, default=Impact.NONE)
    opened.add_argument(
        "--page", action="append", default=[], help="a status page slug; repeatable"
    )
    opened.add_argument("--message", default="", help="the first update (Markdown)")
    opened.add_argument("--draft", action="store_true", help="keep it unpublished")

    updated = commands.add_parser(
        "update", parents=[common, components], help="post an update to an incident"
    )
    updated.add_argument("id")
    updated.add_argument("--status", choices=_STATUSES, required=True)
    updated.add_argument("--message", required=True, help="the update (Markdown)")

    resolved = commands.add_parser("resolve", parents=[common], help="resolve an incident")
    resolved.add_argument("id")
    resolved.add_argument("--message", default="", help="the last update (Markdown)")


def run(
    args: argparse.Namespace, settings: Settings, *, transport: httpx.BaseTransport | None = None
) -> int:
    url = (args.url or settings.url or DEFAULT_URL).rstrip("/")
    headers = {}
    if settings.api_token is not None:
        headers["Authorization"] = f"Bearer {settings.api_token.get_secret_value()}"
    method, path, body = _request(args)
    try:
        with httpx.Client(
            base_url=url, headers=headers, timeout=TIMEOUT_S, transport=transport
        ) as client:
            answer = client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        print(f"upstate: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    if answer.is_error:
        print(f"upstate: {answer.status_code}: {_reason(answer)}", file=sys.stderr)
        return 1
    data = answer.json()
    print(f"{data['id']} {data['status']}", flush=True)
    return 0


def _request(args: argparse.Namespace) -> tuple[str, str, dict[str, Any]]:
    command = args.incident_command
    if command == "open":
        body: dict[str, Any] = {
            "title": args.title,
            "status": str(args.status),
            "impact": str(args.impact),
            "pages": args.page,
            "components": args.component,
            "body": args.message,
            "draft": args.draft,
        }
        return "POST", "/api/v1/incidents", body
    path = f"/api/v1/incidents/{quote(args.id, safe='')}/updates"
    if command == "update":
        body = {"status": args.status, "body": args.message, "components": args.component}
        return "POST", path, body
    return "POST", path, {"status": IncidentStatus.RESOLVED.value, "body": args.message}


def _reason(answer: httpx.Response) -> str:
    try:
        error = answer.json()["error"]
        message = str(error["message"])
        issues = error.get("issues") or []
    except (ValueError, KeyError, TypeError):
        return answer.text[:200] or answer.reason_phrase
    details = [f"{i.get('field')}: {i.get('message')}" for i in issues if isinstance(i, dict)]
    return "; ".join([message, *details]) if details else message
