"""A real HTTP client for the channels, and a NotifyContext factory around it."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from upstate.notify.base import NotifyContext, http_client


@pytest.fixture(scope="session")
def trust_store() -> ssl.SSLContext:
    """The system's trust store, loaded once: loading it costs more than most tests here."""
    return ssl.create_default_context()


@pytest.fixture
async def http(trust_store: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(verify=trust_store) as client:
        yield client


@pytest.fixture
def make_ctx(http: httpx.AsyncClient) -> Callable[..., NotifyContext]:
    def make(**fields: Any) -> NotifyContext:
        return NotifyContext(http=http, **fields)

    return make
