"""When each monitor runs next: one heap of due times, on a fixed wall-clock grid.

A monitor's runs fall at `phase(key, interval) + n * interval` seconds since the Unix
epoch. The phase is a stable hash of the key (blake2b, not Python's per-process salted
hash()), so 10,000 monitors with the same interval spread evenly over it instead of
firing together, and a restarted process resumes every monitor at the same phase.

Phases fall on a grid of `SLOT_S` (250 ms) whenever the interval is a whole number of
slots (any interval of whole seconds is): the monitors sharing
a slot start together, in one wake-up of the dispatcher, and their probes' events come
back close together. On this kind of machine a bare connect-write-read-close costs
~210 to 230 µs of CPU when 167 a second each arrive alone (20 ms apart), ~90 µs in 250 ms
batches (bench/floor.py --rate): waking the process is what costs. 10,000 monitors a
minute still spread over 240 slots, ~42 a slot, and the grid adds no lateness: the due
time is the slot's. An interval that is not a whole number of slots keeps an unrounded
phase.

Pure: times are floats (seconds since the epoch) passed in, nothing sleeps. A key has
at most one live heap item; replacing or removing a key leaves its old item in the heap,
marked stale by a sequence number, and it is skipped when it comes up (cheaper than
deleting from the middle of a heap).
"""

from __future__ import annotations

import hashlib
import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

_SCALE = float(2**64)
SLOT_S = 0.25  # a power of two: n * interval + phase stays exact in floating point


def phase(key: str, interval: float, slot: float = SLOT_S) -> float:
    """Where in its interval a key's runs fall: in [0, interval), the same in every process;
    on the `slot` grid when the interval is a whole number of slots."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / _SCALE
    slots = round(interval / slot) if slot > 0 else 0
    if slots >= 1 and slots * slot == interval:
        return math.floor(fraction * slots) * slot
    return fraction * interval


def grid_after(offset: float, interval: float, t: float) -> float:
    """The first grid time (offset + n * interval) strictly after t."""
    n = math.floor((t - offset) / interval) + 1
    due = offset + n * interval
    while due <= t:  # floating-point rounding can land on t itself
        due += interval
    return due


class Due(NamedTuple):
    """A run that came due (a tuple: cheaper to make than a dataclass, once per run)."""

    key: str
    at: float  # when it was due
    on_grid: bool  # False for a run asked for at once (new, edited, resumed)


@dataclass(slots=True)
class _Entry:
    interval: float
    offset: float
    seq: int  # the live heap item's sequence number


class Timetable:
    """Every scheduled key and its next due time."""

    __slots__ = ("_entries", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, bool]] = []
        self._entries: dict[str, _Entry] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def set(self, key: str, interval: float, now: float, *, at_once: bool = False) -> None:
        """Schedule `key` (anew, or replacing its schedule): on its grid, or at `now`."""
        if not interval > 0:
            raise ValueError(f"interval must be positive, not {interval}")
        offset = phase(key, interval)
        due = now if at_once else grid_after(offset, interval, now - 1e-6)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry(interval, offset, 0)
        else:
            entry.interval, entry.offset = interval, offset
        self._push(entry, key, due, on_grid=not at_once)

    def run_now(self, key: str, now: float) -> bool:
        """Run `key` at `now`, then on its grid again; False for an unknown key."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._push(entry, key, now, on_grid=False)
        return True

    def remove(self, key: str) -> None:
        self._entries.pop(key, None)

    def next_due(self) -> float | None:
        """The earliest due time, or None when nothing is scheduled."""
        heap, entries = self._heap, self._entries
        while heap:
            due, seq, key, _ = heap[0]
            entry = entries.get(key)
            if entry is not None and entry.seq == seq:
                return due
            heapq.heappop(heap)
        return None

    def pop_due(self, now: float) -> list[Due]:
        """Every key due at or before `now`; each is rescheduled at its next grid time.

        A key that fell behind (the process stalled or slept) skips the runs it missed
        rather than catching up in a burst.
        """
        heap, entries = self._heap, self._entries
        out: list[Due] = []
        pop, push = heapq.heappop, heapq.heappush
        while heap and heap[0][0] <= now:
            due, seq, key, on_grid = pop(heap)
            entry = entries.get(key)
            if entry is None or entry.seq != seq:
                continue
            out.append(Due(key, due, on_grid))
            # On time, the next grid time is one interval on; a late or off-grid run
            # looks for the first grid time after now.
            following = due + entry.interval if on_grid else now
            if following <= now:
                following = grid_after(entry.offset, entry.interval, now)
            self._seq += 1
            entry.seq = self._seq
            push(heap, (following, self._seq, key, True))
        return out

    def _push(self, entry: _Entry, key: str, due: float, *, on_grid: bool) -> None:
        self._seq += 1
        entry.seq = self._seq
        heapq.heappush(self._heap, (due, self._seq, key, on_grid))
