"""Clocks for the adapters (the engine itself takes time as an input and never reads one).

``RealClock`` follows the wall clock and schedules on the running asyncio loop; ``ManualClock``
only moves when a test calls :meth:`ManualClock.advance`, firing due timers in order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer: ...


class RealClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(seconds, callback)


class _ManualTimer:
    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that stands still until advanced; starts at ``start_ms`` (2020-04-09T12:00:00Z)."""

    def __init__(self, start_ms: int = 1_586_433_600_000) -> None:
        self._now = start_ms
        self._heap: list[tuple[int, int, _ManualTimer, Callable[[], None]]] = []
        self._ids = itertools.count()

    def now_ms(self) -> int:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer()
        due = self._now + round(seconds * 1000)
        heapq.heappush(self._heap, (due, next(self._ids), timer, callback))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in due order."""
        target = self._now + round(seconds * 1000)
        while self._heap and self._heap[0][0] <= target:
            due, _, timer, callback = heapq.heappop(self._heap)
            self._now = max(self._now, due)
            if not timer.cancelled:
                callback()
        self._now = target

    @property
    def pending(self) -> int:
        return sum(1 for _, _, t, _ in self._heap if not t.cancelled)
