"""The durable journal: SQLite in WAL mode, one file per hub.

Appends wait in memory for :meth:`SqliteJournal.commit`, which writes them (and the agents'
heads and snapshots) in one transaction - the hub calls it once per loop tick for every engine
step of the tick, and sends nothing before that, so after a crash (``kill -9``) every event an
app has seen is in the file.  With ``synchronous = NORMAL`` a commit writes the WAL without an
fsync: durable against a crash of the process, not of the machine (``"full"`` fsyncs every
commit).

A failed write (disk full, I/O error) rolls the step back: the journal is left as it was after
the last commit, and the hub sends none of that step's events.  Reads may run on another
thread (resume replays are read off the event loop): a lock serialises every use of the
connection, and reads see committed events only.

The file is locked (``flock``) while a journal has it open: a second hub on the same file fails
at start (:class:`JournalBusy`) instead of interleaving ``seq`` numbers.  The lock dies with the
process.

Nothing slow runs inside a commit, so a commit never stalls the hub's event loop for long:

* WAL checkpoints (copying the WAL back into the database, with the fsync ``synchronous =
  NORMAL`` does there) run on a thread of their own with a connection of its own
  (``wal_autocheckpoint = 0``; a passive checkpoint runs beside the writer without blocking it);
* retention is incremental: a commit drops the old events of the agents it wrote to once an
  agent holds ``prune_every`` more than ``max_events`` (a short range delete on the primary key),
  and every ``age_prune_ms`` the events older than ``max_age_ms`` among the
  ``age_prune_rows`` oldest (appended in time order, the oldest by id are the expired ones).

The ``agents`` table keeps each agent's last ``seq`` (and last snapshot) regardless, so ``seq``
continues after everything was pruned.  :meth:`SqliteJournal.prune` applies all of retention at
once (at open, and for tests).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

SCHEMA_VERSION = 2
# Events in a rowid table, appended at its end, found by a small index on (login, seq).  (Schema
# 1 keyed the table itself by (login, seq) WITHOUT ROWID: ~1 kB rows spread over every agent's
# part of the tree, so each commit rewrote a page per event - 4x the CPU and WAL per event.)
# No index on `at` (files of 2026-12-02 and before have one, dropped at open): events are
# appended in time order, so the expired ones are the oldest by id - and an index entry per
# event cost ~10 % of a commit's CPU (22.9 -> 20.7 us per event, 3,000 commits of 30 events).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_seq ON events (login, seq);
DROP INDEX IF EXISTS events_at;
CREATE TABLE IF NOT EXISTS agents (
    login TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    state BLOB
) WITHOUT ROWID;
"""
# schema 1 -> 2: the events, in (login, seq) order, into the new table (in the opening transaction)
_MIGRATE_1 = (
    """
ALTER TABLE events RENAME TO events_v1;
DROP INDEX IF EXISTS events_at;
"""
    + _SCHEMA
    + """
INSERT INTO events (login, seq, at, data) SELECT login, seq, at, data FROM events_v1;
DROP TABLE events_v1;
"""
)


# how many commits apart the writer checks the WAL's size (SqliteJournal._backstop)
_BACKSTOP_EVERY = 16


class _Batch(NamedTuple):
    """One commit's writes: events (login, seq, data), agents (login, head, snapshot or
    None), and the heads the commit makes durable."""

    events: list[tuple[str, int, bytes]]
    agents: list[tuple[str, int, bytes | None]]
    heads: dict[str, int]


