from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from upstate.config.loader import load_config, load_config_text, validate_file
from upstate.config.probed import DnsMonitor, HttpMonitor, TcpMonitor
from upstate.domain.conditions import Condition
from upstate.domain.enums import IpFamily, MonitorKind
from upstate.domain.specs import DnsSpec, HttpSpec, IcmpSpec, TcpSpec
from upstate.errors import ConfigError, UsageError

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path("/work/shared/specs/upstate.example.yaml")
SPEC_ENV = {
    "API_MONITOR_PASSWORD": "hunter2-api",
    "SLACK_APPRISE_URL": "slack://tokenA/tokenB/tokenC",
    "PD_ROUTING_KEY": "pd-routing-key-0123",
    "HOOK_SECRET": "hook-secret-4567",
}


def load(text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return load_config_text(textwrap.dedent(text), "test.yaml", env or {})


def issues(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, env)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.skipif(not SPEC.exists(), reason="the shared spec is not on this machine")
def test_it_loads_the_whole_spec_example() -> None:
    config = load_config(SPEC, env=SPEC_ENV)
    kinds = [str(m.kind) for m in config.monitors]
    assert kinds == ["http", "tcp", "dns", "icmp", "tls", "push", "statuspage", "host", "composite"]
    api, db = config.monitor("api"), config.monitor("db")
    assert isinstance(api, HttpMonitor)
    assert isinstance(db, TcpMonitor)
    assert (api.interval, db.interval) == (30.0, 60.0)  # its own, and the default
    assert (db.timeout, db.failure_threshold, db.regions) == (10.0, 2, ("local",))
    assert api.regions == ("local", "eu-west", "us-east")
    assert api.quorum == 0.5
    assert [c.text for c in api.conditions] == [
        "[STATUS] == 200",
        "[BODY].status == ok",
        "[RESPONSE_TIME] < 800",
    ]
    assert [name for name, _ in api.check_definition().extract] == ["build"]
    assert [c.key for c in config.notifications.channels] == ["oncall", "chat", "pager", "hook"]
    assert config.status_pages[0].all_components()[2].monitors == ("supabase",)
    assert config.maintenance[0].duration == 3600.0


def test_it_loads_the_example_that_make_run_uses() -> None:
    config = load_config(ROOT / "examples" / "upstate.yaml", env={})
    probed = [m for m in config.monitors if m.probe_spec() is not None]
    assert [m.key for m in probed] == ["upstate-web", "upstate-port", "loopback"]
    assert all(m.check_definition().spec.timeout_s == 5.0 for m in probed)
    loopback = config.monitor("loopback")
    assert loopback is not None
    assert loopback.probe_spec() == IcmpSpec(host="127.0.0.1", count=3, timeout_s=5.0)
    port = config.monitor("upstate-port")
    assert port is not None
    assert port.probe_spec() == TcpSpec(host="127.0.0.1", port=8080, timeout_s=5.0)
    heartbeat = config.monitor("heartbeat")
    assert heartbeat is not None
    assert heartbeat.probe_spec() is None


def test_it_turns_an_http_monitor_into_its_probe_spec() -> None:
    config = load(
        """
        monitors:
          - key: api
            kind: http
            url: https://api.example.com/
            method: post
            headers: {Accept: application/json, X-Count: 5}
            body: '{"ping": true}'
            auth: {basic: {username: monitor, password: "${PW}"}}
            client_cert: /etc/upstate/client.pem
            ip_family: 6
            max_body: 512KB
            max_redirects: 3
            tls_verify: false
        """,
        {"PW": "s3cret"},
    )
    assert config.monitors[0].probe_spec() == HttpSpec(
        url="https://api.example.com/",
        method="POST",
        headers=(("Accept", "application/json"), ("X-Count", "5")),
        body=b'{"ping": true}',
        basic_auth=("monitor", "s3cret"),
        max_redirects=3,
        tls_verify=False,
        client_cert="/etc/upstate/client.pem",
        ip_family=IpFamily.IPV6,
        max_body=512_000,
    )


def test_it_reads_bearer_tokens_and_client_keys() -> None:
    config = load(
        """
        monitors:
          - key: api
            kind: http
            url: http://127.0.0.1:8080/
            auth: {bearer: tok-123}
            client_cert: {cert: c.pem, key: k.pem}
            max_body: 2048
        """
    )
    spec = config.monitors[0].probe_spec()
    assert isinstance(spec, HttpSpec)
    assert (spec.bearer_token, spec.basic_auth) == ("tok-123", None)
    assert (spec.client_cert, spec.client_key, spec.max_body) == ("c.pem", "k.pem", 2048)


def test_it_splits_a_nameserver_with_a_port() -> None:
    config = load(
        """
        monitors:
          - {key: v6, kind: dns, name: example.com, record: aaaa, nameserver: "[::1]:5353"}
          - {key: v4, kind: dns, name: example.com, nameserver: 127.0.0.1, transport: tcp}
        """
    )
    specs = [m.probe_spec() for m in config.monitors]
    assert specs == [
        DnsSpec(name="example.com", record="AAAA", nameserver="::1", port=5353),
        DnsSpec(name="example.com", nameserver="127.0.0.1", port=53, transport="tcp"),
    ]
    assert config.monitors[0].name == "v6"  # `name` is the query here; the display name is the key


def test_it_names_a_dns_monitor_by_its_title() -> None:
    config = load("monitors: [{key: m, kind: dns, name: example.com, title: Mail DNS}]")
    monitor = config.monitors[0]
    assert isinstance(monitor, DnsMonitor)
    assert (monitor.name, monitor.query) == (
        "Mail DNS",
        "example.com",
    )


def test_it_encodes_what_a_tcp_monitor_sends() -> None:
    config = load(
        """
        monitors:
          - {key: redis, kind: tcp, host: "::1", port: 6379, send: "PING\\r\\n", expect: ^\\+PONG}
        """
    )
    assert config.monitors[0].probe_spec() == TcpSpec(
        host="::1", port=6379, send=b"PING\r\n", expect="^\\+PONG"
    )


def test_it_builds_check_definitions_with_parsed_conditions() -> None:
    config = load(
        """
        monitors:
          - key: api
            kind: http
            url: http://127.0.0.1/
            conditions: "[STATUS] == 200"
            degraded_when: ["[RESPONSE_TIME] > 300ms"]
            extract: {build: "[BODY].build"}
        """
    )
    definition = config.monitors[0].check_definition()
    assert definition.key == definition.name == "api"
    assert all(isinstance(c, Condition) for c in definition.conditions + definition.degraded_when)
    assert [c.text for c in definition.conditions] == ["[STATUS] == 200"]
    assert [(name, value.text) for name, value in definition.extract] == [("build", "[BODY].build")]


def test_it_gives_no_probe_to_push_host_and_composite_monitors() -> None:
    config = load(
        """
        monitors:
          - {key: job, kind: push, period: 1h, grace: 5m}
          - {key: box, kind: host, agent: web-1, conditions: ["[CPU] < 90"]}
          - {key: all, kind: composite, monitors: [job, box], at_least: 1}
        """
    )
    assert [m.probe_spec() for m in config.monitors] == [None, None, None]
    with pytest.raises(UsageError, match="not probed"):
        config.monitors[0].check_definition()


def test_it_merges_defaults_only_where_a_kind_has_the_field() -> None:
    config = load(
        """
        defaults: {interval: 30s, timeout: 5s, regions: [local, eu], failure_threshold: 3}
        monitors:
          - {key: web, kind: http, url: "http://127.0.0.1/", failure_threshold: 1}
          - {key: job, kind: push, period: 1h, grace: 0s}
        """
    )
    web, job = config.monitors
    assert isinstance(web, HttpMonitor)
    assert (web.interval, web.timeout, web.regions, web.failure_threshold) == (
        30.0,
        5.0,
        ("local", "eu"),
        1,
    )
    assert job.kind == MonitorKind.PUSH
    assert not hasattr(job, "regions")


def test_it_shortens_an_inherited_timeout_to_the_interval() -> None:
    config = load(
        """
        defaults: {timeout: 10s}
        monitors: [{key: fast, kind: tcp, host: 127.0.0.1, port: 9, interval: 5s}]
        """
    )
    monitor = config.monitors[0]
    assert isinstance(monitor, TcpMonitor)
    assert monitor.timeout == 5.0


def test_it_reports_a_bad_default_once_not_for_every_monitor() -> None:
    assert issues(
        """
        defaults: {interval: often, timeout: 2s}
        monitors:
          - {key: a, kind: tcp, host: 127.0.0.1, port: 9}
          - {key: b, kind: tcp, host: 127.0.0.1, port: 10}
        """
    ) == [
        "test.yaml:2:22: defaults.interval: invalid duration 'often': "
        "expected a number and a unit, e.g. 500ms, 30s, 5m, 2h, 14d"
    ]


def test_it_never_shows_a_secret() -> None:
    text = """
        monitors:
          - key: api
            kind: http
            url: https://api.example.com/
            headers: {Authorization: "Bearer hdr-secret-1"}
            auth: {basic: {username: u, password: "${PW}"}}
        notifications:
          channels:
            - {key: chat, kind: apprise, url: "slack://secret-token-2"}
            - {key: hook, kind: webhook, url: "https://h.example.com/", secret: secret-3}
            - {key: mail, kind: email, to: [a@example.com], smtp_url: "smtp://u:secret-4@mx"}
        board: {ingest_secret: secret-5}
        """
    config = load(text, {"PW": "secret-0"})
    shown = repr(config) + str(config) + config.model_dump_json()
    shown += repr(config.monitors[0].probe_spec()) + repr(config.monitors[0].check_definition())
    assert "secret-" not in shown
    broken = text.replace("password:", "password: {x: 1}, pass:").replace("to: [a@", "to: [a-at-")
    failures = "\n".join(issues(broken, {"PW": "secret-0"}))
    assert "secret-" not in failures
    assert "password" in failures


def test_it_never_echoes_a_secret_that_is_invalid() -> None:
    failures = issues(
        """
        notifications:
          channels:
            - {key: chat, kind: apprise, url: "not an apprise url secret-1"}
            - {key: mail, kind: email, to: [a@example.com], smtp_url: "http://secret-2@mx"}
        """
    )
    assert len(failures) == 2
    assert not any("secret-" in f for f in failures)


def test_it_accepts_anchors_merges_and_extension_keys() -> None:
    config = load(
        """
        x-tcp: &tcp {kind: tcp, host: 127.0.0.1, interval: 10s}
        monitors:
          - {<<: *tcp, key: a, port: 1}
          - {<<: *tcp, key: b, port: 2, interval: 20s}
        """
    )
    assert [
        (m.key, getattr(m, "port", None), getattr(m, "interval", None)) for m in config.monitors
    ] == [
        ("a", 1, 10.0),
        ("b", 2, 20.0),
    ]


def test_it_points_errors_in_merged_keys_at_the_anchor() -> None:
    assert issues(
        """
        x-tcp: &tcp {kind: tcp, host: 127.0.0.1, interval: 10}
        monitors:
          - {<<: *tcp, key: a, port: 1}
        """
    ) == [
        "test.yaml:2:52: monitors[key=a].interval: durations need a unit: write 10s or 10ms, not 10"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "test.yaml:1:1: the file is empty: expected monitors: and other sections"),
        (
            "- a\n- b\n",
            "test.yaml:1:1: expected a mapping at the top (monitors:, notifications:, …)",
        ),
        ("x-a: &x [*x]\n", "test.yaml:1:6: x-a[0]: invalid structure: an alias refers to itself"),
        (
            "monitors: !!binary aGk=\n",
            "test.yaml:1:11: monitors: unsupported YAML tag tag:yaml.org,2002:binary",
        ),
        (
            "monitors: {}\n",
            "test.yaml:1:11: monitors: expected a list of monitors (lines starting with -)",
        ),
    ],
)
def test_it_refuses_what_is_not_a_config(text: str, expected: str) -> None:
    assert issues(text) == [expected]


