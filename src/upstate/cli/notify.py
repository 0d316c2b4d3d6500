"""`upstate notify test KEY`: send a test notification through the running server.

It asks the server (POST /api/v1/channels/KEY/test?wait=…) rather than sending itself,
so the test takes the real path: the outbox, the delivery loop, the channel as the
server has it configured, and the channel's health afterwards. The server is found by
--url, else UPSTATE_URL, else http://127.0.0.1:8080; the token is UPSTATE_API_TOKEN (or
UPSTATE_API_TOKEN_FILE), as for every API call.

Exit status: 0 delivered, 1 not delivered (failed, skipped, or still retrying when the
wait ran out), 2 when the server could not be asked (unreachable, bad token, no such
channel).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import uvloop

from upstate import __version__
from upstate.config import Settings
from upstate.errors import UsageError

DEFAULT_URL = "http://127.0.0.1:8080"
DEFAULT_WAIT_S = 30.0
EXIT_DELIVERED, EXIT_NOT_DELIVERED = 0, 1


def default_url(settings: Settings) -> str:
    return settings.url or DEFAULT_URL


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of `upstate notify test`."""
    parser.add_argument("key", help="the channel's key in the config")
    parser.add_argument(
        "--url", help=f"the running server (default: UPSTATE_URL, or {DEFAULT_URL})"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT_S,
        help="seconds to wait for the outcome, at most 30 (default 30)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return uvloop.run(
        notify_test(args.key, url=args.url or default_url(settings), token=token, wait=args.wait)
    )


async def notify_test(
    key: str,
    *,
    url: str,
    token: str | None,
    wait: float = DEFAULT_WAIT_S,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Ask the server at `url` to send a test on channel `key`; print what became of it."""
    if not 0 <= wait <= DEFAULT_WAIT_S:
        raise UsageError("--wait must be between 0 and 30 seconds")
    headers = {"User-Agent": f"Upstate-CLI/{__version__}"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    endpoint = f"{url.rstrip('/')}/api/v1/channels/{quote(key, safe='')}/test"
    async with httpx.AsyncClient(
        transport=transport, headers=headers, timeout=wait + 10, follow_redirects=False
    ) as client:
        try:
            response = await client.post(endpoint, params={"wait": wait})
        except httpx.HTTPError as exc:
            raise UsageError(
                f"cannot reach Upstate at {url}: {type(exc).__name__} "
                "(is `upstate serve` running? set --url or UPSTATE_URL)"
            ) from None
    if response.status_code not in (200, 202):
        raise UsageError(f"the server refused: HTTP {response.status_code}: {_message(response)}")
    return _report(key, response.json())


def _message(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _report(key: str, row: Mapping[str, Any]) -> int:
    state = row.get("state")
    code = f" (status {row['status_code']})" if row.get("status_code") is not None else ""
    print(f"{key}: {state}{code}, notification {row.get('id')} key {row.get('idempotency_key')}")
    if state == "sent":
        return EXIT_DELIVERED
    if state == "pending":
        why = row.get("error") or "not tried yet"
        print(f"{key}: not delivered yet ({why}); the server keeps trying", file=sys.stderr)
    else:
        print(f"{key}: {row.get('error') or state}", file=sys.stderr)
    return EXIT_NOT_DELIVERED
