"""connect/hybrid in a cluster: one Agent Event Stream reader per Kinesis shard across the
nodes, its lease and checkpoint in Redis, every record passed on to every node.  Two nodes (hub +
ClusterNode + ConnectBackend) in this process - the Connect API is a botocore Stubber, which
cannot cross a process boundary - on a real redis-server and moto's Kinesis server.  A node
"dies" by losing every task at once (no lease released); the other takes its shards within
lease_ms + 1 s and reads on from the Redis checkpoint: no record lost, none read twice, every
state change journaled once."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from botocore.config import Config
from moto.server import ThreadedMotoServer
from redis_servers import RedisServer
from test_nodes import wait_for

from ctibridge.backends.connect import ConnectApi, ConnectBackend
from ctibridge.clock import RealClock
from ctibridge.cluster.aes import SharedConsumer
from ctibridge.cluster.lease import preferred
from ctibridge.cluster.node import ClusterNode, open_cluster_journal
from ctibridge.cluster.scripts import keys
from ctibridge.config import ConnectConfig, RateLimit
from ctibridge.hub import Hub
from support.aes_records import T0, record, stubbed_connect
from support.hub import insecure

LEASE_MS = 600
USERS = [f"u-{n:03d}" for n in range(1, 7)]
LOGINS = {f"agent{n}": u for n, u in enumerate(USERS, 1)}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def kinesis(aws_env: None) -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto's state is the process's: the stream of an earlier test of this file is gone
    reset = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=5).close()
    client = boto3.client(
        "kinesis", region_name="us-east-1", endpoint_url=f"http://{host}:{port}",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )  # fmt: skip
    client.create_stream(StreamName="aes", ShardCount=2)
    client.get_waiter("stream_exists").wait(StreamName="aes", WaiterConfig={"Delay": 0.1})  # type: ignore[typeddict-item]
    yield client
    server.stop()


class Member:
    """One node: a hub on a ConnectBackend, its ClusterNode."""

    def __init__(self, name: str, redis_url: str, kinesis: Any) -> None:
        connect, self.stubber = stubbed_connect(USERS)
        config = ConnectConfig(
            region="us-east-1", instance_id="aaaaaaaa-bbbb-cccc-dddd-111111111111",
            agents=LOGINS, rate=RateLimit(rate=1000, burst=1000), poll_seconds=0.05,
            start_position="TRIM_HORIZON", kinesis_stream="aes",
        )  # fmt: skip
        self.backend = ConnectBackend(
            RealClock(), config, ConnectApi(connect, config), kinesis=kinesis
        )
        journal = open_cluster_journal(redis_url, name, 10_000, 86_400_000)
        self.hub = Hub(self.backend, RealClock(), insecure(), journal=journal)
        self.node = ClusterNode(self.hub, redis_url, name, LEASE_MS)
        self.name = name

    @property
    def consumer(self) -> SharedConsumer:
        assert isinstance(self.backend.consumer, SharedConsumer)
        return self.backend.consumer

    def die(self) -> None:
        """Every task gone at once, nothing released (as kill -9)."""
        self.consumer.stop()
        for task in [*self.node._tasks, *self.hub._tasks]:
            task.cancel()


def put(kinesis: Any, *records: dict[str, Any]) -> None:
    for rec in records:
        data = json.dumps(rec).encode()
        kinesis.put_record(StreamName="aes", Data=data, PartitionKey=rec["AgentARN"])


def states(r: redis.Redis, login: str) -> list[str]:
    """The agent's journaled SetAgentState labels, in seq order (seqs checked consecutive)."""
    rows: Any = r.xrange(keys(login)[2])
    events = [json.loads(f[b"d"]) for _, f in rows]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    changes = [e for e in events if e["subtopic"] == "SetAgentState"]
    return [json.dumps(e["message"]) for e in changes]


async def shut(members: list[Member], r: redis.Redis, server: RedisServer) -> None:
    """The end of a test: every member's stubber off and hub stopped, then Redis."""
    for m in members:
        m.stubber.deactivate()
    for m in members:
        if m.hub.started:
            await m.hub.stop()
    r.close()
    server.stop()