def test_it_refuses_alias_bombs_quickly() -> None:
    rows = ["x-0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    rows += [f"x-{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    failures = issues("\n".join(rows) + "\n")
    assert "document too large (aliases expand too far)" in failures[0]


def test_it_makes_naive_maintenance_times_local_to_their_zone() -> None:
    config = load(
        """
        monitors: [{key: db, kind: tcp, host: db.internal, port: 5432}]
        maintenance:
          - title: Upgrade
            monitors: [db]
            start: 2025-05-01 02:00
            end: 2025-05-01T03:30:00+01:00
            timezone: Europe/Dublin
        """
    )
    window = config.maintenance[0]
    assert window.start == datetime(2025, 5, 1, 2, 0, tzinfo=ZoneInfo("Europe/Dublin"))
    assert window.end is not None
    assert window.end.utcoffset() is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "monitors: [{key: job, kind: push, grace: 5m}]",
            "test.yaml:1:12: monitors[key=job]: "
            "push monitors need a period (e.g. 1h) or a cron schedule",
        ),
        (
            "monitors: [{key: job, kind: push, period: 1h, schedule: '@daily', grace: 5m}]",
            "test.yaml:1:57: monitors[key=job].schedule: give period or schedule, not both",
        ),
        (
            "monitors: [{key: a, kind: composite, monitors: [a]}]",
            "test.yaml:1:48: monitors[key=a].monitors: a composite cannot contain itself",
        ),
        (
            "monitors: [{key: a, kind: icmp, host: 127.0.0.1, regions: []}]",
            "test.yaml:1:59: monitors[key=a].regions: needs at least one region, e.g. [local]",
        ),
        (
            "monitors: [{key: a, kind: dns, name: x.org, nameserver: '1.1.1.1:5353', port: 53}]",
            "test.yaml:1:79: monitors[key=a].port: conflicts with the nameserver's port 5353",
        ),
        (
            "monitors: [{key: a, kind: http, url: 'http://x/', auth: {}}]",
            "test.yaml:1:57: monitors[key=a].auth: give exactly one of basic or bearer",
        ),
        (
            "monitors: [{key: a, kind: http, url: 'http://x/', extract: {1x: '[BODY]'}}]",
            "test.yaml:1:61: monitors[key=a].extract.1x: "
            "invalid name: use letters, digits and _, not starting with a digit",
        ),
        (
            "monitors: [{key: API, kind: tcp, host: 127.0.0.1, port: 1}]",
            "test.yaml:1:18: monitors[0].key: invalid key 'API': use lowercase letters, "
            "digits and '-' (at most 63, not starting with '-'), e.g. api-eu",
        ),
    ],
)
def test_it_checks_rules_across_fields(text: str, expected: str) -> None:
    assert issues(text) == [expected]


