"""MemoryJournal: the newest ``capacity`` events per agent by seq; ``since`` is what a resuming
app gets (docs/protocol.md §6)."""

from __future__ import annotations

import gc

from ctibridge.journal import MemoryJournal


def journal_with(seqs: range, capacity: int = 10, login: str = "a") -> MemoryJournal:
    journal = MemoryJournal(capacity)
    for seq in seqs:
        journal.append(login, seq, f"e{seq}".encode())
    return journal


def test_replays_every_event_after_the_seq_in_order():
    journal = journal_with(range(1, 6))
    assert journal.since("a", 2) == [b"e3", b"e4", b"e5"]
    assert journal.since("a", 0) == [b"e1", b"e2", b"e3", b"e4", b"e5"]
    assert journal.since("a", 5) == []
    assert journal.last_seq("a") == 5


def test_a_seq_older_than_the_journal_holds_is_a_gap():
    journal = journal_with(range(1, 16), capacity=10)  # holds 6..15
    assert journal.since("a", 5) == [f"e{s}".encode() for s in range(6, 16)]
    assert journal.since("a", 4) is None  # e5 is gone: a gap, not a partial replay
    assert journal.last_seq("a") == 15


def test_a_seq_beyond_the_newest_is_a_gap():
    # a hub restarted with an empty journal: the app saw events this journal never held
    assert journal_with(range(1, 4)).since("a", 9) is None
    assert MemoryJournal().since("a", 9) is None


def test_an_agent_without_events():
    journal = MemoryJournal()
    assert journal.since("a", 0) == []
    assert journal.since("a", -1) is None
    assert journal.last_seq("a") == 0


def test_agents_are_apart():
    journal = journal_with(range(1, 4))
    journal.append("b", 1, b"b1")
    assert journal.since("a", 0) == [b"e1", b"e2", b"e3"] and journal.since("b", 0) == [b"b1"]


def test_a_seq_that_does_not_follow_starts_the_log_again():
    journal = journal_with(range(1, 4))
    journal.append("a", 7, b"e7")
    assert journal.since("a", 6) == [b"e7"]
    assert journal.since("a", 3) is None  # 4..6 were never held
    assert journal.last_seq("a") == 7


def test_a_full_journal_is_nothing_the_garbage_collector_walks():
    journal = journal_with(range(1, 1001), capacity=500)
    gc.collect()
    assert not gc.is_tracked(journal._events["a"])  # the per-agent log: never walked
