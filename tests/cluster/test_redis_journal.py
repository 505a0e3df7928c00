"""The Redis journal and the leases against a real redis-server: the journal contract, retention
like SQLite's, and fencing - a node without the current lease can never append, even calling
the append script directly with a stale epoch."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from redis_servers import RedisServer

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.cluster.clients import PackedConnection
from ctibridge.cluster.journal import ClusterError, Fenced, RedisJournal
from ctibridge.cluster.lease import Lease, Leases
from ctibridge.cluster.scripts import APPEND, append_keys, keys, rids_key
from ctibridge.hub import Hub
from ctibridge.hub.connection import AppConnection
from ctibridge.settings import AuthSettings, Settings
from support.hub import outbox_messages


def ev(seq: int) -> bytes:
    return f'{{"seq":{seq}}}'.encode()


def client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, socket_timeout=2)


def owner(
    server: RedisServer,
    node: str,
    login: str = "a",
    *,
    max_events: int = 10_000,
    max_age_ms: int = 7 * 86_400_000,
) -> RedisJournal:
    c = client(server)
    journal = RedisJournal(c, node, max_events=max_events, max_age_ms=max_age_ms)
    lease = asyncio.run(_claim(server, node, login))
    assert lease.held
    journal.epochs[login] = lease.epoch
    return journal


async def _claim(server: RedisServer, node: str, login: str) -> Lease:
    c = aredis.Redis.from_url(server.url, socket_timeout=2)
    try:
        return await Leases(c, node, 3000).claim(login)
    finally:
        await c.aclose()


def test_append_commit_since_and_state(redis_server: RedisServer) -> None:
    j = owner(redis_server, "n1")
    for seq in (1, 2, 3):
        j.append("a", seq, ev(seq))
    j.save_state("a", b"snap")
    j.commit()
    other = RedisJournal(client(redis_server), "n2")  # any node reads the same journal
    assert other.last_seq("a") == 3
    assert other.since("a", 0) == [ev(1), ev(2), ev(3)]
    assert other.since("a", 1, limit=1) == [ev(2)]
    assert other.since("a", 3) == []
    assert other.since("a", 4) is None  # a seq the journal never issued
    assert other.state("a") == b"snap"
    # stream ids are derived from seq
    ids = [rid for rid, _ in other.client.xrange(keys("a")[2])]
    assert ids == [b"1-0", b"2-0", b"3-0"]


def test_retention_by_count_and_age(redis_server: RedisServer) -> None:
    clock = [1_000_000]
    j = owner(redis_server, "n1", max_events=3, max_age_ms=10_000)
    j._now = lambda: clock[0]
    for seq in range(1, 6):
        j.append("a", seq, ev(seq))
        j.commit()
    assert j.since("a", 2) == [ev(3), ev(4), ev(5)]
    assert j.since("a", 1) is None  # seq 2 was dropped: a gap, not a silent skip
    clock[0] += 20_000  # everything so far is older than max_age
    j.append("a", 6, ev(6))
    j.commit()
    assert j.since("a", 5) == [ev(6)]
    assert j.since("a", 4) is None
    assert j.last_seq("a") == 6  # seq continues after retention


def test_a_non_owner_cannot_append(redis_server: RedisServer) -> None:
    j = RedisJournal(client(redis_server), "n2")
    j.append("a", 1, ev(1))
    with pytest.raises(Fenced) as refused:
        j.commit()
    assert refused.value.logins == {"a"}
    j.save_state("a", b"ignored")  # a follower's snapshot is the owner's to write
    j.commit()
    assert j.state("a") is None and j.last_seq("a") == 0


def test_stale_epoch_is_fenced_after_takeover(redis_server: RedisServer) -> None:
    """Two nodes that both believe they own the agent: only the current lease's holder writes."""
    old = owner(redis_server, "n1")
    old.append("a", 1, ev(1))
    old.commit()
    stale_epoch = old.epochs["a"]
    # the old owner is partitioned away: its lease expires and n2 takes the agent over
    client(redis_server).delete(keys("a")[0])
    new = owner(redis_server, "n2")
    assert new.epochs["a"] == stale_epoch + 1
    lost: list[str] = []
    old.on_fenced = lost.append
    old.append("a", 2, ev(2))
    with pytest.raises(Fenced):
        old.commit()
    assert lost == ["a"] and "a" not in old.epochs
    new.append("a", 2, ev(2))
    new.commit()
    assert new.since("a", 0) == [ev(1), ev(2)]
    # the script itself, called directly with the stale epoch, refuses and writes nothing
    script = client(redis_server).register_script(APPEND)
    args: list[bytes | str | int] = ["n1", stale_epoch, 3, 100, 0, 0, b"", "", "a", 0, 1, "r1",
                                     ev(3)]  # fmt: skip
    with pytest.raises(redis.ResponseError, match="FENCED"):
        script(keys=append_keys("a"), args=args)
    # ... and so does the right node with the right epoch but a seq already issued
    args = ["n2", new.epochs["a"], 2, 100, 0, 0, b"", "", "a", 0, 1, "r2", b"dup"]
    with pytest.raises(redis.ResponseError, match="SEQ 3"):
        script(keys=append_keys("a"), args=args)
    assert not client(redis_server).exists(rids_key("a"))  # neither requestId recorded
    assert new.since("a", 0) == [ev(1), ev(2)]


