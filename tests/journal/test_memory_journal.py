"""MemoryJournal.since: what a resuming app gets (PROTOCOL.md §6)."""

from __future__ import annotations

from ctibridge.journal import MemoryJournal


def journal_with(seqs: range, capacity: int = 10) -> MemoryJournal:
    journal = MemoryJournal(capacity)
    for seq in seqs:
        journal.append("a", seq, f"e{seq}".encode())
    return journal


def test_replays_every_event_after_the_seq_in_order():
    journal = journal_with(range(1, 6))
    assert journal.since("a", 2) == [b"e3", b"e4", b"e5"]
    assert journal.since("a", 0) == [b"e1", b"e2", b"e3", b"e4", b"e5"]
    assert journal.since("a", 5) == []


def test_a_seq_older_than_the_journal_holds_is_a_gap():
    journal = journal_with(range(1, 16), capacity=10)  # holds 6..15
    assert journal.since("a", 5) == [f"e{s}".encode() for s in range(6, 16)]
    assert journal.since("a", 4) is None


def test_a_seq_beyond_the_newest_is_a_gap():
    # a hub restarted with an empty journal: the app saw events this journal never held
    assert journal_with(range(1, 4)).since("a", 9) is None
    assert MemoryJournal().since("a", 9) is None


def test_an_agent_without_events():
    journal = MemoryJournal()
    assert journal.since("a", 0) == []
    assert journal.since("a", -1) is None
