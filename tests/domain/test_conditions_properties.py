"""Properties of the conditions language, found by hypothesis rather than by hand.

The parser meets whatever people paste into a config file; evaluation meets whatever a
server sends back. Neither may crash.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from upstate.domain.conditions import (
    Condition,
    ConditionSyntaxError,
    evaluate,
    extract_values,
    parse_condition,
    parse_value,
)
from upstate.domain.enums import MonitorKind
from upstate.domain.observation import CertInfo, DnsAnswer, IcmpStats, Observation, Phases

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

# Fragments that steer random text into the parser's deeper corners.
_FRAGMENTS = [
    "[STATUS]",
    "[BODY]",
    "[body]",
    "[HEADER:",
    "[DISK:/",
    "[CPU]",
    "[CERTIFICATE_EXPIRATION]",
    "[RESPONSE_TIME]",
    "[CONNECTED]",
    "[STATS]",
    ".a",
    ".0",
    "[0]",
    "[-1]",
    '["k"]',
    "[",
    "]",
    "(",
    ")",
    "len(",
    "has(",
    "pat(",
    "any(",
    "foo(",
    '"',
    "\\",
    ",",
    " ",
    "  ",
    "\t",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "!",
    "contains",
    "not contains",
    "matches",
    "200",
    "1.5",
    "48h",
    "7d",
    "500ms",
    "true",
    "false",
    "*",
    "?",
    "ok",
    "x",
    "\u00e9",
    "\n",
    "{",
    "a{2,1}",
]


def _check_refusal(text: str, error: ConditionSyntaxError) -> None:
    assert 1 <= error.column <= len(text) + 1, (text, error)
    assert error.message
    assert str(error) == f"column {error.column}: {error.message}"


@settings(max_examples=400)
@given(st.one_of(st.text(), st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join)))
def test_it_parses_or_refuses_any_text_with_a_column_in_range(text: str) -> None:
    try:
        condition = parse_condition(text)
    except ConditionSyntaxError as error:
        _check_refusal(text, error)
    else:
        assert condition.text == text
        evaluate([condition], _BASIC, NOW)
    try:
        value = parse_value(text)
    except ConditionSyntaxError as error:
        _check_refusal(text, error)
    else:
        extract_values({"v": value}, _BASIC, NOW)


# ---- generated well-formed conditions ---------------------------------------------------

_BASIC = Observation(
    kind=MonitorKind.HTTP, target="t", region="local", started_at=NOW, duration_ms=1.0
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_numbers = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(-1e9, 1e9, allow_nan=False).map(lambda f: f"{f:.3f}"),
)
_units = st.sampled_from(["ms", "s", "m", "h", "d", "w"])
_durations = st.builds(lambda n, unit: f"{n}{unit}", st.integers(0, 10**6), _units)
_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,8}", fullmatch=True)
_steps = st.one_of(
    _keys.map(lambda k: f".{k}"),
    st.integers(-3, 5).map(lambda i: f"[{i}]"),
    st.text(max_size=6).map(lambda k: f"[{_quote(k)}]"),
)
_body_paths = st.lists(_steps, max_size=4).map(lambda steps: "[BODY]" + "".join(steps))
_text_placeholders = st.one_of(
    _body_paths,
    st.sampled_from(["[IP]", "[DNS_RCODE]", "[HEADER:X-Version]", "[header:content-type]"]),
)
_number_placeholders = st.one_of(
    st.sampled_from(["[STATUS]", "[PACKET_LOSS]", "[CPU]", "[MEMORY]", "[DISK:/]"]),
    _text_placeholders.map(lambda p: f"len({p})"),
)
_time_placeholders = st.sampled_from(
    ["[RESPONSE_TIME]", "[CERTIFICATE_EXPIRATION]", "[DNS_TIME]", "[CONNECT_TIME]", "[TLS_TIME]",
     "[TTFB]"]
)  # fmt: skip
_bool_placeholders = st.one_of(
    st.just("[CONNECTED]"), _text_placeholders.map(lambda p: f"has({p})")
)
_ordering = st.sampled_from(["<", "<=", ">", ">="])
_equality = st.sampled_from(["==", "!="])
_words = st.text(min_size=1, max_size=12)


def _pair(left: str, op: str, right: str) -> str:
    return f"{left} {op} {right}"


_conditions = st.one_of(
    st.builds(_pair, _number_placeholders, st.one_of(_ordering, _equality), _numbers),
    st.builds(_pair, _time_placeholders, _ordering, st.one_of(_numbers, _durations)),
    st.builds(_pair, _bool_placeholders, _equality, st.sampled_from(["true", "false", "TRUE"])),
    st.builds(_pair, _text_placeholders, _equality, _words.map(_quote)),
    st.builds(_pair, _text_placeholders, _ordering, st.one_of(_numbers, _durations)),
    st.builds(
        _pair,
        _text_placeholders,
        st.sampled_from(["contains", "not contains"]),
        st.one_of(_words.map(_quote), _numbers),
    ),
    st.builds(_pair, _text_placeholders, st.just("matches"), _words.map(re.escape).map(_quote)),
    st.builds(_pair, _text_placeholders, _equality, _words.map(lambda w: f"pat({w})")),
    st.builds(
        _pair,
        st.one_of(_text_placeholders, _number_placeholders),
        _equality,
        st.lists(_numbers, min_size=1, max_size=4).map(lambda xs: f"any({', '.join(xs)})"),
    ),
    st.builds(
        _pair,
        _text_placeholders,
        _equality,
        st.lists(_words.map(_quote), min_size=1, max_size=4).map(
            lambda xs: f"any({', '.join(xs)})"
        ),
    ),
)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=12,
)
_bodies = st.one_of(
    st.binary(max_size=64),
    _json.map(lambda v: json.dumps(v).encode()),
    st.just(b'{"a": [1, 2, {"b": "c"}], "X-Version": "1"}'),
    st.just(b"[" * 5000),  # deeper than the JSON parser's recursion limit allows
)
_optional_ms = st.none() | st.floats(0, 1e6)
_header_names = st.sampled_from(["X-Version", "Content-Type"])
_dns = st.builds(
    DnsAnswer,
    st.sampled_from(["NOERROR", "NXDOMAIN"]),
    st.just("A"),
    st.lists(st.text(), max_size=3).map(tuple),
)


@st.composite
def _observations(draw: st.DrawFn) -> Observation:
    not_after = NOW + timedelta(seconds=draw(st.integers(-(10**8), 10**9)))
    return Observation(
        kind=draw(st.sampled_from(MonitorKind)),
        target="t",
        region="local",
        started_at=NOW,
        duration_ms=draw(st.floats(0, 1e7)),
        phases=Phases(*(draw(_optional_ms) for _ in range(5))),
        status_code=draw(st.none() | st.integers(100, 599)),
        ip=draw(st.none() | st.just("") | st.ip_addresses().map(str)),
        headers=draw(st.lists(st.tuples(_header_names, st.text()), max_size=3)),
        body=draw(_bodies),
        cert=draw(st.none() | st.just(CertInfo("s", "i", NOW, not_after))),
        connected=draw(st.booleans()),
        dns=draw(st.none() | _dns),
        icmp=draw(st.none() | st.builds(IcmpStats, st.just(3), st.just(2), st.floats(0, 100))),
    )


_metrics = st.none() | st.dictionaries(
    st.sampled_from(["cpu", "memory", "disk:/"]), st.floats(0, 100), max_size=3
)


@settings(max_examples=200)
@given(st.lists(_conditions, min_size=1, max_size=4), _observations(), _metrics)
def test_it_parses_and_evaluates_well_formed_conditions_without_raising(
    texts: list[str], observation: Observation, metrics: dict[str, float] | None
) -> None:
    conditions: list[Condition] = [parse_condition(text) for text in texts]
    results = evaluate(conditions, observation, NOW, metrics)
    assert [result.expr for result in results] == texts
    for result in results:
        assert str(result).startswith(result.expr.partition(" ")[0])
        assert len(result.value) <= 101


@given(_text_placeholders, _observations())
def test_it_extracts_any_placeholder_without_raising(text: str, observation: Observation) -> None:
    (value,) = extract_values({"v": parse_value(text)}, observation, NOW).values()
    assert value is None or isinstance(value, str | int | float | bool)
