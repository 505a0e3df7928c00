"""The cluster on a local 3-master Redis Cluster (``redis-cli --cluster create``): every key of
an agent shares the hash tag ``{agent}``, so each agent's scripts run on the master of its
slot; apps on three nodes see identical streams, and a killed owner's agent is taken over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis
from nodes import Node
from redis_servers import RedisServer, create_cluster
from test_nodes import (
    LEASE_MS,
    check_streams,
    kill_owner,
    load,
    open_apps,
    owner,
    settle,
    wait_for,
)

from ctibridge.cluster.scripts import keys


async def test_nodes_on_a_redis_cluster(tmp_path: Path) -> None:
    servers = [RedisServer(tmp_path / f"r{i}", aof=False, cluster=True).start() for i in range(3)]
    nodes: list[Node] = []
    r = None
    try:
        await asyncio.to_thread(create_cluster, servers)
        r = redis.RedisCluster(host="127.0.0.1", port=servers[0].port, socket_timeout=2)
        # the agents' keys are spread over the masters, each agent's on one
        slots = {r.keyslot(k) for k in keys("agent1")}
        assert len(slots) == 1
        masters = {r.get_node_from_key(keys(f"agent{i}")[0]).port for i in range(1, 4)}
        assert len(masters) > 1
        # the nodes are given the first master only: agent1 lives on another one, so this
        # only works when the nodes follow the cluster's slot map
        assert r.get_node_from_key(keys("agent1")[0]).port != servers[0].port
        nodes = [Node(f"n{i}", servers[0].url, tmp_path, lease_ms=LEASE_MS) for i in (1, 2, 3)]
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            await asyncio.to_thread(node.wait_healthy)
        await wait_for(lambda: owner(r) is not None, 10, "an owner")
        apps = await open_apps(nodes)
        stop = asyncio.Event()
        sender = asyncio.create_task(load(apps, stop))
        await asyncio.sleep(1.0)
        _, takeover = await kill_owner(nodes, r)
        assert takeover <= LEASE_MS / 1000 + 1, takeover
        await asyncio.sleep(1.0)
        stop.set()
        sent = await sender
        journal = await settle(apps, r)
        check_streams(apps, journal)
        assert sent > 10 and len(journal) > 10
    finally:
        for node in nodes:
            node.kill()
        if r is not None:
            r.close()
        for server in servers:
            server.stop()
