"""RequestIds on an agent's owner (``ClusterNode._clear``/``_verdict``, ``RedisJournal.remember``):
a command's requestId is recorded in its agent's fenced append, with the command's own events
(the simulator); the owner refuses a duplicate without asking Redis; a command whose
requestId cannot be recorded (Redis unreachable) is refused, never carried out, and may be
sent again; a node that takes the agent over knows every requestId recorded before.  Two
in-process nodes on a real redis-server."""

from __future__ import annotations

from typing import Any

import redis
from redis_servers import RedisServer
from test_lease_move import AGENT, _frame, _node, _Seen

from ctibridge.cluster.scripts import keys, rids_key
from support.harness import wait_for


def _answers(app: _Seen, rid: str) -> list[dict[str, Any]]:
    return [m for m in app.take() if m.get("requestId") == rid]


async def test_request_ids_are_recorded_with_their_events_and_known_to_the_next_owner(
    redis_server: RedisServer,
) -> None:
    r = redis.Redis.from_url(redis_server.url)
    async with _node(redis_server, "a") as (hub_a, node_a), _node(redis_server, "b") as (
        hub_b, node_b,
    ):  # fmt: skip
        assert node_a.owns(AGENT) and node_a.records_with_events
        app = _Seen(hub_a.attach(AGENT, app="app"))
        await wait_for(lambda: bool(app.take()), "the StateSync", timeout=5)

        hub_a.receive(AGENT, app.conn.id, _frame("r1", "Break"))
        await wait_for(lambda: bool(_answers(app, "r1")), "r1's events", timeout=5)
        head = int(r.hget(keys(AGENT)[1], "seq") or 0)
        assert r.zscore(rids_key(AGENT), "r1") is not None  # with the events, in one append
        assert "SetAgentState" in [m["subtopic"] for m in _answers(app, "r1")]

        # the same requestId again: refused on the owner, nothing carried out or journaled
        hub_a.receive(AGENT, app.conn.id, _frame("r1", "Available"))
        await wait_for(lambda: _answers(app, "r1")[-1]["subtopic"] == "Error", "the refusal",
                       timeout=5)  # fmt: skip
        refusal = _answers(app, "r1")[-1]
        assert refusal["subtopic"] == "Error", refusal
        assert refusal["message"]["code"] == "duplicate requestId: not carried out again"
        await hub_a.flushed()
        assert int(r.hget(keys(AGENT)[1], "seq") or 0) == head

        # Redis unreachable (as the node last found it): refused at once, not remembered
        node_a.journal.mark(False, "ConnectionError: test")
        hub_a.receive(AGENT, app.conn.id, _frame("r2", "Available"))
        await wait_for(lambda: bool(_answers(app, "r2")), "the refusal", timeout=5)
        assert _answers(app, "r2")[0]["message"]["code"] == "cluster unavailable"
        assert not node_a.journal.remembers(AGENT, "r2")
        node_a.journal.mark(True)  # ... back: the same requestId is carried out
        hub_a.receive(AGENT, app.conn.id, _frame("r2", "Available"))
        await wait_for(lambda: len(_answers(app, "r2")) > 1, "r2's events", timeout=5)
        assert "SetAgentState" in [m["subtopic"] for m in _answers(app, "r2")[1:]]
        await hub_a.flushed()
        head = int(r.hget(keys(AGENT)[1], "seq") or 0)
        assert {m for m in r.zrange(rids_key(AGENT), 0, -1)} == {b"r1", b"r2"}

        # node b takes the agent over: it knows both requestIds before it runs anything
        await node_a.stop()  # (releases the lease at once)
        await node_b._claim_round()
        await wait_for(lambda: node_b.owns(AGENT), "the takeover", timeout=5)
        assert node_b.journal.remembers(AGENT, "r1") and node_b.journal.remembers(AGENT, "r2")
        on_b = _Seen(hub_b.attach(AGENT, app="b"))
        await wait_for(lambda: bool(on_b.take()), "the StateSync on b", timeout=5)
        hub_b.receive(AGENT, on_b.conn.id, _frame("r1", "Lunch"))  # a retry after a failover
        await wait_for(lambda: bool(_answers(on_b, "r1")), "the refusal on b", timeout=5)
        assert _answers(on_b, "r1")[0]["message"]["code"].startswith("duplicate requestId")
        await hub_b.flushed()
        assert int(r.hget(keys(AGENT)[1], "seq") or 0) == head  # nothing carried out again
    r.close()
