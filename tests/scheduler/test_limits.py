from __future__ import annotations

import pytest

from upstate.scheduler.limits import Limits


def test_it_admits_up_to_the_per_host_limit_then_parks_in_order() -> None:
    limits: Limits[str] = Limits(total=10, per_host=2)
    assert limits.admit("a.example", "a1")
    assert limits.admit("a.example", "a2")
    assert not limits.admit("a.example", "a3")
    assert not limits.admit("a.example", "a4")
    assert limits.admit("b.example", "b1")  # another host is not held up
    assert (limits.active, limits.parked, limits.running_on("a.example")) == (3, 2, 2)
    assert limits.release("a.example") == "a3"  # the oldest parked, handed back
    assert limits.release("b.example") is None
    assert limits.active == 1


def test_it_reports_full_at_the_global_limit() -> None:
    limits: Limits[int] = Limits(total=2, per_host=5)
    assert limits.admit("a", 1)
    assert not limits.full
    assert limits.admit(None, 2)  # nothing to connect to: only the global limit counts
    assert limits.full
    assert limits.release(None) is None
    assert not limits.full


def test_it_forgets_hosts_with_nothing_running() -> None:
    limits: Limits[int] = Limits(total=5, per_host=1)
    assert limits.admit("a", 1)
    assert limits.release("a") is None
    assert limits.running_on("a") == 0
    assert limits.admit("a", 2)


def test_it_refuses_limits_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Limits(total=0, per_host=1)