async def test_lease_renew_takeover_and_release(redis_server: RedisServer) -> None:
    c = aredis.Redis.from_url(redis_server.url, socket_timeout=2)
    n1, n2 = Leases(c, "n1", 200), Leases(c, "n2", 200)
    first = await n1.claim("a")
    assert first.held and first.fresh
    other = await n2.claim("a")
    assert not other.held and other.holder == "n1"
    again = await n1.claim("a", first.epoch)
    assert again.held and not again.fresh and again.epoch == first.epoch
    assert await n1.release("a", first.epoch)
    taken = await n2.claim("a")
    assert taken.held and taken.fresh and taken.epoch == first.epoch + 1
    assert not (await n1.claim("a", first.epoch)).held  # the old epoch is not renewed
    many = await n1.claim_many([("a", 0, True), ("b", 0, True)])  # one round trip for every agent
    assert [(m.held, m.holder) for m in many] == [(False, "n2"), (True, "n1")]
    await c.aclose()


def test_redis_down_is_a_cluster_error(redis_server: RedisServer) -> None:
    j = owner(redis_server, "n1")
    redis_server.stop()
    j.append("a", 1, ev(1))
    with pytest.raises(ClusterError):
        j.commit()
    health = j.health()
    assert health["ok"] is False and "cluster unavailable" in str(health["error"])
    redis_server.start()
    j.append("a", 1, ev(1))
    with pytest.raises(ClusterError, match="cluster unavailable"):
        j.commit()  # at once, no socket timeout: Redis is known to be down ...
    j.mark(True)  # ... until the node's lease loop reaches it again
    j.append("a", 1, ev(1))
    j.commit()  # the lease survived in the AOF
    assert j.health()["ok"] is True


# the hub's group commit on the cluster journal ---------------------------------------------------


def _frame(rid: str, label: str) -> str:
    return json.dumps({"channel": "Amazon", "topic": "Agent", "subtopic": "UpdateState",
                       "source": "app", "requestId": rid, "data": {"label": label}})  # fmt: skip


