from __future__ import annotations

from collections import Counter

import pytest

from upstate.scheduler.heap import SLOT_S, Timetable, grid_after, phase

EPOCH_NOW = 1_773_500_000.0  # a fixed wall-clock time, seconds since the epoch


def test_it_spreads_ten_thousand_monitors_over_their_interval() -> None:
    table = Timetable()
    for n in range(10_000):
        table.set(f"monitor-{n}", 60.0, EPOCH_NOW)
    due = table.pop_due(EPOCH_NOW + 60.0)
    assert len(due) == 10_000
    per_second = Counter(int(item.at - EPOCH_NOW) for item in due)
    mean = 10_000 / 60
    assert len(per_second) == 60
    assert max(per_second.values()) < 1.5 * mean
    assert min(per_second.values()) > 0.5 * mean


def test_it_gives_a_key_the_same_phase_in_every_process() -> None:
    assert phase("api", 60.0) == phase("api", 60.0)
    assert phase("api", 60.0) != phase("web", 60.0)
    assert 0 <= phase("api", 30.0) < 30.0
    # blake2b, not Python's salted hash(): a known value, whatever PYTHONHASHSEED says.
    assert phase("api", 1.0, slot=0) == pytest.approx(0.25456, abs=1e-5)
    assert phase("api", 1.0) == 0.25  # the same, down to its slot


def test_it_puts_phases_on_the_slot_grid_when_the_interval_allows() -> None:
    phases = [phase(f"monitor-{n}", 60.0) for n in range(10_000)]
    assert all(p / SLOT_S == int(p / SLOT_S) for p in phases)
    slots = Counter(phases)
    assert len(slots) == 240  # every slot of the minute is used...
    assert max(slots.values()) < 2 * 10_000 / 240  # ...about evenly
    # Due times stay on the grid, exactly (a power-of-two slot keeps the sums exact).
    table = Timetable()
    for n in range(1_000):
        table.set(f"monitor-{n}", 30.0, EPOCH_NOW + 0.1)
    for item in table.pop_due(EPOCH_NOW + 100.0):
        assert item.at / SLOT_S == int(item.at / SLOT_S)
    # An interval that is no whole number of slots keeps its unrounded phase.
    odd = [phase(f"monitor-{n}", 1.1) for n in range(100)]
    assert any(p / SLOT_S != int(p / SLOT_S) for p in odd)
    assert all(0 <= p < 1.1 for p in odd)


def test_it_resumes_the_same_grid_after_a_restart() -> None:
    before, after = Timetable(), Timetable()
    before.set("api", 30.0, EPOCH_NOW)
    after.set("api", 30.0, EPOCH_NOW + 1234.5)  # the process restarted 20 minutes later
    first = before.pop_due(EPOCH_NOW + 10_000)[0].at
    resumed = after.pop_due(EPOCH_NOW + 10_000)[0].at
    assert (resumed - first) % 30.0 == pytest.approx(0.0, abs=1e-6)
    assert EPOCH_NOW + 1234.5 <= resumed < EPOCH_NOW + 1234.5 + 30.0


def test_it_reschedules_each_run_one_interval_later() -> None:
    table = Timetable()
    table.set("api", 10.0, EPOCH_NOW)
    first = table.next_due()
    assert first is not None
    assert [d.key for d in table.pop_due(first - 0.001)] == []
    [run] = table.pop_due(first + 0.0004)
    assert run.key == "api"
    assert run.at == first
    assert run.on_grid
    assert table.next_due() == pytest.approx(first + 10.0)


def test_it_skips_runs_missed_while_stalled_instead_of_bursting() -> None:
    table = Timetable()
    table.set("api", 10.0, EPOCH_NOW)
    first = table.next_due()
    assert first is not None
    late = first + 35.0  # the loop was blocked for three and a half intervals
    runs = table.pop_due(late)
    assert len(runs) == 1
    following = table.next_due()
    assert following == pytest.approx(grid_after(phase("api", 10.0), 10.0, late))
    assert late < following <= late + 10.0


def test_it_runs_a_key_at_once_then_returns_to_its_grid() -> None:
    table = Timetable()
    table.set("api", 60.0, EPOCH_NOW)
    on_grid = table.next_due()
    assert table.run_now("api", EPOCH_NOW + 1.0)
    assert not table.run_now("missing", EPOCH_NOW)
    [run] = table.pop_due(EPOCH_NOW + 1.0)
    assert (run.at, run.on_grid) == (EPOCH_NOW + 1.0, False)
    following = table.next_due()
    assert following is not None
    assert on_grid is not None
    assert (following - on_grid) % 60.0 == pytest.approx(0.0, abs=1e-6)


def test_it_forgets_removed_and_replaced_schedules() -> None:
    table = Timetable()
    table.set("gone", 5.0, EPOCH_NOW)
    table.set("edited", 5.0, EPOCH_NOW)
    table.remove("gone")
    table.set("edited", 50.0, EPOCH_NOW, at_once=True)
    runs = table.pop_due(EPOCH_NOW + 20.0)
    assert [(r.key, r.on_grid) for r in runs] == [("edited", False)]
    assert "gone" not in table
    assert len(table) == 1


def test_it_refuses_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        Timetable().set("api", 0.0, EPOCH_NOW)
