"""Shared fixtures. Loopback target servers live in tests/targets/, one module each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop

pytest_plugins = [
    "tests.targets.http",
    "tests.targets.tls",
    "tests.targets.tcp",
    "tests.targets.dns",
    "tests.fixtures.db",
    "tests.targets.receivers",
    "tests.targets.smtp",
]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Tests run on uvloop, as Upstate does."""
    return {"uvloop": uvloop.new_event_loop}