async def _ticks(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def _hub_owning(
    server: RedisServer, count: int
) -> AsyncIterator[tuple[Hub, RedisJournal, list[AppConnection]]]:
    """A hub on the cluster journal owning agent1..agent``count`` (leases taken by hand, no
    node), one app attached to each."""
    clock = ManualClock()
    journal = RedisJournal(client(server), "n1")
    leases = aredis.Redis.from_url(server.url, socket_timeout=2)
    try:
        for i in range(count):
            lease = await Leases(leases, "n1", 60_000).claim(f"agent{i + 1}")
            journal.epochs[f"agent{i + 1}"] = lease.epoch
    finally:
        await leases.aclose()
    hub = Hub(SimBackend(clock, seed=3, agents=count), clock,
              Settings(auth=AuthSettings(insecure=True)), journal=journal)  # fmt: skip
    await hub.start()
    try:
        conns = [hub.attach(f"agent{i + 1}", app="test") for i in range(count)]
        await _ticks()
        for conn in conns:
            outbox_messages(conn)
        yield hub, journal, conns
    finally:
        await hub.stop()


async def test_one_tick_of_many_agents_is_one_round_trip(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every agent's events of one loop tick are appended in one pipelined round trip, and
    only then sent."""
    async with _hub_owning(redis_server, 4) as (hub, journal, conns):
        sent: list[bytes] = []
        send: Any = redis.connection.AbstractConnection.send_packed_command  # (untyped)

        def counted(self: Any, command: Any, check_health: bool = True) -> None:
            sent.append(command)
            send(self, command, check_health)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        for i, conn in enumerate(conns):  # one tick: no await between them
            hub.receive(conn.login, conn.id, _frame(f"r{i}", "Break"))
        assert not any(outbox_messages(conn) for conn in conns)  # nothing sent before it is durable
        await _ticks()
        monkeypatch.undo()
        assert len(sent) == 1, f"{len(sent)} round trips for one tick of 4 agents"
        for i, conn in enumerate(conns):
            events = [m for m in outbox_messages(conn) if m.get("requestId") == f"r{i}"]
            assert "SetAgentState" in [m["subtopic"] for m in events]
            stored = journal.since(conn.login, events[0]["seq"] - 1)
            assert stored is not None and [json.loads(e) for e in stored] == events


async def test_a_fenced_agent_does_not_withhold_the_others_events(
    redis_server: RedisServer,
) -> None:
    async with _hub_owning(redis_server, 3) as (hub, journal, conns):
        lost: list[str] = []
        journal.on_fenced = lost.append
        # agent2's lease moves to another node (this one was partitioned away meanwhile)
        client(redis_server).delete(keys("agent2")[0])
        other = aredis.Redis.from_url(redis_server.url, socket_timeout=2)
        assert (await Leases(other, "n2", 60_000).claim("agent2")).held
        await other.aclose()
        heads = {c.login: journal.stored_head(c.login) for c in conns}
        for i, conn in enumerate(conns):  # one tick, one group commit
            hub.receive(conn.login, conn.id, _frame(f"r{i}", "Break"))
        await _ticks()
        answers = [outbox_messages(conn) for conn in conns]
        assert lost == ["agent2"] and "agent2" not in journal.epochs
        # agent2: nothing journaled, nothing sent; its command failed (a node's hub says
        # "cluster unavailable", this one without a node "journal unavailable")
        assert journal.stored_head("agent2") == heads["agent2"]
        assert not [m for m in answers[1] if "seq" in m]
        failed = [m for m in answers[1] if m.get("requestId") == "r1"]
        assert [(m["subtopic"], m["message"]["type"], m["message"]["code"]) for m in failed] == [
            ("Error", "UPDATE_AGENT_STATE_FAILED", "journal unavailable")
        ]
        # the others: journaled and sent, and the hub still takes their commands
        for i in (0, 2):
            login = conns[i].login
            mine = [m for m in answers[i] if m.get("requestId") == f"r{i}"]
            assert mine and mine[0]["subtopic"] == "SetAgentState", answers[i]
            assert journal.stored_head(login) == heads[login] + len(mine) == mine[-1]["seq"]
        assert hub.journal_error is None
        hub.receive("agent1", conns[0].id, _frame("again", "Available"))
        await _ticks()
        again = [m["subtopic"] for m in outbox_messages(conns[0]) if m.get("requestId") == "again"]
        assert again[:1] == ["SetAgentState"]


async def test_a_tick_commit_records_request_ids_and_fences_one_agent_alone(
    redis_server: RedisServer,
) -> None:
    """The awaited commit of a node (one APPEND_TICK call): every agent is appended on its own
    with the requestIds remembered for it - one whose lease moved on is fenced and writes
    nothing, neither events nor requestIds; the other's are durable, and a node that takes
    that agent later knows its requestIds (``load_rids``); past their time they are dropped
    in Redis and forgotten by the owner."""
    c = aredis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        clock = [1_000_000]
        journal = RedisJournal(client(redis_server), "n1", request_ttl_ms=60_000)
        journal._now = lambda: clock[0]
        journal.bind(c)
        for login in ("a", "b"):
            lease = await Leases(c, "n1", 3000).claim(login)
            journal.epochs[login] = lease.epoch
        lost: list[str] = []
        journal.on_fenced = lost.append
        await c.delete(keys("b")[0])  # b's lease expired ...
        assert (await Leases(c, "n2", 3000).claim("b")).held  # ... and another node took it
        journal.remember("a", "r1")
        journal.remember("a", "r2")
        journal.remember("b", "r3")
        durable = journal.durable()
        assert journal.wants_commit()
        journal.append("a", 1, ev(1))
        journal.append("a", 2, ev(2))
        journal.append("b", 1, ev(1))
        with pytest.raises(Fenced) as refused:
            await journal.commit_async()
        assert refused.value.logins == {"b"} and lost == ["b"] and "b" not in journal.epochs
        assert durable.done() and durable.exception() is None
        assert journal.remembers("a", "r1") and not journal.remembers("b", "r3")
        assert journal.heads["a"] == 2 and journal.since("a", 0) == [ev(1), ev(2)]
        assert await c.xlen(keys("b")[2]) == 0  # nothing of the fenced node's
        assert await c.zrange(rids_key("b"), 0, -1) == []
        assert await c.zrange(rids_key("a"), 0, -1, withscores=True) == [
            (b"r1", 1_000_000.0), (b"r2", 1_000_000.0)]  # fmt: skip
        # a record alone (its command made no events) is written too
        clock[0] += 30_000
        journal.remember("a", "r4")
        await journal.commit_async()
        assert await c.zscore(rids_key("a"), "r4") == 1_030_000
        # the next owner reads them when it takes the lease
        taker = RedisJournal(client(redis_server), "n2", request_ttl_ms=60_000)
        taker._now = lambda: clock[0]
        taker.bind(c)
        await taker.load_rids("a")
        assert [taker.remembers("a", r) for r in ("r1", "r2", "r4", "r5")] == [
            True, True, True, False]  # fmt: skip
        # past the ttl: dropped by the next append in Redis, forgotten by the owner
        clock[0] += 40_000
        journal.remember("a", "r5")
        journal.append("a", 3, ev(3))
        await journal.commit_async()
        assert await c.zrange(rids_key("a"), 0, -1) == [b"r4", b"r5"]
        assert not journal.remembers("a", "r1") and journal.remembers("a", "r4")
    finally:
        await c.aclose()


async def test_request_ids_of_a_commit_redis_took_none_of_go_with_the_next(
    redis_server: RedisServer,
) -> None:
    """Redis unreachable at a commit: the requestIds remembered (their commands ran here) are
    written by the next commit that reaches it; one whose command was refused instead
    (``forget``) is not, and may be carried out when sent again."""
    c = aredis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        journal = RedisJournal(client(redis_server), "n1")
        journal.bind(c)
        journal.epochs["a"] = (await Leases(c, "n1", 3000).claim("a")).epoch
        journal.remember("a", "ran")
        journal.remember("a", "refused")
        durable = journal.durable()
        journal.mark(False, "ConnectionError: gone")
        journal.append("a", 1, ev(1))
        with pytest.raises(ClusterError):
            await journal.commit_async()
        assert isinstance(durable.exception(), redis.ConnectionError)
        journal.forget("a", "refused")
        assert journal.remembers("a", "ran") and not journal.remembers("a", "refused")
        journal.mark(True)
        journal.append("a", 1, ev(1))
        await journal.commit_async()
        assert await c.zrange(rids_key("a"), 0, -1) == [b"ran"]
    finally:
        await c.aclose()


async def test_every_commit_path_loads_its_script_again_after_script_flush(
    redis_server: RedisServer,
) -> None:
    """A restarted Redis has lost the scripts: the blocking commit (one agent: one call; more:
    a pipeline), the awaited tick commit and a Redis Cluster's call per agent each load theirs
    again and write, and a fenced agent still gets its own refusal after the reload."""
    c = aredis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        journal = RedisJournal(client(redis_server), "n1")
        journal.bind(c)
        for login in ("a", "b", "x"):
            journal.epochs[login] = (await Leases(c, "n1", 3000).claim(login)).epoch
        seq = {"a": 0, "b": 0}

        def write(*logins: str) -> None:
            for login in logins:
                seq[login] += 1
                journal.append(login, seq[login], ev(seq[login]))

        for path in ("one", "pipeline", "tick", "sharded"):
            await c.script_flush()
            if path == "one":
                write("a")
                journal.commit()
            elif path == "pipeline":
                write("a", "b")
                journal.commit()
            else:
                journal.sharded = path == "sharded"
                write("a", "b")
                await journal.commit_async()
            assert {x: journal.heads.get(x, 0) for x in seq} == seq, path
        assert journal.since("a", 0) == [ev(i) for i in range(1, 5)]
        await c.script_flush()
        await c.delete(keys("x")[0])  # x's lease moved on: fenced alone, a and b written
        assert (await Leases(c, "n2", 3000).claim("x")).held
        write("a")
        journal.append("x", 1, ev(1))
        with pytest.raises(Fenced) as refused:
            await journal.commit_async()
        assert refused.value.logins == {"x"} and journal.heads["a"] == 5
    finally:
        await c.aclose()


def test_the_packed_connection_packs_as_redis_py_does() -> None:
    """The node's asyncio connection (hiredis straight away for one-word commands) sends the
    bytes redis-py's own packer would, multi-word commands split, bad arguments refused."""
    packed, plain = PackedConnection(), aredis.Connection()
    for args in (
        ("EVALSHA", "0" * 40, 3, "k", b"\x00\xff", 12, 1.5, "é"),
        ("SCRIPT LOAD", "return 1"),
        (b"CLIENT SETNAME", "n1"),
        ("SET", memoryview(b"v"), bytearray(b"w")),
    ):
        assert b"".join(packed.pack_command(*args)) == b"".join(plain.pack_command(*args))
    with pytest.raises(redis.DataError):
        packed.pack_command("SET", "k", None)


async def test_flushed_returns_when_only_a_snapshot_waits(redis_server: RedisServer) -> None:
    """A commit task started for a snapshot alone (no events held): ``flushed()`` returns once
    it is written (its barrier was dropped when the round began: it waited for ever - a node's
    hand-over and stop await it)."""
    async with _hub_owning(redis_server, 1) as (hub, journal, conns):
        journal.save_state("agent1", b'{"x": 1}')
        await asyncio.wait_for(hub.flushed(), 5)
        assert journal.state("agent1") == b'{"x": 1}'
        hub.receive("agent1", conns[0].id, _frame("r", "Break"))
        journal.save_state("agent1", b'{"x": 2}')  # events held and a snapshot
        await asyncio.wait_for(hub.flushed(), 5)
        assert not hub.holds("agent1") and journal.state("agent1") == b'{"x": 2}'
