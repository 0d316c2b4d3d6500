import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstate.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("2h", 7200), ("14d", 1209600), ("1h30m", 5400)],
)
def test_it_parses_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "s", "5 parsecs", "-1s", "1.s"])
def test_it_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@given(st.integers(min_value=1, max_value=10**7))
def test_it_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