async def test_a_shard_reader_dies_and_another_node_reads_on(tmp_path: Path, kinesis: Any) -> None:
    server = RedisServer(tmp_path / "redis").start()
    r = redis.Redis(port=server.port, socket_timeout=2)
    members = [Member(name, server.url, kinesis) for name in ("n1", "n2")]
    try:
        for m in members:
            await m.hub.start()
        shards = {str(s["ShardId"]) for s in kinesis.list_shards(StreamName="aes")["Shards"]}
        # each shard has exactly one reader across the cluster
        await wait_for(
            lambda: sorted(s for m in members for s in m.consumer.held) == sorted(shards),
            10, "every shard read by one node",
        )  # fmt: skip
        at = T0 + timedelta(seconds=1)
        put(kinesis, *(record(u, "STATE_CHANGE", "Break", at=at) for u in USERS))
        # every node's backend has every record, whichever node read it
        for m in members:
            await wait_for(lambda m=m: m.backend.stats["state_change"] == 6, 10, "the records")
        for login in LOGINS:
            await wait_for(lambda x=login: any("Break" in s for s in states(r, x)), 10, "Break")
        victim = max(members, key=lambda m: len(m.consumer.held))
        survivor = next(m for m in members if m is not victim)
        killed_at = time.monotonic()
        victim.die()
        await wait_for(lambda: survivor.consumer.held.keys() == shards, 10, "the takeover")
        assert time.monotonic() - killed_at <= LEASE_MS / 1000 + 1
        at = T0 + timedelta(seconds=5)
        put(kinesis, *(record(u, "STATE_CHANGE", "Lunch", at=at) for u in USERS))
        await wait_for(lambda: survivor.backend.stats["state_change"] == 12, 10, "new records")
        # read on from the checkpoint: nothing the survivor had already seen was read again
        assert survivor.backend.stats["duplicates"] == 0, survivor.backend.stats
        assert survivor.consumer.stats["malformed"] == 0
        for login in LOGINS:  # the survivor owns every agent now, and journaled the change once
            await wait_for(lambda x=login: any("Lunch" in s for s in states(r, x)), 10, "Lunch")
            labels = states(r, login)
            assert sum("Lunch" in s for s in labels) == 1, labels
            assert sum("Break" in s for s in labels) == 1, "\n".join(labels)
    finally:
        await shut(members, r, server)


async def test_a_node_adopting_an_agent_before_the_record_reaches_it_journals_no_regression(
    tmp_path: Path, kinesis: Any
) -> None:
    """The owner journaled a state change its shard reader passed on, then died; the node that
    adopts the agent has not had that record yet (it is on its way): the journal's state stands
    - no "Break", "Available", "Break" back and forth once the record comes."""
    server = RedisServer(tmp_path / "redis").start()
    r = redis.Redis(port=server.port, socket_timeout=2)
    members = [Member(name, server.url, kinesis) for name in ("n1", "n2")]
    try:
        for m in members:
            await m.hub.start()
        login = "agent1"
        victim = next(m for m in members if m.name == preferred(login, ["n1", "n2"]))
        await wait_for(  # (where it belongs with both nodes live: no hand-over to come)
            lambda: victim.node.owns(login) and len(victim.node.live) == 2, 10, "its owner"
        )  # fmt: skip
        survivor = next(m for m in members if m is not victim)
        change = record(LOGINS[login], "STATE_CHANGE", "Break", at=T0 + timedelta(seconds=1))
        await victim.backend.apply_record(change)  # read by the victim: not passed on yet
        await wait_for(lambda: any("Break" in s for s in states(r, login)), 10, "Break")
        victim.die()
        await wait_for(lambda: survivor.node.owns(login), 10, "the takeover")
        await survivor.backend.apply_record(change)  # ... and here it comes
        await survivor.hub.flushed()
        assert [json.loads(s)["event"] for s in states(r, login)] == ["Break"]
    finally:
        await shut(members, r, server)
