"""Whatever the text, the loader answers with a config or with positioned issues."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upstate.config.interpolate import escape
from upstate.config.issues import field_names as field_names_of
from upstate.config.loader import load_config_text
from upstate.config.maintenance import Maintenance
from upstate.config.models import MONITOR_MODELS, Board, UpstateConfig
from upstate.config.notifications import CHANNEL_MODELS, Route, RouteMatch
from upstate.config.pages import Component, Group, StatusPage
from upstate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "upstate.yaml").read_text()
SPEC = Path("/work/shared/specs/upstate.example.yaml")
VALID = SPEC.read_text() if SPEC.exists() else EXAMPLE
ENV = {
    "API_MONITOR_PASSWORD": "pw",
    "SLACK_APPRISE_URL": "slack://a/b/c",
    "PD_ROUTING_KEY": "key",
    "HOOK_SECRET": "secret",
}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(FAST, max_examples=40)  # each example parses the whole spec file


def outcome(text: str) -> UpstateConfig | ConfigError:
    """The config, or the ConfigError after checking every issue is positioned."""
    try:
        return load_config_text(text, "fuzz.yaml", ENV)
    except ConfigError as exc:
        error = exc
    assert error.issues, "a ConfigError must carry issues"
    lines = text.count("\n") + 2
    for issue in error.issues:
        assert issue.file == "fuzz.yaml"
        assert issue.line is not None
        assert 1 <= issue.line <= lines, issue
        assert issue.column is not None
        assert issue.column >= 1, issue
        assert issue.message
    return error


@FAST
@given(st.text())
def test_it_survives_any_text(text: str) -> None:
    outcome(text)


yaml_words = st.sampled_from(
    [
        "monitors:",
        "- ",
        "key: ",
        "kind: ",
        "http",
        "tcp",
        "dns",
        "push",
        "composite",
        "url: ",
        "host: ",
        "port: ",
        "interval: ",
        "30s",
        "5x",
        "[",
        "]",
        "{",
        "}",
        ",",
        ": ",
        "\n",
        "  ",
        "&a ",
        "*a",
        "<<: ",
        '"',
        "'",
        "${X}",
        "$$",
        "#",
        "!!str ",
        "!foo ",
        "~",
        "null",
        "true",
        "1e9",
        "-1",
        "0x1F",
        ".inf",
        "conditions: ",
        "[STATUS] == 200",
        "defaults:",
        "status_pages:",
        "notifications:",
        "channels:",
        "routes:",
        "maintenance:",
        "? ",
        "|",
    ]
)


@FAST
@given(st.lists(yaml_words, max_size=60).map("".join))
def test_it_survives_yaml_shaped_text(text: str) -> None:
    outcome(text)


@FEW
@given(st.data())
def test_it_survives_any_mutation_of_a_valid_file(data: st.DataObject) -> None:
    lines = VALID.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "cut", "insert", "swap"]))
        line = lines[index]
        if action == "delete":
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, line)
        elif action == "cut":
            at = data.draw(st.integers(0, len(line)))
            lines[index] = line[:at]
        elif action == "insert":
            at = data.draw(st.integers(0, len(line)))
            lines[index] = line[:at] + data.draw(st.text(max_size=8)) + line[at:]
        else:
            other = data.draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        if not lines:
            break
    outcome("\n".join(lines) + "\n")


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(
            ["defaults", "monitors", "notifications", "maintenance", "status_pages", "board"]
        ),
        trees,
    )
)
def test_it_survives_any_tree_in_any_section(tree: dict[str, object]) -> None:
    outcome(json.dumps(tree, allow_nan=True))  # JSON is YAML


bmp_text = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))


@FAST
@given(bmp_text)
def test_it_reads_back_any_escaped_value(value: str) -> None:
    quoted = json.dumps(escape(value))
    text = f"monitors: [{{key: a, kind: tcp, host: 127.0.0.1, port: 9, description: {quoted}}}]"
    config = load_config_text(text, "round.yaml", {})
    assert config.monitors[0].description == value


field_names = sorted(
    {name for model in MONITOR_MODELS.values() for name in field_names_of(model)}
    | {"kind", "key", "title"}
)
values = st.one_of(
    scalars,
    st.sampled_from(
        [
            "http",
            "tcp",
            "dns",
            "push",
            "composite",
            "host",
            "30s",
            "api",
            "db",
            "127.0.0.1",
            "http://127.0.0.1/",
            "[STATUS] == 200",
            "0 3 * * *",
            "Europe/Dublin",
            "1MiB",
            "[::1]:53",
        ]
    ),
    st.lists(st.sampled_from(["api", "db", "local", "[STATUS] < 400", "x"]), max_size=3),
)
monitor_like = st.dictionaries(st.sampled_from(field_names), values, max_size=12)


@FAST
@given(st.lists(monitor_like, max_size=5), st.dictionaries(st.sampled_from(field_names), values))
def test_it_survives_monitor_shaped_nonsense(
    monitors: list[dict[str, object]], defaults: dict[str, object]
) -> None:
    outcome(json.dumps({"defaults": defaults, "monitors": monitors}, allow_nan=True))


every_field = sorted(
    {
        name
        for model in (
            Route,
            RouteMatch,
            Maintenance,
            StatusPage,
            Group,
            Component,
            Board,
            *CHANNEL_MODELS.values(),
        )
        for name in field_names_of(model)
    }
    | {"kind", "key"}
)
section_like = st.dictionaries(st.sampled_from(every_field), values, max_size=8)
nested = st.recursive(
    section_like,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(every_field), inner, max_size=4)
    ),
    max_leaves=12,
)


@FAST
@given(
    st.lists(section_like, max_size=3),
    st.lists(section_like, max_size=3),
    st.lists(nested, max_size=3),
    st.lists(nested, max_size=2),
)
def test_it_survives_section_shaped_nonsense(
    channels: list[object], routes: list[object], pages: list[object], windows: list[object]
) -> None:
    document = {
        "monitors": [{"key": "api", "kind": "tcp", "host": "127.0.0.1", "port": 9}],
        "notifications": {"channels": channels, "routes": routes},
        "status_pages": pages,
        "maintenance": windows,
    }
    outcome(json.dumps(document, allow_nan=True))
