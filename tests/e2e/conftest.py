"""What the end-to-end tests share: the switchable target and the base config."""

from __future__ import annotations

import pytest

from tests.e2e.serve import Switch
from tests.targets.http import HttpTarget


def config_text(switch: Switch, extra: str = "") -> str:
    return f"""
defaults:
  interval: 1s
  timeout: 900ms
  failure_threshold: 1
  success_threshold: 1
monitors:
  - key: web
    kind: http
    url: {switch.url}
    conditions: ["[STATUS] == 200"]
{extra}"""


@pytest.fixture
def switch(http_target: HttpTarget) -> Switch:
    return Switch(http_target)
