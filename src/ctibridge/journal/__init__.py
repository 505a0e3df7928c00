"""The event journal: every broadcast event, per agent, by ``seq``, kept for resume (§6).

``MemoryJournal`` keeps the newest ``capacity`` events of each agent in memory: resume works
while the hub runs; a durable SQLite journal that survives restarts implements the same
interface.
"""

from __future__ import annotations

from typing import Protocol


class Journal(Protocol):
    def append(self, login: str, seq: int, data: bytes) -> None:
        """Record one encoded event; called before the event is sent to any app."""

    def since(self, login: str, seq: int) -> list[bytes] | None:
        """Every event after ``seq`` in order, or None when some of them are no longer held."""

    def last_seq(self, login: str) -> int: ...

    def close(self) -> None: ...


class MemoryJournal:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        # login -> {seq: event}, oldest first; an agent's seqs are consecutive (§6).  A dict of
        # ints and bytes is not tracked by the garbage collector: a full journal adds nothing to
        # a collection's pause (a deque of (seq, data) tuples, walked at every full collection,
        # added 20-30 ms pauses to a saturated hub - see docs/performance.md).
        self._events: dict[str, dict[int, bytes]] = {}
        self._first: dict[str, int] = {}  # login -> seq of the oldest event held

    def append(self, login: str, seq: int, data: bytes) -> None:
        events = self._events.get(login)
        if events is None or seq != self._first[login] + len(events):
            events = self._events[login] = {}  # the first event, or not the next seq: start here
            self._first[login] = seq
        events[seq] = data
        if len(events) > self.capacity:
            first = self._first[login]
            del events[first]
            self._first[login] = first + 1

    def since(self, login: str, seq: int) -> list[bytes] | None:
        events = self._events.get(login)
        if not events:
            return []
        first = self._first[login]
        last = first + len(events) - 1
        if seq >= last:
            return []  # nothing newer (or a seq from the future: nothing to replay)
        if seq < first - 1:
            return None
        return [events[s] for s in range(seq + 1, last + 1)]

    def last_seq(self, login: str) -> int:
        events = self._events.get(login)
        return self._first[login] + len(events) - 1 if events else 0

    def close(self) -> None:
        self._events.clear()
        self._first.clear()


__all__ = ["Journal", "MemoryJournal"]
