"""Typical mistakes and the exact line a person sees for each (file:line:col: field: message)."""

from __future__ import annotations

import textwrap

import pytest

from upstate.config.loader import load_config_text
from upstate.errors import ConfigError

HTTP = """\
monitors:
  - key: api
    kind: http
    url: https://api.example.com/healthz
"""

CASES = {
    "bad duration": (
        HTTP + "    interval: 5x\n",
        "upstate.yaml:5:15: monitors[key=api].interval: invalid duration '5x': "
        "expected a number and a unit, e.g. 500ms, 30s, 5m, 2h, 14d",
    ),
    "duration without unit": (
        HTTP + "    interval: 30\n",
        "upstate.yaml:5:15: monitors[key=api].interval: durations need a unit: "
        "write 30s or 30ms, not 30",
    ),
    "unknown key with suggestion": (
        HTTP + "    intervall: 30s\n",
        "upstate.yaml:5:5: monitors[key=api].intervall: unknown key; did you mean interval?",
    ),
    "field of another kind": (
        "monitors:\n  - {key: db, kind: tcp, host: db.internal, port: 5432, url: http://x}\n",
        "upstate.yaml:2:57: monitors[key=db].url: not a field of tcp monitors "
        "(it is a field of http, statuspage monitors)",
    ),
    "duplicate monitor key": (
        HTTP + "  - {key: api, kind: icmp, host: 192.0.2.1}\n",
        "upstate.yaml:5:11: monitors[key=api].key: duplicate monitor key api (also monitors[0])",
    ),
    "duplicate YAML key": (
        HTTP + "    url: https://other.example.com/\n",
        "upstate.yaml:5:5: monitors[key=api].url: duplicate key url (first at line 4)",
    ),
    "missing url": (
        "monitors:\n  - key: api\n    kind: http\n",
        "upstate.yaml:2:5: monitors[key=api].url: is required for http monitors",
    ),
    "bad condition": (
        HTTP + '    conditions: ["[STATUS] == 200", "[STATUS] =! 200"]\n',
        "upstate.yaml:5:47: monitors[key=api].conditions[1]: invalid condition: "
        "'=' is not an operator: write ==",
    ),
    "unknown placeholder": (
        HTTP + "    conditions:\n      - '[STATUSS] == 200'\n",
        "upstate.yaml:6:10: monitors[key=api].conditions[0]: invalid condition: "
        "unknown placeholder [STATUSS] (did you mean [STATUS]?)",
    ),
    "condition not quoted": (
        HTTP + "    conditions:\n      - [STATUS] == 200\n",
        "upstate.yaml:6:18: invalid YAML: expected <block end>, but found '<scalar>' "
        "(while parsing a block collection); quote values that start with [ or {, "
        'e.g. - "[STATUS] == 200"',
    ),
    "missing environment variable": (
        HTTP + '    auth: {bearer: "Bearer ${API_TOKEN}"}\n',
        "upstate.yaml:5:28: monitors[key=api].auth.bearer: environment variable API_TOKEN "
        "is not set (give a default with ${API_TOKEN:-…})",
    ),
    "dangling reference": (
        HTTP
        + "status_pages:\n  - slug: public\n    title: Status\n"
        + "    components: [{name: API, monitors: [apii]}]\n",
        "upstate.yaml:8:41: status_pages[slug=public].components[0].monitors[0]: "
        "no monitor has the key apii; did you mean api?",
    ),
    "bad cron": (
        "monitors:\n  - {key: backup, kind: push, schedule: '0 3 * *', grace: 30m}\n",
        "upstate.yaml:2:41: monitors[key=backup].schedule: invalid cron expression '0 3 * *': "
        "expected 5 fields (minute hour day-of-month month day-of-week), e.g. '0 3 * * *'",
    ),
    "bad timezone": (
        "monitors:\n  - key: backup\n    kind: push\n    schedule: 0 3 * * *\n"
        "    timezone: Europe/Dubln\n    grace: 30m\n",
        "upstate.yaml:5:15: monitors[key=backup].timezone: unknown time zone 'Europe/Dubln': "
        "use an IANA name such as Europe/Dublin or UTC",
    ),
    "wrong type": (
        HTTP + "    regions: local\n",
        "upstate.yaml:5:14: monitors[key=api].regions: expected a list, got text",
    ),
    "unknown kind": (
        "monitors:\n  - {key: api, kind: htp, url: https://example.com}\n",
        "upstate.yaml:2:22: monitors[key=api].kind: unknown monitor kind 'htp'; did you mean http?",
    ),
    "port out of range": (
        "monitors:\n  - {key: db, kind: tcp, host: db.internal, port: 70000}\n",
        "upstate.yaml:2:51: monitors[key=db].port: ports are 1..65535, got 70000",
    ),
    "circular dependency": (
        "monitors:\n  - {key: a, kind: composite, monitors: [b]}\n"
        "  - {key: b, kind: composite, monitors: [a]}\n",
        "upstate.yaml:2:5: monitors[key=a]: circular dependency: a -> b -> a",
    ),
    "timeout above interval": (
        HTTP + "    interval: 5s\n    timeout: 10s\n",
        "upstate.yaml:6:14: monitors[key=api].timeout: timeout 10s must not exceed interval 5s",
    ),
    "YAML syntax": (
        "monitors:\n  - key: api\n   kind: http\n",
        "upstate.yaml:3:4: invalid YAML: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block collection); check the indentation of this line against the "
        "lines above",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_it_names_the_place_and_the_fix(case: str) -> None:
    text, expected = CASES[case]
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "upstate.yaml", env={})
    assert [str(issue) for issue in caught.value.issues] == [expected]


def test_it_reports_every_issue_in_file_order() -> None:
    text = textwrap.dedent("""\
        defaults:
          interval: soon
        monitors:
          - {key: api, kind: http, url: ftp://x}
          - {key: db, kind: tcp, host: db.internal}
        notifications:
          channels: [{key: chat, kind: slack, url: x}]
          routes: [{channels: [pager]}]
        bogus: 1
        """)
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "u.yaml", env={})
    assert [str(issue) for issue in caught.value.issues] == [
        "u.yaml:2:13: defaults.interval: invalid duration 'soon': "
        "expected a number and a unit, e.g. 500ms, 30s, 5m, 2h, 14d",
        "u.yaml:4:33: monitors[key=api].url: invalid URL: "
        "the scheme must be http or https (scheme is 'ftp')",
        "u.yaml:5:5: monitors[key=db].port: is required for tcp monitors",
        "u.yaml:7:32: notifications.channels[key=chat].kind: unknown channel kind 'slack' "
        "(expected one of: email, apprise, pagerduty, webhook)",
        "u.yaml:8:24: notifications.routes[0].channels[0]: no channel has the key pager",
        "u.yaml:9:1: bogus: unknown key in the top level (expected one of: board, defaults, "
        "maintenance, monitors, notifications, retention, status_pages)",
    ]