class JournalBusy(RuntimeError):
    """The journal file is held by another process (another hub)."""


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SqliteJournal:
    reads_off_loop = True  # since() may run on another thread (see the module's docstring)
    # one commit is a SQLite transaction: the hub appends the events of every engine step of a
    # loop tick and commits them together (hub/journaling.py)
    group_commit = True

    def __init__(
        self,
        path: str | Path,
        *,
        max_events: int = 10_000,
        max_age_ms: int = 7 * 86_400_000,
        synchronous: Literal["normal", "full"] = "normal",
        now: Callable[[], int] = _wall_ms,
        prune_every: int = 100,
        age_prune_ms: int = 60_000,
        age_prune_rows: int = 1000,
        checkpoint_s: float = 0.05,
        wal_max_frames: int = 8192,
    ) -> None:
        self.path = str(path)
        self.max_events = max_events
        self.max_age_ms = max_age_ms
        self.prune_every = prune_every
        self.age_prune_ms = age_prune_ms
        self.age_prune_rows = age_prune_rows
        self._now = now
        self.error: str | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            _lock(self.path, self)
        try:
            db = sqlite3.connect(
                self.path, isolation_level=None, timeout=0.05, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            db.execute("PRAGMA wal_autocheckpoint = 0")  # the checkpointer thread does them
            # the WAL file, cut back to this when it starts over (see _Checkpointer): twice
            # the frames it holds at most, so that under load it is reused, not cut back - the
            # cut (an ftruncate of the writer's commit) made each restart of the WAL a stall of
            # the loop: longest commit 14.8-22.9 ms with half the frames as the limit, 7.5-8.8
            # ms without a cut (8 s of ~1,250 commits/s of 4 events, the checkpointer running)
            db.execute(f"PRAGMA journal_size_limit = {wal_max_frames * 8192}")
            db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._unlock()
            raise
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):
            db.execute("ROLLBACK")
            db.close()
            self._unlock()
            raise RuntimeError(f"journal {self.path} has schema {version}, not {SCHEMA_VERSION}")
        for statement in (_MIGRATE_1 if version == 1 else _SCHEMA).split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
        self._db = db
        self._heads: dict[str, int] = dict(db.execute("SELECT login, seq FROM agents").fetchall())
        self._committed = dict(self._heads)  # the heads as of the last commit
        self._lock = threading.RLock()
        self._events: list[tuple[str, int, bytes]] = []  # appended, for the next commit
        self._dirty: set[str] = set()  # agents with events or a snapshot for the next commit
        self._states: dict[str, bytes] = {}
        self._pruned: dict[str, int] = {}  # login -> the seq its events were pruned up to
        self._age_pruned = 0  # when events past max_age_ms were last dropped
        self.prune()
        self._checkpointer = (
            None
            if self.path == ":memory:"
            else _Checkpointer(self.path, checkpoint_s, self._lock, wal_max_frames)
        )
        # the WAL's bound if the checkpointer falls behind (see _backstop): 4x its frames
        page = int(db.execute("PRAGMA page_size").fetchone()[0])
        self._wal_bound = 4 * wal_max_frames * (page + 24)
        self._commits = 0

    # writing -------------------------------------------------------------------------------------

    def append(self, login: str, seq: int, data: bytes) -> None:
        """Held in memory until the next commit writes it (with the others of its group)."""
        if seq <= self._heads.get(login, 0):  # the unique index would refuse it at the commit
            e = sqlite3.IntegrityError(f"UNIQUE constraint failed: events seq {seq} of {login}")
            self._failed(e)
            raise e
        self._events.append((login, seq, data))
        self._heads[login] = seq
        self._dirty.add(login)

    def save_state(self, login: str, data: bytes) -> None:
        self._states[login] = data
        self._dirty.add(login)

    def commit(self) -> None:
        """Write what was appended and saved since the last commit: one transaction."""
        batch = self._take()
        if batch is None:
            return
        try:
            self._write(batch)
        except sqlite3.Error as e:
            self._failed(e)
            raise

    def _take(self) -> _Batch | None:
        """What the next commit writes (taken on the caller's thread, written on any)."""
        if not self._dirty:
            return None
        heads = self._heads
        agents = [(x, heads.get(x, 0), self._states.pop(x, None)) for x in self._dirty]
        batch = _Batch(self._events, agents, {x: heads[x] for x in self._dirty if x in heads})
        self._events, self._dirty = [], set()
        return batch

    def _write(self, batch: _Batch) -> None:
        """One transaction: the batch's events, its agents' heads and snapshots, retention.
        (A multi-row INSERT, one statement per group, cost ~20 % more CPU per event than one
        execution of a prepared INSERT per row: 27.6 against 22.9 us per event for 3,000
        commits of 30 events of 10 agents.)"""
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                now = self._now()
                db.executemany(
                    "INSERT INTO events (login, seq, at, data) VALUES (?, ?, ?, ?)",
                    [(login, seq, now, data) for login, seq, data in batch.events],
                )
                db.executemany(
                    "INSERT INTO agents (login, seq, state) VALUES (?, ?, ?) "
                    "ON CONFLICT (login) DO UPDATE SET seq = excluded.seq, "
                    "state = coalesce(excluded.state, state)",
                    batch.agents,
                )
                pruned = self._retain(batch.heads, [login for login, _, _ in batch.agents])
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                raise
            self._committed.update(batch.heads)
            self._pruned.update(pruned)
            self.error = None
        if self._checkpointer is not None:
            self._checkpointer.wake()
            self._commits += 1
            if not self._commits % _BACKSTOP_EVERY:
                self._backstop()

    def _backstop(self) -> None:
        """The checkpointer thread can fall behind: starved of the CPU or the GIL while the
        writer commits in a tight loop, it left the WAL at 32 MB with 64 frames as its bound
        (a CI run on 2 busy cores).  So every ``_BACKSTOP_EVERY`` commits the writer looks at the
        WAL file (a ``stat``), and past 4x the frames the checkpointer keeps it to, it
        checkpoints itself under the journal's lock - a stall of the writer, once, in place of a
        WAL without bound; the next commit starts the WAL over."""
        try:
            size = os.stat(self.path + "-wal").st_size
        except OSError:
            return
        if size > self._wal_bound:
            with self._lock, contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _retain(self, heads: dict[str, int], logins: list[str]) -> dict[str, int]:
        """Retention, a little at a time, inside the commit's transaction: the old events of the
        agents written to, once they hold ``prune_every`` too many, and now and then a bounded
        batch of expired ones.  Returns the new prune marks (kept once the commit succeeded)."""
        pruned: dict[str, int] = {}
        for login in logins:
            upto = heads.get(login, self._committed.get(login, 0)) - self.max_events
            if upto - self._pruned.get(login, 0) >= self.prune_every:
                self._db.execute("DELETE FROM events WHERE login = ? AND seq <= ?", (login, upto))
                pruned[login] = upto
        now = self._now()
        if now - self._age_pruned >= self.age_prune_ms:
            self._age_pruned = now
            self._expire(now - self.max_age_ms, self.age_prune_rows)
        return pruned

    def _expire(self, before: int, rows: int) -> int:
        """Drop the events stamped before ``before`` among the ``rows`` oldest (by id: they
        are appended in time order, so the expired ones come first); how many were dropped."""
        cur = self._db.execute(
            "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?) AND at < ?",
            (rows, before),
        )
        return cur.rowcount

    def _failed(self, e: sqlite3.Error) -> None:
        """Undo the step a write failed in: back to the last commit (its events are not sent)."""
        self.error = f"{type(e).__name__}: {e}"
        self._heads = dict(self._committed)
        self._events = []
        self._dirty.clear()

    def prune(self) -> int:
        """Apply retention now; returns the number of events dropped."""
        dropped = 0
        with self._lock:
            dropped = self._prune(dropped)
        self._pruned.update({login: h - self.max_events for login, h in self._heads.items()})
        self._age_pruned = self._now()
        return dropped

    def _prune(self, dropped: int) -> int:
        self._db.execute("BEGIN")
        try:
            before, rows = self._now() - self.max_age_ms, 10_000
            while (n := self._expire(before, rows)) == rows:  # all of them expired: go on
                dropped += n
            dropped += n
            for login, head in self._heads.items():
                cur = self._db.execute(
                    "DELETE FROM events WHERE login = ? AND seq <= ?",
                    (login, head - self.max_events),
                )
                dropped += cur.rowcount
            self._db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise
        return dropped

    # reading -------------------------------------------------------------------------------------

    def since(self, login: str, seq: int, limit: int | None = None) -> list[bytes] | None:
        with self._lock:
            head = self._committed.get(login, 0)
            if seq == head:
                return []  # nothing newer
            if seq > head:
                return None  # a seq this journal never held: the app saw events it lost
            want = head - seq if limit is None else min(limit, head - seq)
            rows = self._db.execute(
                "SELECT seq, data FROM events WHERE login = ? AND seq > ? AND seq <= ? "
                "ORDER BY seq LIMIT ?",
                (login, max(seq, 0), head, want),
            ).fetchall()
        # every seq from seq+1 on must be there: a hole (pruned or never written) is a gap
        if seq < 0 or len(rows) != want or (rows and rows[-1][0] != seq + want):
            return None
        return [bytes(data) for _, data in rows]

    def last_seq(self, login: str) -> int:
        """The last seq committed (as :meth:`since` sees it); appends under way come after."""
        return self._committed.get(login, 0)

    def state(self, login: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM agents WHERE login = ?", (login,))
            found = row.fetchone()
        return None if found is None or found[0] is None else bytes(found[0])

    def count(self, login: str | None = None) -> int:
        with self._lock:
            if login is None:
                return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])
            row = self._db.execute("SELECT count(*) FROM events WHERE login = ?", (login,))
            return int(row.fetchone()[0])

    def health(self) -> dict[str, object]:
        return {
            "ok": self.error is None,
            "kind": "sqlite",
            "durable": True,
            "path": self.path,
            "agents": len(self._committed),
            "error": self.error,
        }

    def close(self) -> None:
        if self._db is None:
            return
        try:
            if self._checkpointer is not None:
                self._checkpointer.stop()
            with contextlib.suppress(sqlite3.Error):  # a failing disk: what was committed stays
                self.commit()
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._db.close()
            self._db = None  # type: ignore[assignment]
            self._unlock()

    def _unlock(self) -> None:
        if self.path != ":memory:":
            _unlock(self.path, self)


