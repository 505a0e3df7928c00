"""The event journal: every broadcast event, per agent, by ``seq``, kept for resume (§6).

The hub appends each broadcast event, then calls :meth:`Journal.commit`, and only then sends it:
an event an app has seen is always in the journal.  Beside the events the journal keeps, per
agent, the last ``seq`` (so ``seq`` never repeats, even when retention has dropped every event)
and the last agent snapshot the engine adopted (so a restarted hub can tell apps what changed
while it was down).

* :class:`MemoryJournal` keeps the newest ``capacity`` events of each agent in memory: resume
  works while the hub runs.
* :class:`SqliteJournal` keeps them in a SQLite file (WAL), so resume also works across a
  restart or a crash of the hub.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..settings import JournalSettings
from .sqlite import JournalBusy, SqliteJournal


class Journal(Protocol):
    def append(self, login: str, seq: int, data: bytes) -> None:
        """Record one encoded event; called before the event is sent to any app."""

    def save_state(self, login: str, data: bytes) -> None:
        """Record the agent's latest snapshot (encoded); durable with the next commit."""

    def commit(self) -> None:
        """Make everything appended so far durable; called before those events are sent."""

    def since(self, login: str, seq: int, limit: int | None = None) -> list[bytes] | None:
        """Every event after ``seq`` in order (the first ``limit`` of them), or None when some
        of them are no longer held, or when ``seq`` is beyond the newest event (the app saw
        events this journal lost)."""

    def last_seq(self, login: str) -> int: ...

    def state(self, login: str) -> bytes | None:
        """The snapshot last saved for ``login`` (None if none)."""

    def health(self) -> dict[str, object]:
        """For ``/healthz``: at least ``{"ok": bool, "kind": str}``."""

    def close(self) -> None: ...


@runtime_checkable
class ReadsOffLoop(Protocol):
    """A journal whose ``since`` may run on another thread (the hub reads resume pages there)."""

    reads_off_loop: bool


@runtime_checkable
class GroupCommits(Protocol):
    """A journal whose commit costs more than its appends (a transaction, a round trip): the
    hub appends the events of every engine step of one loop tick and commits them once, then
    sends them (``hub/journaling.py``).  Journals without it are committed per engine step."""

    group_commit: bool


@runtime_checkable
class CommitsAsync(Protocol):
    """A group-committing journal whose commit is a network round trip (the cluster's Redis):
    the hub awaits :meth:`commit_async` instead of blocking its loop in :meth:`Journal.commit`,
    holds the steps produced meanwhile, and sends a group's events once it is durable.  One
    commit at a time; what is appended meanwhile goes with the next."""

    async def commit_async(self) -> None: ...

    def wants_commit(self) -> bool:
        """Something besides the appended events waits for the next commit (a requestId)."""


class PartialCommit(Exception):
    """A commit that made every agent's events durable except those of ``logins``: a journal
    whose agents are written independently (the cluster's: one fenced append per agent) fails
    only the agents it could not write, and the hub withholds only their events.  ``lost``:
    the journal refused them because another node owns them now (nothing wrong with it)."""

    def __init__(self, logins: set[str], message: str, *, lost: bool) -> None:
        super().__init__(message)
        self.logins = logins
        self.lost = lost


class MemoryJournal:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        # login -> {seq: event}, oldest first; an agent's seqs are consecutive (§6).  A dict of
        # ints and bytes is not tracked by the garbage collector: a full journal adds nothing to
        # a collection's pause (a deque of (seq, data) tuples, walked at every full collection,
        # added 20-30 ms pauses to a saturated hub - see docs/performance.md).
        self._events: dict[str, dict[int, bytes]] = {}
        self._first: dict[str, int] = {}  # login -> seq of the oldest event held
        self._states: dict[str, bytes] = {}

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

    def save_state(self, login: str, data: bytes) -> None:
        self._states[login] = data

    def commit(self) -> None:
        pass

    def since(self, login: str, seq: int, limit: int | None = None) -> list[bytes] | None:
        events = self._events.get(login)
        last = self._first[login] + len(events) - 1 if events else 0
        if seq == last:
            return []  # nothing newer
        if seq > last:
            return None  # a seq this journal never held: it was lost (e.g. the hub restarted)
        first = self._first[login] if events else last + 1
        if seq < first - 1 or not events:
            return None
        end = last if limit is None else min(last, seq + limit)
        return [events[s] for s in range(seq + 1, end + 1)]

    def last_seq(self, login: str) -> int:
        events = self._events.get(login)
        return self._first[login] + len(events) - 1 if events else 0

    def state(self, login: str) -> bytes | None:
        return self._states.get(login)

    def health(self) -> dict[str, object]:
        return {"ok": True, "kind": "memory", "durable": False}

    def close(self) -> None:
        self._events.clear()
        self._first.clear()


def open_journal(settings: JournalSettings) -> Journal:
    """The journal ``settings`` describe: SQLite at ``path``, else in memory."""
    if settings.path:
        return SqliteJournal(
            settings.path,
            max_events=settings.max_events,
            max_age_ms=round(settings.max_age_s * 1000),
            synchronous=settings.synchronous,
        )
    return MemoryJournal(settings.max_events)


__all__ = [
    "CommitsAsync",
    "GroupCommits",
    "Journal",
    "JournalBusy",
    "MemoryJournal",
    "PartialCommit",
    "SqliteJournal",
    "open_journal",
]
