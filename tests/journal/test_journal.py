"""The journal contract (both journals) and what only the SQLite journal promises: it survives a
restart, applies retention, detects holes, and refuses a second hub on the same file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctibridge.journal import Journal, JournalBusy, MemoryJournal, SqliteJournal, open_journal
from ctibridge.settings import JournalSettings


def ev(login: str, seq: int) -> bytes:
    return f'{{"login":"{login}","seq":{seq}}}'.encode()


@pytest.fixture(params=["memory", "sqlite"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    j: Journal = MemoryJournal(100) if request.param == "memory" else SqliteJournal(
        tmp_path / "j.db", max_events=100
    )  # fmt: skip
    yield j
    j.close()


def test_contract(journal: Journal) -> None:
    assert journal.last_seq("a") == 0
    assert journal.since("a", 0) == []
    for seq in range(1, 6):
        journal.append("a", seq, ev("a", seq))
    journal.append("b", 1, ev("b", 1))
    journal.commit()
    assert journal.last_seq("a") == 5 and journal.last_seq("b") == 1
    assert journal.since("a", 0) == [ev("a", s) for s in range(1, 6)]
    assert journal.since("a", 3) == [ev("a", 4), ev("a", 5)]
    assert journal.since("a", 5) == []
    assert journal.since("a", 99) is None  # never held here: the app saw a lost history
    assert journal.since("b", 0) == [ev("b", 1)]
    assert journal.since("a", -1) is None  # an unreadable seq is a gap
    journal.save_state("a", b"snapshot-1")
    journal.save_state("a", b"snapshot-2")
    journal.commit()
    assert journal.state("a") == b"snapshot-2"
    assert journal.state("b") is None
    assert journal.health()["ok"] is True


def test_count_retention(journal: Journal) -> None:
    for seq in range(1, 251):
        journal.append("a", seq, ev("a", seq))
        journal.commit()
    if isinstance(journal, SqliteJournal):
        journal.prune()
    assert journal.since("a", 150) == [ev("a", s) for s in range(151, 251)]
    assert journal.since("a", 149) is None  # seq 150 is gone: a gap
    assert journal.last_seq("a") == 250


def test_sqlite_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    for seq in range(1, 4):
        j.append("a", seq, ev("a", seq))
    j.save_state("a", b"snap")
    j.commit()
    j.append("a", 4, ev("a", 4))  # never committed: as if the process died here
    j._db.close()  # no commit, no checkpoint: a crash
    j._db = None  # type: ignore[assignment]
    again = SqliteJournal(path)
    assert again.last_seq("a") == 3
    assert again.since("a", 0) == [ev("a", s) for s in range(1, 4)]
    assert again.state("a") == b"snap"
    again.close()


def test_sqlite_keeps_seq_when_everything_was_pruned(tmp_path: Path) -> None:
    now = [1_000_000]
    j = SqliteJournal(tmp_path / "j.db", max_age_ms=1000, now=lambda: now[0])
    for seq in range(1, 4):
        j.append("a", seq, ev("a", seq))
    j.commit()
    now[0] += 1001
    assert j.prune() == 3
    assert j.count() == 0
    assert j.last_seq("a") == 3
    assert j.since("a", 3) == []
    assert j.since("a", 2) is None
    j.close()
    again = SqliteJournal(tmp_path / "j.db", max_age_ms=1000, now=lambda: now[0])
    assert again.last_seq("a") == 3  # seq never repeats
    again.close()


def test_sqlite_age_retention_keeps_recent_events(tmp_path: Path) -> None:
    now = [0]
    j = SqliteJournal(tmp_path / "j.db", max_age_ms=1000, now=lambda: now[0])
    for seq in range(1, 11):
        now[0] = seq * 200
        j.append("a", seq, ev("a", seq))
        j.commit()
    j.prune()  # now = 2000: events stamped before 1000 (seq 1-4) are gone
    assert j.since("a", 4) == [ev("a", s) for s in range(5, 11)]
    assert j.since("a", 3) is None
    j.close()


def test_sqlite_prunes_on_its_own(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db", max_events=10, prune_every=25)
    for seq in range(1, 101):
        j.append("a", seq, ev("a", seq))
        j.commit()
    assert j.count("a") <= 10 + 25
    assert j.since("a", 90) == [ev("a", s) for s in range(91, 101)]
    j.close()


def test_sqlite_sees_a_hole_as_a_gap(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    for seq in (1, 2, 4, 5):  # seq 3 lost (e.g. a failed commit)
        j.append("a", seq, ev("a", seq))
    j.commit()
    assert j.since("a", 3) == [ev("a", 4), ev("a", 5)]
    assert j.since("a", 2) is None
    assert j.since("a", 0) is None
    j.close()


def test_a_second_hub_cannot_open_the_same_journal(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    with pytest.raises(JournalBusy):
        SqliteJournal(tmp_path / "j.db")
    j.close()
    SqliteJournal(tmp_path / "j.db").close()  # free again once the first one is closed


def test_sqlite_file_is_wal_and_checkpointed_on_close(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = SqliteJournal(path)
    j.append("a", 1, ev("a", 1))
    j.commit()
    j.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT seq FROM events").fetchall() == [(1,)]
    db.close()
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_reused_seq_is_refused(tmp_path: Path) -> None:
    j = SqliteJournal(tmp_path / "j.db")
    j.append("a", 1, ev("a", 1))
    with pytest.raises(sqlite3.IntegrityError):
        j.append("a", 1, ev("a", 1))
    j.close()


def test_open_journal_follows_settings(tmp_path: Path) -> None:
    memory = open_journal(JournalSettings())
    assert isinstance(memory, MemoryJournal)
    sqlite = open_journal(JournalSettings(path=str(tmp_path / "sub" / "j.db"), max_events=7))
    assert isinstance(sqlite, SqliteJournal) and sqlite.max_events == 7
    assert (tmp_path / "sub" / "j.db").exists()
    sqlite.close()


def test_a_schema_1_journal_is_migrated_with_its_events(tmp_path: Path) -> None:
    """Schema 1 kept events WITHOUT ROWID keyed by (login, seq); schema 2 appends them to a
    rowid table: a hub upgraded on an old file keeps every event, head and snapshot."""
    path = tmp_path / "j.db"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE events (login TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL,
            data BLOB NOT NULL, PRIMARY KEY (login, seq)) WITHOUT ROWID;
        CREATE INDEX events_at ON events (at);
        CREATE TABLE agents (login TEXT PRIMARY KEY, seq INTEGER NOT NULL, state BLOB)
            WITHOUT ROWID;
        PRAGMA user_version = 1;
        """
    )
    rows = [(login, seq, 0, ev(login, seq)) for login in ("a", "b") for seq in (1, 2, 3)]
    db.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)
    db.executemany("INSERT INTO agents VALUES (?, 3, ?)", [("a", b"snap"), ("b", None)])
    db.commit()
    db.close()
    j = SqliteJournal(path, max_age_ms=10**15)
    assert j.since("a", 0) == [ev("a", s) for s in (1, 2, 3)]
    assert j.since("b", 1) == [ev("b", s) for s in (2, 3)]
    assert (j.last_seq("a"), j.state("a")) == (3, b"snap")
    j.append("a", 4, ev("a", 4))
    j.commit()
    assert j.since("a", 3) == [ev("a", 4)]
    j.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_the_wal_stays_bounded_under_a_steady_stream_of_commits(tmp_path: Path) -> None:
    """Checkpoints run beside the writer; commits landing during each of them would keep the
    WAL from ever starting over, so it grew without bound under load - the checkpointer
    catches up under the journal's lock once the WAL holds ``wal_max_frames``."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path, checkpoint_s=0.001, wal_max_frames=64)
    wal = path.with_name(path.name + "-wal")
    data = b"x" * 1000
    largest = 0
    for seq in range(1, 6001):  # one commit after another: ~70 MB of WAL frames in all
        j.append("a", seq, data)
        j.commit()
        if seq % 100 == 0:
            largest = max(largest, wal.stat().st_size)
    j.close()
    assert largest < 25_000_000, f"the WAL grew to {largest} bytes"  # unbounded: > 100 MB


def test_the_wal_stays_bounded_when_the_checkpointer_falls_behind(tmp_path: Path) -> None:
    """A checkpointer that does not run (here: one round, then asleep for 2 s; in CI: a thread
    starved on two busy cores, the WAL at 32 MB with 64 frames as its bound) - the writer
    checkpoints itself once the WAL is past 4x its frames, and the WAL starts over."""
    path = tmp_path / "j.db"
    j = SqliteJournal(path, checkpoint_s=2, wal_max_frames=64)
    wal = path.with_name(path.name + "-wal")
    largest = 0
    for seq in range(1, 3001):  # ~35 MB of WAL frames in all, in well under 2 s
        j.append("a", seq, b"x" * 1000)
        j.commit()
        largest = max(largest, wal.stat().st_size)
    assert j.since("a", 2990) == [b"x" * 1000] * 10
    j.close()
    # 4 x 64 frames of 4 kB, plus what 16 commits (the writer's look every 16) add: ~1.3 MB
    assert largest < 2_000_000, f"the WAL grew to {largest} bytes"


def test_expired_events_go_oldest_first_a_bounded_batch_per_commit(tmp_path: Path) -> None:
    """Without an index on the events' time, a commit drops the expired events among the
    ``age_prune_rows`` oldest (events are appended in time order); a file that still has the
    index (written before it was dropped) loses it at open and keeps its events."""
    path = tmp_path / "j.db"
    now = [0]
    j = SqliteJournal(path, max_age_ms=1000, now=lambda: now[0], age_prune_ms=0)
    j.close()
    db = sqlite3.connect(path)
    db.execute("CREATE INDEX events_at ON events (at)")  # as files of schema 2 had it
    db.close()
    j = SqliteJournal(path, max_age_ms=1000, now=lambda: now[0], age_prune_ms=0, age_prune_rows=3)
    for seq in range(1, 11):  # seq 1-10 at 100..1000
        now[0] = seq * 100
        j.append("a", seq, ev("a", seq))
        j.commit()
    assert j.count() == 10
    now[0] = 1650  # seq 1-6 (stamped before 650) have expired
    j.append("b", 1, ev("b", 1))
    j.commit()
    assert j.count("a") == 7  # the 3 oldest, and no more in one commit
    j.append("b", 2, ev("b", 2))
    j.commit()
    assert j.count("a") == 4 and j.since("a", 6) == [ev("a", s) for s in range(7, 11)]
    j.append("b", 3, ev("b", 3))
    j.commit()
    assert j.count("a") == 4  # the oldest 3 now include unexpired ones: those stay
    j.close()
    db = sqlite3.connect(path)
    names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    db.close()
    assert "events_at" not in names


def test_prune_at_open_drops_every_expired_event(tmp_path: Path) -> None:
    now = [0]
    j = SqliteJournal(tmp_path / "j.db", max_events=10**6, max_age_ms=1000, now=lambda: now[0])
    for seq in range(1, 25_001):  # more than two batches of the open's prune (10,000)
        j.append("a", seq, b"e")
        if seq % 5000 == 0:  # seq 1-5,000 stamped 1, 5,001-10,000 stamped 2, ...
            now[0] += 1
            j.commit()
    j.close()
    now[0] = 1005  # events stamped 1-4 (seq 1-20,000) are expired
    again = SqliteJournal(tmp_path / "j.db", max_events=10**6, max_age_ms=1000, now=lambda: now[0])
    assert again.count() == 5000 and again.since("a", 20_000) == [b"e"] * 5000
    again.close()
