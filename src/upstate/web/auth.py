"""The API token: until accounts arrive, one bearer token guards every non-public route.

Upstate listens on loopback by default and is open there. Listening anywhere else
requires UPSTATE_API_TOKEN (`check_exposure`, called by create_app and before the
server binds). When a token is set, every route except the public ones needs
`Authorization: Bearer <token>`. Public: /healthz, /readyz, /ping/*, the API docs, and
/metrics unless UPSTATE_METRICS_PUBLIC=false (Prometheus scrapers are usually given the
endpoint unauthenticated; set it to false and give them the token as a bearer instead).
Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request

from upstate.errors import Unauthorized, UsageError
from upstate.web.deps import app_state


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve anywhere


def check_exposure(host: str, token_set: bool) -> None:
    """Refuse to serve the API beyond loopback without a token."""
    if not token_set and not is_loopback(host):
        raise UsageError(
            f"listening on {host} exposes the API beyond this machine: set "
            "UPSTATE_API_TOKEN (clients send it as 'Authorization: Bearer <token>'), "
            "or listen on 127.0.0.1"
        )


def token_matches(header: str | None, token: str) -> bool:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


async def require_token(request: Request) -> None:
    """Dependency of every non-public route."""
    token = app_state(request).settings.api_token
    if token is None:
        return
    if not token_matches(request.headers.get("authorization"), token.get_secret_value()):
        raise Unauthorized("this API needs 'Authorization: Bearer <UPSTATE_API_TOKEN>'")


async def require_token_for_metrics(request: Request) -> None:
    if not app_state(request).settings.metrics_public:
        await require_token(request)