# realpath -> (descriptor holding its flock, the journal using it): one flock per file and
# process, handed on to the next journal of this process once the previous one's connection is
# gone (closed, or dropped as after a crash)
_HELD: dict[str, tuple[int, weakref.ref[SqliteJournal]]] = {}
_HELD_LOCK = threading.Lock()


def _lock(path: str, journal: SqliteJournal) -> None:
    """Hold ``path`` for ``journal``: JournalBusy while another journal (of this process or of
    another one) has it open."""
    real = os.path.realpath(path)
    with _HELD_LOCK:
        held = _HELD.get(real)
        if held is not None:
            other = held[1]()
            if other is not None and getattr(other, "_db", None) is not None:
                raise JournalBusy(f"journal {path} is in use by this process")
            _HELD[real] = (held[0], weakref.ref(journal))
            return
        fd = os.open(real, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalBusy(f"journal {path} is in use by another process") from None
        _HELD[real] = (fd, weakref.ref(journal))


def _unlock(path: str, journal: SqliteJournal) -> None:
    real = os.path.realpath(path)
    with _HELD_LOCK:
        held = _HELD.get(real)
        if held is not None and held[1]() is journal:
            del _HELD[real]
            os.close(held[0])  # closing the descriptor releases the flock


class _Checkpointer:
    """WAL checkpoints on a thread and a connection of their own, off the writer's path: a
    passive checkpoint copies what is committed into the database file (and fsyncs it) while
    the writer goes on appending.  Woken by commits, at most every ``every_s`` seconds.

    The WAL starts over from its beginning (and is cut back to ``journal_size_limit``) only
    at a commit that finds every frame checkpointed - which a steady stream of commits, each
    landing during a checkpoint, can keep from ever happening.  So once the WAL holds more
    than ``max_frames`` the checkpointer catches up while holding the journal's lock: the
    bulk was copied by the passive checkpoints before, so the writer waits only for the last
    frames and the fsync, once per ``max_frames`` pages written."""

    def __init__(
        self, path: str, every_s: float, lock: threading.RLock, max_frames: int = 8192
    ) -> None:
        self._every_s = every_s
        self._lock = lock
        self._max_frames = max_frames
        self._wake = threading.Event()
        self._stopping = False
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name="journal-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _checkpoint(self) -> int:
        """One passive checkpoint; the number of frames in the WAL."""
        busy, frames, _ = self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return -1 if busy else int(frames)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                break
            with contextlib.suppress(sqlite3.Error):  # a failing disk: the writer reports it
                if self._checkpoint() > self._max_frames:
                    with self._lock:  # no commit between: this one completes, the WAL restarts
                        self._checkpoint()
            time.sleep(self._every_s)
        self._db.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
