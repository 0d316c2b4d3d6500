from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstate.config.interpolate import InterpolationError, escape, interpolate

ENV = {"HOST": "db.internal", "EMPTY": "", "PRICE": "$5"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${HOST}", "db.internal"),
        ("tcp://${HOST}:5432", "tcp://db.internal:5432"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${HOST:-fallback}", "db.internal"),
        ("${MISSING:-}", ""),
        ("$$HOME", "$HOME"),
        ("$$${HOST}", "$db.internal"),
        ("costs $5", "costs $5"),
        ("^ok$", "^ok$"),
        ("$.items[0]", "$.items[0]"),
        ("${PRICE}", "$5"),
        ("no dollars", "no dollars"),
    ],
)
def test_it_interpolates(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    ("text", "offset", "words"),
    [
        ("x ${NOPE} y", 2, "NOPE is not set"),
        ("${HOST", 0, "unterminated"),
        ("a${1BAD}", 1, "invalid variable reference"),
        ("pass $SECRET", 5, "bare $SECRET"),
        ("${}", 0, "invalid variable reference"),
    ],
)
def test_it_refuses_what_it_cannot_resolve(text: str, offset: int, words: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        interpolate(text, ENV)
    assert caught.value.offset == offset
    assert words in caught.value.message


def test_it_never_interpolates_a_variables_value_again() -> None:
    assert interpolate("${V}", {"V": "${HOST}"}) == "${HOST}"


@given(st.text())
def test_it_round_trips_escaped_text(text: str) -> None:
    assert interpolate(escape(text), {}) == text


@given(st.text(), st.text())
def test_it_substitutes_any_value(prefix: str, value: str) -> None:
    assert interpolate(f"{escape(prefix)}${{V}}", {"V": value}) == prefix + value
