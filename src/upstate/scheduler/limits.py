"""How many probes may run at once: in all, and against one target host.

A global cap keeps the event loop under its saturation point (measured phase times
inflate on a busy loop, PERFORMANCE.md); a per-host cap keeps Upstate from hammering one
server that many monitors point at. Work that finds its host full is parked in that
host's own FIFO, so one slow host never holds up probes to the others; the next probe
to the same host to finish hands its slot to the oldest parked one.

Pure bookkeeping, no asyncio: the dispatcher asks, starts, and reports back.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Limits(Generic[T]):
    __slots__ = ("_by_host", "_parked", "active", "per_host", "total")

    def __init__(self, total: int, per_host: int) -> None:
        if total < 1 or per_host < 1:
            raise ValueError("concurrency limits must be at least 1")
        self.total = total
        self.per_host = per_host
        self.active = 0
        self._by_host: dict[str, int] = {}
        self._parked: dict[str, deque[T]] = {}

    @property
    def full(self) -> bool:
        return self.active >= self.total

    @property
    def parked(self) -> int:
        return sum(len(queue) for queue in self._parked.values())

    def running_on(self, host: str) -> int:
        return self._by_host.get(host, 0)

    def admit(self, host: str | None, item: T) -> bool:
        """Take a slot for `item` (True), or park it behind its busy host (False).

        Call only when not `full`. A host of None (nothing to connect to) counts globally.
        """
        if host is not None:
            running = self._by_host.get(host, 0)
            if running >= self.per_host:
                queue = self._parked.get(host)
                if queue is None:
                    queue = self._parked[host] = deque()
                queue.append(item)
                return False
            self._by_host[host] = running + 1
        self.active += 1
        return True

    def release(self, host: str | None) -> T | None:
        """Give back a slot; returns the oldest item parked behind `host`, if any.

        The returned item is not admitted: the caller queues it again (first in line).
        """
        self.active -= 1
        if host is None:
            return None
        running = self._by_host[host] - 1
        if running:
            self._by_host[host] = running
        else:
            del self._by_host[host]
        queue = self._parked.get(host)
        if not queue:
            return None
        item = queue.popleft()
        if not queue:
            del self._parked[host]
        return item
