"""The Streams bridge page may connect to any node: with ``--backend streams`` the agent's lease
moves to the node its bridge is on (the backend link must be on the owner), and apps on every
node drive the agent through it.  Real node processes on a real redis-server; the bridge is
driven over its socket protocol (``backends/streams/wire.py``) by a scripted page - no browser:
what is under test is where the cluster puts the agent, not amazon-connect-streams (which the
browser tests, tests/browser, run against the fake CCP)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis
import websockets
from nodes import Node
from redis_servers import RedisServer
from test_nodes import App, answered, check_streams, cluster, owner, settle, wait_for

AGENT = "agent1"
STATES = [("Available", "routable"), ("Break", "not_routable"), ("Offline", "offline")]


class Bridge:
    """A bridge page of AGENT on one node: reports a signed-in CCP and carries out SetState."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.state = "Available"
        self.commands: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._ws: Any = None

    async def open(self) -> Bridge:
        url = f"ws://127.0.0.1:{self.node.port}/bridge/ws?agent={AGENT}"
        self._ws = await websockets.connect(url)
        await self._ws.send(json.dumps({"type": "hello", "agent": AGENT}))
        entries = [{"name": n, "type": t} for n, t in STATES]
        await self._ws.send(
            json.dumps({"type": "directory", "states": entries, "queues": [], "endpoints": []})
        )
        await self._report()
        self._task = asyncio.create_task(self._serve())
        return self

    async def _report(self) -> None:
        kind = dict(STATES)[self.state]
        snapshot = {
            "state": {"name": self.state, "type": kind},
            "availability": {"state": self.state, "timeStamp": 1, "type": kind},
            "contacts": [],
            "snapshotTimestamp": 1,
            "configuration": {"username": AGENT, "name": AGENT},
        }
        await self._ws.send(json.dumps({"type": "snapshot", "snapshot": snapshot}))

    async def _serve(self) -> None:
        async def beat() -> None:
            while True:
                await asyncio.sleep(1)
                await self._ws.send(json.dumps({"type": "heartbeat"}))

        beating = asyncio.create_task(beat())
        try:
            async for frame in self._ws:
                message = json.loads(frame)
                if message["type"] == "resync":
                    await self._report()
                elif message["type"] == "command":
                    self.commands.append(message["action"])
                    self.state = message["action"]["state"]["label"]
                    await self._report()  # the effect first, then the result (as Streams)
                    await self._ws.send(json.dumps({"type": "result", "id": message["id"]}))
        finally:
            beating.cancel()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._ws.send(json.dumps({"type": "bye"}))
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


@contextlib.asynccontextmanager
async def streams_nodes(tmp_path: Path) -> AsyncIterator[tuple[list[Node], redis.Redis]]:
    server = RedisServer(tmp_path / "redis").start()
    config = tmp_path / "streams.toml"
    config.write_text(
        '[connect]\nccp_url = "https://ccp.invalid/ccp-v2"\n'
        '[bridge]\nagents = ["agent1", "agent2"]\n'
    )
    extra = ("--backend", "streams", "--config", str(config))
    try:
        async with cluster(server, tmp_path, count=2, agents=2, extra=extra) as started:
            yield started
    finally:
        server.stop()


async def test_the_bridge_may_connect_to_any_node(tmp_path: Path) -> None:
    async with streams_nodes(tmp_path) as (nodes, r):
        apps = [await App(nodes, i).open() for i in range(2)]
        first = next(n for n in nodes if n.name != owner(r))  # the bridge on a non-owner ...
        for bridge_node, label in ((first, "Break"), (next(n for n in nodes if n is not first),
                                                      "Available")):  # fmt: skip
            bridge = await Bridge(bridge_node).open()
            # ... takes the agent's lease to its node
            await wait_for(lambda n=bridge_node: owner(r) == n.name, 10, "the lease at the bridge")
            # an app on the other node drives the agent through it
            app = next(a for a in apps if a.node is not bridge_node)
            rid = await app.connected.send("Agent", "UpdateState", {"label": label})
            await wait_for(lambda a=app, rid=rid: answered(a, rid), 10, "the answer")
            assert not [e for e in app.errors if e.get("requestId") == rid], app.errors
            assert bridge.commands and bridge.commands[-1]["state"]["label"] == label
            await bridge.close()
        journal = await settle(apps, r)
        # both apps saw every event from the one they connected at (the same), once, in order
        first = apps[0].events[0]["seq"]
        assert all(a.events[0]["seq"] == first for a in apps)
        check_streams(apps, [e for e in journal if e["seq"] >= first], first)
        changes = json.dumps([e["message"] for e in journal if e["subtopic"] == "SetAgentState"])
        assert "Break" in changes, changes
