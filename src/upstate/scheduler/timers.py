"""Keyed deadlines in one heap: which monitors need a look from the housekeeping timer.

The once-a-second housekeeping must not walk 10,000 monitors (a few microseconds each
would cost more CPU than the checks themselves). Instead each monitor that may need
attention (its regions going stale, a push monitor's deadline) has one deadline here,
and a tick pops only those that are due. Setting a key again replaces its deadline;
the old heap item stays behind and is skipped when it surfaces.
"""

from __future__ import annotations

import heapq


class Deadlines:
    __slots__ = ("_at", "_heap")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._at: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._at)

    def __contains__(self, key: str) -> bool:
        return key in self._at

    def when(self, key: str) -> float | None:
        return self._at.get(key)

    def set(self, key: str, at: float) -> None:
        if self._at.get(key) == at:
            return
        self._at[key] = at
        heapq.heappush(self._heap, (at, key))

    def discard(self, key: str) -> None:
        self._at.pop(key, None)

    def pop_due(self, now: float) -> list[str]:
        """Keys whose deadline is at or before `now`, earliest first; they leave the heap."""
        heap, at = self._heap, self._at
        out: list[str] = []
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if at.get(key) == when:
                del at[key]
                out.append(key)
        if len(heap) > 4 * len(at) + 1024:  # mostly stale items: rebuild
            self._heap = [(when, key) for key, when in at.items()]
            heapq.heapify(self._heap)
        return out
