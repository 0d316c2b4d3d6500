"""Shared fixtures. Loopback target servers live in tests/targets/, one module each."""

from __future__ import annotations

import pytest
import uvloop

pytest_plugins = [
    "tests.targets.http",
    "tests.targets.tls",
    "tests.targets.tcp",
    "tests.targets.dns",
]


@pytest.fixture(scope="session")
def event_loop_policy() -> uvloop.EventLoopPolicy:
    """Tests run on uvloop, as Upstate does."""
    return uvloop.EventLoopPolicy()
