"""The event journal: every broadcast event, per agent, by ``seq``, kept for resume (§6).

``MemoryJournal`` keeps the newest ``capacity`` events of each agent in memory: resume works
while the hub runs; a durable SQLite journal that survives restarts implements the same
interface.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol


class Journal(Protocol):
    def append(self, login: str, seq: int, data: bytes) -> None:
        """Record one encoded event; called before the event is sent to any app."""

    def since(self, login: str, seq: int) -> list[bytes] | None:
        """Every event after ``seq`` in order, or None when some of them are no longer held,
        or when ``seq`` is beyond the newest event (the app saw events this journal lost)."""

    def last_seq(self, login: str) -> int: ...

    def close(self) -> None: ...


class MemoryJournal:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._events: dict[str, deque[tuple[int, bytes]]] = {}

    def append(self, login: str, seq: int, data: bytes) -> None:
        events = self._events.get(login)
        if events is None:
            events = self._events[login] = deque(maxlen=self.capacity)
        events.append((seq, data))

    def since(self, login: str, seq: int) -> list[bytes] | None:
        events = self._events.get(login, deque())
        last = events[-1][0] if events else 0
        if seq == last:
            return []  # nothing newer
        if seq > last:
            return None  # a seq this journal never held: it was lost (e.g. the hub restarted)
        first = events[0][0] if events else last + 1
        if seq < first - 1:
            return None
        return [data for s, data in events if s > seq]

    def last_seq(self, login: str) -> int:
        events = self._events.get(login)
        return events[-1][0] if events else 0

    def close(self) -> None:
        self._events.clear()


__all__ = ["Journal", "MemoryJournal"]
