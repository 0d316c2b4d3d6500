"""Composite monitors: worst of, or at least N of, their children."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from upstate.domain.composite import composite_status
from upstate.domain.enums import Status

UP, DEGRADED, DOWN = Status.UP, Status.DEGRADED, Status.DOWN
MAINTENANCE, UNKNOWN, PAUSED = Status.MAINTENANCE, Status.UNKNOWN, Status.PAUSED


def children(text: str) -> dict[str, Status]:
    """'api=up db=down' -> {'api': UP, 'db': DOWN}, in order."""
    return {key: Status(value) for key, value in (pair.split("=") for pair in text.split())}


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("api=up db=up", UP, "all 2 up"),
        ("api=up db=down", DOWN, "db down"),
        ("api=down db=down cache=degraded", DOWN, "api, db down; cache degraded"),
        ("api=up cache=degraded", DEGRADED, "cache degraded"),
        # Planned work explains slowness elsewhere, but not an outage.
        ("api=up db=maintenance cache=degraded", MAINTENANCE, "db in maintenance; cache degraded"),
        ("api=down db=maintenance", DOWN, "api down; db in maintenance"),
        # Children without a verdict are left out, unless nothing else is left.
        ("api=up queue=paused new=unknown", UP, "1 up; new unknown; queue paused"),
        ("api=degraded queue=paused", DEGRADED, "api degraded; queue paused"),
        ("queue=paused new=unknown", UNKNOWN, "new unknown; queue paused"),
        ("", UNKNOWN, "no monitors"),
    ],
)
def test_it_takes_the_worst_of_its_children(text: str, status: Status, reason: str) -> None:
    assert composite_status(children(text)) == (status, reason)


@pytest.mark.parametrize(
    ("text", "at_least", "status", "reason"),
    [
        ("a=up b=up c=up", 2, UP, "3 of 3 up, need 2"),
        # Replicas are there to tolerate a loss: the child is named, the composite is up.
        ("a=up b=up c=down", 2, UP, "c down; 2 of 3 up, need 2"),
        (
            "a=up b=degraded c=down",
            2,
            DEGRADED,
            "c down; b degraded; 1 of 3 up, 1 degraded, need 2",
        ),
        ("db=down api=up", 2, DOWN, "db down; 1 of 2 up, need 2"),
        ("a=up b=down c=down", 2, DOWN, "b, c down; 1 of 3 up, need 2"),
        # Short of N because of planned work: maintenance, not an outage.
        (
            "a=up b=maintenance c=down",
            2,
            MAINTENANCE,
            "c down; b in maintenance; 1 of 3 up, need 2",
        ),
        (
            "a=maintenance b=maintenance c=down",
            2,
            MAINTENANCE,
            "c down; a, b in maintenance; 0 of 3 up, need 2",
        ),
        # Short of N while some children have no verdict: they might be up, so unknown.
        ("a=up b=unknown c=down", 2, UNKNOWN, "c down; b unknown; 1 of 3 up, need 2"),
        ("a=up b=paused c=down", 2, UNKNOWN, "c down; b paused; 1 of 3 up, need 2"),
        ("a=unknown b=unknown", 1, UNKNOWN, "a, b unknown; 0 of 2 up, need 1"),
        # ...but not when even they could not make up the difference.
        ("a=down b=down c=unknown", 2, DOWN, "a, b down; c unknown; 0 of 3 up, need 2"),
        # Up children beyond N do not need the others.
        ("a=up b=up c=unknown", 2, UP, "c unknown; 2 of 3 up, need 2"),
        ("a=up", 1, UP, "1 of 1 up, need 1"),
    ],
)
def test_it_needs_at_least_n_children_up(
    text: str, at_least: int, status: Status, reason: str
) -> None:
    assert composite_status(children(text), at_least) == (status, reason)


def test_it_refuses_a_requirement_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        composite_status(children("a=up"), 0)


statuses = st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.sampled_from(Status))


@given(statuses, st.integers(1, 6))
def test_it_is_never_better_with_more_down_children(kids: dict[str, Status], at_least: int) -> None:
    """Turning an up child down never improves the composite, in either mode."""
    rank = {UP: 0, DEGRADED: 1, MAINTENANCE: 2, DOWN: 3}
    for key, status in kids.items():
        if status is UP:
            worse = {**kids, key: DOWN}
            for n in (None, at_least):
                before, _ = composite_status(kids, n)
                after, _ = composite_status(worse, n)
                if before is not UNKNOWN and after is not UNKNOWN:
                    assert rank[after] >= rank[before]


@given(statuses, st.integers(1, 6))
def test_it_is_up_with_n_children_up_whatever_the_others_say(
    kids: dict[str, Status], at_least: int
) -> None:
    ups = sum(status is UP for status in kids.values())

    status, reason = composite_status(kids, at_least)

    assert (status is UP) == (ups >= at_least)
    assert reason.endswith(f"need {at_least}")
