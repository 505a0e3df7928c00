"""MemoryJournal: the newest ``capacity`` events per agent by seq, for resume (§6)."""

from __future__ import annotations

import gc

from ctibridge.journal import MemoryJournal


def filled(n: int, capacity: int = 5, login: str = "a") -> MemoryJournal:
    journal = MemoryJournal(capacity)
    for seq in range(1, n + 1):
        journal.append(login, seq, f"e{seq}".encode())
    return journal


def test_since_replays_every_later_event_in_order() -> None:
    journal = filled(4)
    assert journal.since("a", 0) == [b"e1", b"e2", b"e3", b"e4"]
    assert journal.since("a", 2) == [b"e3", b"e4"]
    assert journal.since("a", 4) == [] and journal.since("a", 9) == []
    assert journal.last_seq("a") == 4
    assert journal.since("b", 0) == [] and journal.last_seq("b") == 0


def test_only_the_newest_capacity_events_are_kept() -> None:
    journal = filled(12, capacity=5)  # holds 8..12
    assert journal.since("a", 7) == [b"e8", b"e9", b"e10", b"e11", b"e12"]
    assert journal.since("a", 6) is None  # e7 is gone: a gap, not a partial replay
    assert journal.last_seq("a") == 12


def test_agents_are_apart() -> None:
    journal = filled(3)
    journal.append("b", 1, b"b1")
    assert journal.since("a", 0) == [b"e1", b"e2", b"e3"] and journal.since("b", 0) == [b"b1"]


def test_a_seq_that_does_not_follow_starts_the_log_again() -> None:
    journal = filled(3)
    journal.append("a", 7, b"e7")
    assert journal.since("a", 6) == [b"e7"]
    assert journal.since("a", 3) is None  # 4..6 were never held
    assert journal.last_seq("a") == 7


def test_a_full_journal_is_nothing_the_garbage_collector_walks() -> None:
    journal = filled(1000, capacity=500)
    gc.collect()
    assert not gc.is_tracked(journal._events["a"])  # the per-agent log: never walked