def test_it_validates_a_file_into_a_list_of_issues(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("monitors: [{key: a, kind: tcp, host: 127.0.0.1, port: 9}]\n")
    bad.write_bytes(b"monitors:\n  - key: \xff\n")
    assert validate_file(good, env={}) == []
    assert [str(i) for i in validate_file(bad, env={})] == [f"{bad}:2:10: not UTF-8 text"]
    assert [str(i) for i in validate_file(tmp_path / "none.yaml")] == [
        f"{tmp_path / 'none.yaml'}: cannot read: No such file or directory"
    ]


def test_it_reads_the_process_environment_when_no_env_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "u.yaml"
    path.write_text("monitors: [{key: a, kind: tcp, host: '${UPSTATE_TEST_HOST}', port: 9}]\n")
    monkeypatch.setenv("UPSTATE_TEST_HOST", "db.internal")
    monitor = load_config(path).monitors[0]
    assert isinstance(monitor, TcpMonitor)
    assert monitor.host == "db.internal"


def test_it_keeps_host_metrics_to_host_monitors() -> None:
    assert issues(
        """
        monitors:
          - {key: a, kind: http, url: "http://x/", conditions: ["[STATUS] == 200", "[CPU] < 90"]}
          - {key: b, kind: host, agent: b, degraded_when: ["len([BODY]) > 3"]}
        """
    ) == [
        "test.yaml:3:77: monitors[key=a].conditions[1]: [CPU] is a host metric: use a host monitor",
        "test.yaml:4:57: monitors[key=b].degraded_when[0]: "
        "host monitors judge only [CPU], [MEMORY], [DISK]",
    ]


def test_it_refuses_a_default_timeout_above_the_default_interval() -> None:
    assert issues(
        """
        defaults: {interval: 30s, timeout: 1m}
        monitors: [{key: a, kind: tcp, host: 127.0.0.1, port: 9}]
        """
    ) == ["test.yaml:2:36: defaults.timeout: timeout 1m must not exceed interval 30s"]


def test_it_points_every_use_of_an_anchor_at_the_anchor() -> None:
    assert issues(
        """
        x-base: &base {kind: tcp, host: 127.0.0.1, port: 99999}
        monitors:
          - {<<: *base, key: a}
          - {<<: *base, key: b}
        """
    ) == [
        "test.yaml:2:50: monitors[key=a].port: ports are 1..65535, got 99999",
        "test.yaml:2:50: monitors[key=b].port: ports are 1..65535, got 99999",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "monitors: [{key: a, type: tcp, host: h, port: 1}]",
            "test.yaml:1:21: monitors[key=a].type: unknown key; did you mean kind?",
        ),
        (
            "monitors: [{key: c, kind: http, url: 'http://x/', "
            "auth: {basic: {user: u, password: p}}}]",
            "test.yaml:1:66: monitors[key=c].auth.basic.user: unknown key; did you mean username?",
        ),
        (
            "status_pages: [{slug: s, title: S, "
            "groups: [{name: G, components: [{name: B, x: 1}]}]}]",
            "test.yaml:1:78: status_pages[slug=s].groups[0].components[0].x: "
            "unknown key in components (expected one of: description, key, monitors, name)",
        ),
    ],
)
def test_it_reports_one_issue_per_mistake(text: str, expected: str) -> None:
    assert issues(text) == [expected]


def test_it_keeps_the_commented_examples_valid() -> None:
    lines = (ROOT / "examples" / "upstate.yaml").read_text().splitlines()
    start = lines.index("#  - key: api")
    uncommented = [
        line[1:] if line.startswith("#  ") else line[2:] if line.startswith("# ") else ""
        for line in lines[start:]
    ]
    config = load_config_text("monitors:\n" + "\n".join(uncommented), "examples", SPEC_ENV)
    assert {str(m.kind) for m in config.monitors} == {
        "http",
        "tcp",
        "dns",
        "tls",
        "statuspage",
        "host",
    }
    assert config.maintenance[0].monitors == ("db",)


def test_it_refuses_a_time_zone_that_is_only_a_region_folder() -> None:
    import pytest

    from upstate.config.loader import load_config_text
    from upstate.errors import ConfigError

    text = (
        "monitors:\n"
        "  - {key: job, kind: push, schedule: '0 3 * * *', timezone: Europe, grace: 5m}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "t.yaml")
    assert "unknown time zone 'Europe'" in str(caught.value)
