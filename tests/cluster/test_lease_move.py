"""An agent's lease moves while a new app's StateSync waits behind its old owner's commit
(``hub/steps.py``: a new app of an owned agent gets its StateSync once the commit under way
is out; the events already in it are skipped - the app's ``floor``).  Two in-process nodes on
a real redis-server, so that the order is the test's: the app must end up with what the
journal holds - no gap, no duplicate seq, no state that was never journaled."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from redis_servers import RedisServer

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.cluster.node import ClusterNode, open_cluster_journal
from ctibridge.cluster.scripts import keys
from ctibridge.hub import Hub
from ctibridge.hub.connection import AppConnection
from ctibridge.settings import AuthSettings, Settings
from support.harness import wait_for

AGENT = "agent1"


def _frame(rid: str, label: str) -> str:
    frame = {"channel": "Amazon", "topic": "Agent", "subtopic": "UpdateState", "source": "app",
             "requestId": rid, "data": {"label": label}}  # fmt: skip
    if not rid:
        del frame["requestId"]
    return json.dumps(frame)


@contextlib.asynccontextmanager
async def _node(server: RedisServer, name: str) -> AsyncIterator[tuple[Hub, ClusterNode]]:
    """A hub and its cluster node in this process (a lease long enough that no lease round
    moves anything during the test: the test moves the lease)."""
    clock = ManualClock()
    journal = open_cluster_journal(server.url, name, 10_000, 86_400_000)
    hub = Hub(SimBackend(clock, seed=3, agents=1), clock,
              Settings(auth=AuthSettings(insecure=True)), journal=journal)  # fmt: skip
    node = ClusterNode(hub, server.url, name, lease_ms=60_000)
    await hub.start()
    try:
        yield hub, node
    finally:
        await hub.stop()


class _Seen:
    """What one in-process app has been sent, in order."""

    def __init__(self, conn: AppConnection) -> None:
        self.conn = conn
        self.messages: list[dict[str, Any]] = []

    def take(self) -> list[dict[str, Any]]:
        while not self.conn.outbox.empty():
            text = self.conn.outbox.get_nowait()
            assert text is not None
            self.messages.append(json.loads(text))
        return self.messages

    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.take() if "seq" in m]


def _label(message: dict[str, Any]) -> str | None:
    """The agent state an Agent StateSync or a SetAgentState shows."""
    if message.get("topic") == "Agent" and message["subtopic"] in ("StateSync", "SetAgentState"):
        return str(message["message"]["rules"]["ResponseActual"]["name"])
    return None


def _journal(r: redis.Redis) -> list[dict[str, Any]]:
    rows: Any = r.xrange(keys(AGENT)[2])  # (id, {field: value}) with bytes (no decoding)
    return [json.loads(fields[b"d"]) for _, fields in rows]


@pytest.mark.parametrize("attached", ["same tick", "commit under way"])
async def test_a_lease_moves_while_a_new_apps_statesync_waits_behind_the_commit(
    redis_server: RedisServer, attached: str
) -> None:
    r = redis.Redis.from_url(redis_server.url)
    async with (
        _node(redis_server, "a") as (hub_a, node_a),
        _node(redis_server, "b") as (
            hub_b,
            node_b,
        ),
    ):
        assert node_a.owns(AGENT) and not node_b.owns(AGENT)
        old = _Seen(hub_a.attach(AGENT, app="old"))  # an app of the owner from before
        on_b = _Seen(hub_b.attach(AGENT, app="b"))
        await wait_for(lambda: bool(old.take()) and bool(on_b.take()), "the StateSyncs", timeout=5)
        initial = _label(old.take()[0])  # (nothing journaled yet)
        assert initial == "Available" and r.xlen(keys(AGENT)[2]) == 0
        # a partition: node a's lease expires unseen and node b takes the agent
        r.delete(keys(AGENT)[0])
        node_b._take(AGENT)
        await wait_for(lambda: node_b.owns(AGENT), "node b owns the agent", timeout=5)
        head = int(r.hget(keys(AGENT)[1], "seq") or 0)
        # node a, still believing it owns the agent, runs a command (no requestId: at once),
        # and a new app of node a is sent its StateSync behind the commit of its events: held
        # with them (attached in the same tick), or behind them (attached while their commit
        # is under way)
        hub_a.receive(AGENT, old.conn.id, _frame("", "Break"))
        if attached == "commit under way":
            await wait_for(
                lambda: bool(hub_a._inflight), "node a's commit under way", timeout=5, poll=0
            )
        new = _Seen(hub_a.attach(AGENT, app="new"))
        assert hub_a.holds(AGENT) and not new.take()
        await wait_for(lambda: not node_a.owns(AGENT), "node a fenced", timeout=5)
        await wait_for(lambda: bool(new.take()), "the new app's StateSync", timeout=5)
        assert int(r.hget(keys(AGENT)[1], "seq") or 0) == head  # nothing of node a's written
        # the new owner goes on: its events reach the apps of both nodes
        hub_b.receive(AGENT, on_b.conn.id, _frame("r-b1", "Lunch"))
        await wait_for(
            lambda: any(m.get("requestId") == "r-b1" for m in on_b.take()), "r-b1", timeout=5
        )
        hub_b.receive(AGENT, on_b.conn.id, _frame("r-b2", "Available"))
        await wait_for(
            lambda: any(m.get("requestId") == "r-b2" for m in on_b.take()), "r-b2", timeout=5
        )
        journal: list[dict[str, Any]] = []

        def delivered() -> bool:
            journal[:] = _journal(r)
            return bool(journal) and all(
                app.events() and app.events()[-1]["seq"] == journal[-1]["seq"]
                for app in (old, new, on_b)
            )

        await wait_for(delivered, "the journal's last event on every app", timeout=5)
        by_seq = {e["seq"]: e for e in journal}
        for name, app in (("old", old), ("new", new), ("b", on_b)):
            seqs = [m["seq"] for m in app.events()]
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), f"{name}: a gap or a duplicate"
            assert [by_seq.get(s) for s in seqs] == app.events(), f"{name}: not the journal's"
        # the new app: its StateSync first, the journal's state just before its first event
        # (node a's "Break" was never journaled), then every event after it
        messages = new.take()
        assert messages[0]["subtopic"] == "StateSync" and "seq" not in messages[1]
        first = new.events()[0]["seq"]
        before = [_label(e) for e in journal if e["seq"] < first and _label(e)]
        assert _label(messages[0]) == (before[-1] if before else initial), (messages, journal)
        assert [_label(e) for e in journal if _label(e)] == ["Lunch", "Available"]
    r.close()
