"""Conditions: parsing with positioned errors, and evaluation against hand-built observations."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from upstate.domain.conditions import (
    Condition,
    ConditionResult,
    ConditionSyntaxError,
    Evaluator,
    evaluate,
    extract_values,
    metric_key,
    parse_condition,
    parse_value,
)
from upstate.domain.conditions.model import MEMO_SIZE
from upstate.domain.conditions.values import MISSING
from upstate.domain.enums import MonitorKind
from upstate.domain.observation import CertInfo, DnsAnswer, IcmpStats, Observation, Phases

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
JSON_BODY = (
    b'{"status": "ok", "data": [{"id": 7, "name": "first"}, {"id": 8}], "count": 3,'
    b' "ratio": 0.25, "version": "1.10", "enabled": true, "nothing": null,'
    b' "tags": ["blue", "green"], "odd key": "yes", "build": {"sha": "abc"}}'
)


def observe(**changes: Any) -> Observation:
    fields: dict[str, Any] = {
        "kind": MonitorKind.HTTP,
        "target": "http://127.0.0.1/",
        "region": "local",
        "started_at": NOW,
        "duration_ms": 412.26,
        "status_code": 200,
        "ip": "127.0.0.1",
        "connected": True,
        "headers": (("Content-Type", "application/json"), ("X-Version", "1.2.3")),
        "body": JSON_BODY,
        "phases": Phases(dns=1.5, connect=2.25, tls=10.0, ttfb=120.0),
        "cert": CertInfo("CN=x", "CN=ca", NOW - timedelta(days=60), NOW + timedelta(days=30)),
    }
    fields.update(changes)
    return Observation(**fields)


def roundtrip(thing: Any) -> Any:
    return pickle.loads(pickle.dumps(thing))  # noqa: S301 - our own bytes


def judge_one(
    text: str, observation: Observation | None = None, metrics: dict[str, float] | None = None
) -> ConditionResult:
    (result,) = evaluate([parse_condition(text)], observation or observe(), NOW, metrics)
    return result


# ---- every placeholder ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[STATUS] == 200", "[STATUS] (200) == 200"),
        ("[RESPONSE_TIME] < 500", "[RESPONSE_TIME] (412.3) < 500"),
        ("[BODY].status == ok", "[BODY].status (ok) == ok"),
        ("[HEADER:x-version] == 1.2.3", "[HEADER:x-version] (1.2.3) == 1.2.3"),
        ("[IP] == 127.0.0.1", "[IP] (127.0.0.1) == 127.0.0.1"),
        ("[CONNECTED] == true", "[CONNECTED] (true) == true"),
        ("[CERTIFICATE_EXPIRATION] > 7d", "[CERTIFICATE_EXPIRATION] (30d) > 7d"),
        ("[DNS_TIME] < 5", "[DNS_TIME] (1.5) < 5"),
        ("[CONNECT_TIME] < 5", "[CONNECT_TIME] (2.2) < 5"),
        ("[TLS_TIME] <= 10", "[TLS_TIME] (10) <= 10"),
        ("[TTFB] < 1s", "[TTFB] (120) < 1s"),
    ],
)
def test_it_resolves_each_http_placeholder_and_shows_what_it_saw(text: str, shown: str) -> None:
    result = judge_one(text)
    assert result.ok
    assert str(result) == shown
    assert result.expr == text


def test_it_reads_dns_answers_and_rcode() -> None:
    dns = observe(
        kind=MonitorKind.DNS,
        body=b"",
        dns=DnsAnswer("NOERROR", "A", ("10.0.0.1", "10.0.0.2")),
    )
    assert judge_one("[DNS_RCODE] == NOERROR", dns).ok
    assert str(judge_one("[BODY] contains 10.0.0.2", dns)) == (
        "[BODY] (10.0.0.1, 10.0.0.2) contains 10.0.0.2"
    )
    assert judge_one("[BODY] == 10.0.0.1", observe(dns=DnsAnswer("NOERROR", "A", ("10.0.0.1",))))
    assert str(judge_one("[DNS_RCODE] == NOERROR", replace(dns, dns=None))) == (
        "[DNS_RCODE] (missing) == NOERROR"
    )


def test_it_reads_a_tcp_banner_as_the_body_replacing_bad_utf8() -> None:
    banner = observe(kind=MonitorKind.TCP, body=b"SSH-2.0-OpenSSH\xff\r\n", status_code=None)
    result = judge_one("[BODY] == pat(SSH-2.0-*)", banner)
    assert result.ok
    assert result.value == "SSH-2.0-OpenSSH\ufffd"


def test_it_reads_packet_loss_from_icmp() -> None:
    ping = observe(kind=MonitorKind.ICMP, icmp=IcmpStats(sent=3, received=2, packet_loss=33.333))
    assert str(judge_one("[PACKET_LOSS] < 50", ping)) == "[PACKET_LOSS] (33.3) < 50"
    assert not judge_one("[PACKET_LOSS] == 0", ping).ok


def test_it_reads_host_metrics_from_the_mapping_given() -> None:
    metrics = {"cpu": 12.5, "memory": 91.0, metric_key(parse_value("[DISK:/var]")): 40.0}
    assert judge_one("[CPU] < 90", metrics=metrics).ok
    assert not judge_one("[MEMORY] < 90", metrics=metrics).ok
    assert str(judge_one("[DISK:/var] < 80", metrics=metrics)) == "[DISK:/var] (40) < 80"
    assert str(judge_one("[DISK:/] < 80", metrics=metrics)) == "[DISK:/] (missing) < 80"
    assert judge_one("[CPU] < 90", metrics=None).value == "missing"


def test_it_keys_metrics_as_documented() -> None:
    keys = [metric_key(parse_value(t)) for t in ("[CPU]", "[memory]", "[DISK:/data]")]
    assert keys == ["cpu", "memory", "disk:/data"]


def test_it_reads_headers_case_insensitively() -> None:
    assert judge_one("[HEADER:CONTENT-TYPE] == application/json").ok
    assert judge_one("[header:content-type] contains json").ok


def test_it_accepts_placeholder_names_in_any_case() -> None:
    lower, upper = parse_condition("[status] == 200"), parse_condition("[STATUS] == 200")
    assert (lower.left.name, lower.right) == (upper.left.name, upper.right)  # type: ignore[union-attr]
    assert str(judge_one("[Status] == 200")) == "[Status] (200) == 200"


# ---- JSON paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[BODY].data[0].id == 7", "7"),
        ("[BODY].data[1].id == 8", "8"),
        ("[BODY].data[-1].id == 8", "8"),
        ("[BODY].data.0.name == first", "first"),
        ('[BODY]["odd key"] == yes', "yes"),
        ("[BODY].build.sha == abc", "abc"),
        ("[BODY].count == 3", "3"),
        ("[BODY].ratio < 0.5", "0.25"),
        ("[BODY].enabled == true", "true"),
        ("[BODY].nothing == null", "null"),
        ('[BODY].tags == ["blue","green"]', '["blue","green"]'),
    ],
)
def test_it_follows_json_paths(text: str, value: str) -> None:
    result = judge_one(text)
    assert result.ok, str(result)
    assert result.value == value


def test_it_indexes_a_body_that_is_a_list() -> None:
    listing = observe(body=b'[{"id": 1}, {"id": 2}]')
    assert judge_one("[BODY][1].id == 2", listing).ok
    assert judge_one("len([BODY]) == 2", listing).ok


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("[BODY].data[9].id == 7", JSON_BODY),
        ("[BODY].missing == 7", JSON_BODY),
        ("[BODY].status.deeper == ok", JSON_BODY),
        ("[BODY].data.x == 1", JSON_BODY),
        ("[BODY][0] == 1", JSON_BODY),
        ("[BODY].status == ok", b"<html>not json</html>"),
        ("[BODY].status == ok", b""),
    ],
)
def test_it_fails_and_says_missing_when_a_path_leads_nowhere(text: str, body: bytes) -> None:
    result = judge_one(text, observe(body=body))
    assert not result.ok
    assert result.value == "missing"
    assert str(result).startswith(text.partition(" ")[0] + " (missing) ")


def test_it_shows_missing_as_gatus_would_for_the_example_in_the_brief() -> None:
    assert str(judge_one("[BODY].data[9].id == 7")) == "[BODY].data[9].id (missing) == 7"


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ("[STATUS] != 200", {"status_code": None}),
        ("[IP] != 10.0.0.1", {"ip": None}),
        ("[CERTIFICATE_EXPIRATION] > 0", {"cert": None}),
        ("[TLS_TIME] < 100", {"phases": Phases()}),
        ("[HEADER:X-Absent] != x", {}),
        ("[BODY].nope not contains x", {}),
        ("[DNS_RCODE] != NXDOMAIN", {}),
        ("[PACKET_LOSS] < 100", {}),
    ],
)
def test_it_fails_every_comparison_with_a_missing_value(text: str, changes: dict[str, Any]) -> None:
    result = judge_one(text, observe(**changes))
    assert not result.ok
    assert result.value == "missing"


# ---- operators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[STATUS] == 200", True),
        ("[STATUS] == 201", False),
        ("[STATUS] != 500", True),
        ("[STATUS] != 200", False),
        ("[STATUS] < 300", True),
        ("[STATUS] < 200", False),
        ("[STATUS] <= 200", True),
        ("[STATUS] > 199", True),
        ("[STATUS] > 200", False),
        ("[STATUS] >= 200", True),
        ("[STATUS] >= 201", False),
        ('[BODY] contains "status": "ok"', True),
        ("[BODY] contains maintenance", False),
        ("[BODY] not contains maintenance", True),
        ("[BODY].tags contains green", True),
        ("[BODY].tags contains gre", False),
        ("[BODY].build contains sha", True),
        ("[BODY].status matches ^o", True),
        ("[BODY].status matches ^k", False),
        ('[BODY] matches "count":\\s*3', True),
        ("[STATUS]==200", True),
        ("200 == [STATUS]", True),
        ("300 > [STATUS]", True),
        ("[STATUS] == [BODY].count", False),
        ("[BODY].count < [STATUS]", True),
        ("[STATUS] NOT CONTAINS 5", True),
    ],
)
def test_it_applies_each_operator(text: str, ok: bool) -> None:
    assert judge_one(text).ok is ok


def test_it_compares_numbers_as_numbers_and_versions_as_text() -> None:
    assert judge_one("[BODY].count == 3.0").ok
    assert judge_one("[BODY].count == 03").ok
    assert not judge_one("[BODY].version == 1.1").ok  # "1.10" is text: not a whole number
    assert judge_one("[BODY].version == 1.10").ok
    assert judge_one("[BODY].ratio == 0.25").ok  # a JSON number is a number
    assert judge_one("[BODY].version > 1.09").ok  # ordering reads any number in text
    assert judge_one("[BODY] == 42", observe(body=b"42\n")).ok


def test_it_fails_ordering_on_what_is_not_a_number() -> None:
    result = judge_one("[BODY].status > 3")
    assert not result.ok
    assert str(result) == "[BODY].status (ok) > 3"


def test_it_compares_booleans_without_regard_to_case() -> None:
    assert judge_one("[CONNECTED] == TRUE").ok
    assert judge_one("[BODY].enabled == True").ok
    assert not judge_one("[CONNECTED] == false").ok
    assert judge_one("[CONNECTED] == false", observe(connected=False)).ok


def test_it_matches_with_search_semantics() -> None:
    assert judge_one("[BODY].version matches 10").ok
    assert not judge_one("[BODY].version matches ^10$").ok
    assert judge_one('[BODY].status matches "^(ok|fine)$"').ok


# ---- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("[CERTIFICATE_EXPIRATION] > 48h", True),
        ("[CERTIFICATE_EXPIRATION] > 29d", True),
        ("[CERTIFICATE_EXPIRATION] > 31d", False),
        ("[CERTIFICATE_EXPIRATION] > 4w", True),
        ("[CERTIFICATE_EXPIRATION] > 2591000000", True),  # plain ms, as in Gatus
        ("[CERTIFICATE_EXPIRATION] > 2592001000", False),
        ("[RESPONSE_TIME] < 1s", True),
        ("[RESPONSE_TIME] < 400ms", False),
        ("[RESPONSE_TIME] < 0.5s", True),
        ("[RESPONSE_TIME] == 412.26", True),
        ("[TTFB] == 120ms", True),
        ("[BODY].count < 1s", True),
    ],
)
def test_it_reads_durations_beside_time_placeholders(text: str, ok: bool) -> None:
    assert judge_one(text).ok is ok


def test_it_shows_an_expired_certificate_as_a_negative_duration() -> None:
    expired = observe(
        cert=CertInfo("CN=x", "CN=ca", NOW - timedelta(days=90), NOW - timedelta(hours=5))
    )
    result = judge_one("[CERTIFICATE_EXPIRATION] > 0", expired)
    assert not result.ok
    assert str(result) == "[CERTIFICATE_EXPIRATION] (-5h) > 0"


def test_it_accepts_a_naive_not_after_as_utc() -> None:
    naive = observe(
        cert=CertInfo("CN=x", "CN=ca", datetime(2025, 1, 1), datetime(2025, 6, 2, 12, 0))
    )
    assert str(judge_one("[CERTIFICATE_EXPIRATION] > 12h", naive)) == (
        "[CERTIFICATE_EXPIRATION] (1d) > 12h"
    )


# ---- functions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok", "shown"),
    [
        ("len([BODY].data) == 2", True, "len([BODY].data) (2) == 2"),
        ("len([BODY].status) == 2", True, "len([BODY].status) (2) == 2"),
        ("len([BODY].build) == 1", True, "len([BODY].build) (1) == 1"),
        ("len([BODY]) > 5", True, "len([BODY]) (10) > 5"),
        ("len([BODY].absent) == 0", False, "len([BODY].absent) (missing) == 0"),
        ("len([HEADER:X-Version]) == 5", True, "len([HEADER:X-Version]) (5) == 5"),
        ("has([BODY].errors) == false", True, "has([BODY].errors) (false) == false"),
        ("has([BODY].nothing) == true", True, "has([BODY].nothing) (true) == true"),
        ("has([HEADER:X-Version]) == true", True, "has([HEADER:X-Version]) (true) == true"),
        ("has([IP]) == true", True, "has([IP]) (true) == true"),
        ('[BODY] == pat(*"ok"*)', True, None),
        ("[BODY].status == pat(o?)", True, "[BODY].status (ok) == pat(o?)"),
        ("[BODY].status != pat(x*)", True, "[BODY].status (ok) != pat(x*)"),
        ("[STATUS] == pat(2*)", True, "[STATUS] (200) == pat(2*)"),
        ("pat(12?.*) == [IP]", True, "pat(12?.*) == [IP] (127.0.0.1)"),
        ('[BODY].status == pat("o*")', True, None),
        ("[STATUS] == any(200, 201, 204)", True, "[STATUS] (200) == any(200, 201, 204)"),
        ("[STATUS] == any(201, 204)", False, "[STATUS] (200) == any(201, 204)"),
        ("[STATUS] != any(500, 503)", True, None),
        ("any(ok, fine) == [BODY].status", True, None),
        ('[BODY]["odd key"] == any("no, never", yes)', True, None),
    ],
)
def test_it_applies_each_function(text: str, ok: bool, shown: str | None) -> None:
    result = judge_one(text)
    assert result.ok is ok
    if shown is not None:
        assert str(result) == shown


def test_it_counts_the_characters_of_a_body_that_is_not_json() -> None:
    assert judge_one("len([BODY]) == 5", observe(body=b"hello")).ok
    assert judge_one("has([BODY]) == false", observe(body=b"  \n")).ok


def test_it_lets_pat_hold_parentheses_on_the_right_side_as_gatus_does() -> None:
    assert judge_one("[BODY] == pat(*:)*)", observe(body=b"happy :) face")).ok


def test_it_keeps_spaces_and_operators_inside_a_quoted_value() -> None:
    spaced = observe(body=b'{"motto": " a == b "}')
    assert judge_one('[BODY].motto == " a == b "', spaced).ok
    assert judge_one('[BODY].motto contains "a == b"', spaced).ok


def test_it_takes_a_fully_quoted_right_side_as_text() -> None:
    odd = observe(body=b'{"a": "[ok]", "b": "len(x)", "c": "say \\"hi\\""}')
    assert judge_one('[BODY].a == "[ok]"', odd).ok
    assert judge_one('[BODY].b == "len(x)"', odd).ok
    assert judge_one('[BODY].c == "say \\"hi\\""', odd).ok
    assert judge_one("[BODY] == [1,2]", observe(body=b"[1,2]")).ok  # `[` then no letter: text


def test_it_keeps_quotes_that_do_not_wrap_the_whole_value() -> None:
    assert parse_condition('[BODY] matches "a" and "b"').right.source == '"a" and "b"'  # type: ignore[union-attr]


def test_it_shares_one_decoded_body_between_sets() -> None:
    evaluator = Evaluator(observe(), NOW)
    (first,) = evaluator.evaluate([parse_condition("[BODY].count == 3")])
    assert first.ok
    assert evaluator.extract({"sha": parse_value("[BODY].build.sha")}) == {"sha": "abc"}


def test_it_reads_a_bare_right_side_to_the_end_of_the_line() -> None:
    titled = observe(body=b'{"title": "All systems go"}')
    assert judge_one("[BODY].title == All systems go", titled).ok


def test_it_truncates_long_values_shown_to_people() -> None:
    result = judge_one("[BODY] contains nope", observe(body=b"x" * 5000))
    assert result.value == "x" * 100 + "…"
    assert len(str(result)) < 200


# ---- the parsed form --------------------------------------------------------------------


def test_it_keeps_the_text_and_is_frozen_comparable_hashable_and_picklable() -> None:
    text = "[BODY].data[0].name == pat(fi*) "
    condition = parse_condition(text)
    assert condition.text == text
    assert str(condition) == text
    assert condition == parse_condition(text)
    assert hash(condition) == hash(parse_condition(text))
    assert roundtrip(condition) == condition
    for other in ("[BODY] matches ^a", "[STATUS] == any(1, 2)", "len([BODY]) > 1"):
        parsed = parse_condition(other)
        assert roundtrip(parsed) == parsed
        assert judge_one(other).ok == evaluate([roundtrip(parsed)], observe(), NOW)[0].ok
    with pytest.raises(FrozenInstanceError):
        condition.text = "x"  # type: ignore[misc]


def test_it_evaluates_many_conditions_in_order() -> None:
    conditions: list[Condition] = [
        parse_condition(t) for t in ("[STATUS] == 200", "[BODY].count > 5", "[CONNECTED] == true")
    ]
    results = evaluate(conditions, observe(), NOW)
    assert [r.ok for r in results] == [True, False, True]
    assert [r.expr for r in results] == [c.text for c in conditions]


# ---- syntax errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "empty condition"),
        ("   ", 1, "empty condition"),
        ("[STATS] == 200", 1, "unknown placeholder [STATS] (did you mean [STATUS]?)"),
        ("[STATUS] == 200 and [STATS]", 13, "[STATUS] is a number, not '200 and [STATS]'"),
        ("[BODY] == [NOPE]", 11, "unknown placeholder [NOPE]"),
        ("[DOMAIN_EXPIRATION] > 1h", 1, "not supported"),
        ("[STATUS]", 9, "missing operator after [STATUS]"),
        ("[STATUS] 200", 10, "expected an operator"),
        ("[STATUS] = 200", 10, "'=' is not an operator: write =="),
        ("[STATUS] === 200", 12, "unexpected '='"),
        ("[STATUS] ==", 12, "missing value after =="),
        ("[STATUS] ==   ", 15, "missing value after =="),
        ("== 200", 1, "missing value before '=='"),
        ("[STATUS == 200", 1, "unbalanced brackets: '[' at column 1 is never closed"),
        ("[STATUS]) == 200", 9, "unbalanced parentheses: unexpected ')'"),
        ("[BODY]] == 1", 7, "unbalanced brackets: unexpected ']'"),
        ("len([BODY] == 3", 4, "unbalanced parentheses: '(' at column 4 is never closed"),
        ("len([BODY].a [BODY].b) == 3", 14, "len() takes one placeholder"),
        ("len(3) == 3", 5, "len() takes a placeholder"),
        ("[STATUS] == any(200, 201", 16, "'(' at column 16 is never closed"),
        ("[STATUS] == pat(2*", 16, "'(' at column 16 is never closed"),
        ("[STATUS] == any(200, , 201)", 22, "empty value in any()"),
        ("[STATUS] == any(200, OK)", 22, "[STATUS] is a number, not 'OK'"),
        ("[BODY] == pat()", 15, "pat() needs a pattern"),
        ("foo([BODY]) == 1", 1, "unknown function foo()"),
        ("[BODY] == lower(x)", 11, "unknown function lower()"),
        ("[BODY] > pat(x)", 10, "pat() works only with == and !="),
        ("[BODY] contains any(a, b)", 17, "any() works only with == and !="),
        ("pat(a) == any(b)", 1, "a condition needs a placeholder"),
        ("200 == 200", 1, "a condition needs a placeholder"),
        ("ok matches [BODY]", 1, "a condition needs a placeholder"),
        ("[BODY] matches (", 16, "bad regular expression: missing ), unterminated subpattern"),
        ("[BODY] matches a{2,1}", 18, "bad regular expression"),
        ("[BODY]. == 1", 8, "bad JSON path: expected a key after '.'"),
        ("[BODY].a..b == 1", 10, "bad JSON path: expected a key after '.'"),
        ("[BODY][x] == 1", 8, "bad JSON path: expected an index"),
        ("[BODY][0 == 1", 9, "bad JSON path: expected ']' to close '[' at column 7"),
        ("[BODY][0", 7, "'[' at column 7 is never closed"),
        ('[BODY]["a] == 1', 8, "unterminated string"),
        ("[IP].x == 1", 5, "only [BODY] takes a JSON path, not [IP]"),
        ("[HEADER:] == x", 9, "[HEADER] needs an argument"),
        ("[HEADER] == x", 9, "[HEADER] needs an argument"),
        ("[HEADER:a b] == x", 9, "invalid header name 'a b'"),
        ("[DISK] < 90", 7, "[DISK] needs an argument"),
        ("[STATUS:x] == 1", 8, "[STATUS] takes no argument"),
        ("[STATUS] == OK", 13, "[STATUS] is a number, not 'OK'"),
        ("[STATUS] < 5m", 12, "< needs a number, not '5m'"),
        ("[CONNECTED] == yes", 16, "[CONNECTED] is true or false, not 'yes'"),
        ("[CONNECTED] > 0", 1, "[CONNECTED] is true or false; > needs numbers"),
        ("has([BODY].a) >= 1", 1, "is true or false; >= needs numbers"),
        ("[RESPONSE_TIME] < fast", 19, "< needs a number or a duration like 48h, not 'fast'"),
        ("[RESPONSE_TIME] == soon", 20, "is a time in ms"),
        ("[BODY].count >= many", 17, "needs a number or a duration"),
        ('"[STATUS] == 200', 1, "unterminated string"),
    ],
)
def test_it_refuses_bad_conditions_with_a_column(text: str, column: int, message: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    error = caught.value
    assert message in error.message
    assert error.column == column, error
    assert str(error) == f"column {column}: {error.message}"
    assert isinstance(error, ValueError)


def test_it_formats_errors_as_in_the_brief() -> None:
    with pytest.raises(ConditionSyntaxError, match=r"^column 14: unknown placeholder \[STATS\]"):
        parse_condition("[BODY].id == [STATS]")


def test_it_pickles_syntax_errors() -> None:
    error = ConditionSyntaxError("unknown placeholder [X]", 3)
    copy = roundtrip(error)
    assert (copy.message, copy.column, str(copy)) == (error.message, 3, str(error))


# ---- extract values ---------------------------------------------------------------------


def test_it_parses_values_to_extract() -> None:
    assert parse_value("[BODY].build.sha").text == "[BODY].build.sha"
    assert parse_value("  [HEADER:X-Version] ").text == "[HEADER:X-Version]"
    assert parse_value("len([BODY].data)").text == "len([BODY].data)"


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("", 1, "expected a placeholder"),
        ("build", 1, "expected a placeholder"),
        ("pat(x)", 1, "expected a placeholder"),
        ("[BUILD]", 1, "unknown placeholder [BUILD]"),
        ("[BODY].build extra", 14, "unexpected 'extra'"),
        ("[BODY].", 8, "bad JSON path"),
        ("[BODY] == 1", 8, "unexpected '=='"),
    ],
)
def test_it_refuses_bad_values_with_a_column(text: str, column: int, message: str) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_value(text)
    assert message in caught.value.message
    assert caught.value.column == column


def test_it_extracts_json_ish_values() -> None:
    exprs = {
        name: parse_value(text)
        for name, text in {
            "sha": "[BODY].build.sha",
            "count": "[BODY].count",
            "ratio": "[BODY].ratio",
            "enabled": "[BODY].enabled",
            "nothing": "[BODY].nothing",
            "tags": "[BODY].tags",
            "absent": "[BODY].absent",
            "version": "[HEADER:X-Version]",
            "status": "[STATUS]",
            "connected": "[CONNECTED]",
            "elapsed": "[RESPONSE_TIME]",
            "items": "len([BODY].data)",
            "errors": "has([BODY].errors)",
        }.items()
    }
    assert extract_values(exprs, observe(), NOW) == {
        "sha": "abc",
        "count": 3,
        "ratio": 0.25,
        "enabled": True,
        "nothing": None,
        "tags": '["blue","green"]',
        "absent": None,
        "version": "1.2.3",
        "status": 200,
        "connected": True,
        "elapsed": 412.26,
        "items": 2,
        "errors": False,
    }


def test_it_shows_a_multiline_value_on_one_line() -> None:
    from upstate.domain.conditions.values import shown

    assert shown("a\nb\r\n\tc") == "a\\nb\\r\\n\\tc"


def test_it_takes_a_pings_response_time_from_its_round_trips() -> None:
    ping = observe(
        kind=MonitorKind.ICMP,
        duration_ms=400.0,
        icmp=IcmpStats(sent=3, received=3, packet_loss=0, rtt_min=1, rtt_avg=2.5, rtt_max=4),
    )
    (result,) = evaluate([parse_condition("[RESPONSE_TIME] < 100")], ping, NOW)
    assert result.ok
    assert str(result) == "[RESPONSE_TIME] (2.5) < 100"


def test_it_has_no_response_time_for_a_ping_without_replies() -> None:
    ping = observe(kind=MonitorKind.ICMP, icmp=IcmpStats(sent=3, received=0, packet_loss=100))
    (result,) = evaluate([parse_condition("[RESPONSE_TIME] < 100")], ping, NOW)
    assert not result.ok


# ---- the memo of conditions on one repeated value ------------------------------------------


def test_it_judges_a_status_condition_again_for_each_status_seen() -> None:
    condition = parse_condition("[STATUS] < 400")
    seen = [
        evaluate([condition], observe(status_code=code), NOW)[0]
        for code in (200, 503, 200, None, 503)
    ]
    assert [(r.ok, str(r)) for r in seen] == [
        (True, "[STATUS] (200) < 400"),
        (False, "[STATUS] (503) < 400"),
        (True, "[STATUS] (200) < 400"),
        (False, "[STATUS] (missing) < 400"),
        (False, "[STATUS] (503) < 400"),
    ]
    assert seen[2] is seen[0]  # remembered, not judged again
    assert set(condition.memo) == {200, 503, MISSING}


@pytest.mark.parametrize(
    ("text", "memoized"),
    [
        ("[STATUS] == 200", True),
        ("200 == [STATUS]", True),
        ("[CONNECTED] == true", True),
        ("[DNS_RCODE] == any(NOERROR, NXDOMAIN)", True),
        ("[IP] == pat(10.*)", True),
        ("[STATUS] == [STATUS]", False),
        ("len([STATUS]) == 3", False),
        ("[BODY] == ok", False),
        ("[RESPONSE_TIME] < 500", False),
        ("[CERTIFICATE_EXPIRATION] > 7d", False),
    ],
)
def test_it_memoizes_only_conditions_on_one_repeated_value(text: str, memoized: bool) -> None:
    condition = parse_condition(text)
    evaluate([condition], observe(), NOW)
    assert (condition.key is not None) == memoized
    assert bool(condition.memo) == memoized


def test_it_remembers_a_bounded_number_of_values() -> None:
    condition = parse_condition("[STATUS] == 200")
    for code in range(100, 100 + MEMO_SIZE + 10):
        (result,) = evaluate([condition], observe(status_code=code), NOW)
        assert result.ok == (code == 200)
    assert len(condition.memo) == MEMO_SIZE


def test_it_leaves_the_memo_out_of_equality_hashing_and_repr() -> None:
    condition = parse_condition("[STATUS] == 200")
    evaluate([condition], observe(), NOW)
    fresh = parse_condition("[STATUS] == 200")
    assert condition == fresh
    assert hash(condition) == hash(fresh)
    assert roundtrip(condition) == fresh
    assert "memo" not in repr(condition)
