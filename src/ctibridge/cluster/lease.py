"""Agent leases: who owns an agent, and the fencing epoch that proves it (scripts.LEASE).

A lease lives ``lease_ms`` in Redis; its holder renews it every third of that.  A node that
dies stops renewing, the key expires, and the next node that tries takes the agent with a new
epoch: within ``lease_ms`` + one renewal period.

Balancing: every node heartbeats into one sorted set (:data:`~.scripts.HEARTBEAT`, by Redis's
clock) and each agent *belongs* to the live node its Streams bridge page is connected to, or
else the live node that wins its rendezvous hash (:func:`preferred`): a node takes a free lease
only for its own agents (or one left free for a whole round, should its node not take it), and
hands the others over when their node is live.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import redis.asyncio as aredis

from .scripts import BRIDGES, HEARTBEAT, LEASE, NODES, RELEASE, keys


class Lease(NamedTuple):
    held: bool  # by the caller
    fresh: bool  # newly acquired (the caller must reload the agent before acting for it)
    epoch: int
    holder: str


def preferred(login: str, nodes: Iterable[str]) -> str:
    """The node ``login`` belongs to among ``nodes``: the highest rendezvous hash, so a node
    that joins or leaves moves only the agents that hash to it (about 1/N of them)."""
    return max(nodes, key=lambda node: (_weight(node, login), node))


def _weight(node: str, login: str) -> int:
    digest = hashlib.blake2b(f"{node}\0{login}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Leases:
    """On the asyncio client (``redis.asyncio``): a lease round never blocks the event loop."""

    def __init__(self, client: Any, node_id: str, lease_ms: int) -> None:
        self.client = client
        self.node_id = node_id
        self.lease_ms = lease_ms
        self._lease = client.register_script(LEASE)
        self._release = client.register_script(RELEASE)
        self._heartbeat = client.register_script(HEARTBEAT)
        self.sharded = isinstance(client, aredis.RedisCluster)

    async def claim(self, login: str, epoch: int = 0, take: bool = True) -> Lease:
        """Renew our lease on ``login`` (the ``epoch`` we hold), or take it if it is free (and
        ``take``)."""
        lease, meta, _ = keys(login)
        args = [self.node_id, self.lease_ms, epoch, int(take)]
        return self._parse(await self._lease(keys=[lease, meta], args=args))

    async def claim_many(self, claims: list[tuple[str, int, bool]]) -> list[Lease]:
        """:meth:`claim` for every (login, epoch, take): one pipelined round trip (concurrent
        calls on a Redis Cluster, whose pipelines take no scripts)."""
        if self.sharded:
            return list(await asyncio.gather(*(self.claim(*c) for c in claims)))
        pipe = self.client.pipeline(transaction=False)
        for login, epoch, take in claims:
            lease, meta, _ = keys(login)
            args = [self.node_id, self.lease_ms, epoch, int(take)]
            await self._lease(keys=[lease, meta], args=args, client=pipe)
        return [self._parse(result) for result in await pipe.execute()]

    async def heartbeat(
        self, alive: bool = True, bridged: Iterable[str] = ()
    ) -> tuple[list[str], dict[str, str]]:
        """Say this node is alive (or leaving) and which agents' bridge pages it has; the live
        nodes, and the node of every agent's bridge."""
        args = [self.node_id, self.lease_ms, int(alive), *bridged]
        nodes, flat = await self._heartbeat(keys=[NODES, BRIDGES], args=args)
        texts = [_text(x) for x in flat]
        return [_text(n) for n in nodes], dict(zip(texts[::2], texts[1::2], strict=True))

    def _parse(self, result: Any) -> Lease:
        status, got = int(result[0]), int(result[1])
        if status == 3:
            return Lease(False, False, 0, "")  # free, left so
        if status == 0:
            holder = result[2].decode() if isinstance(result[2], bytes) else str(result[2])
            return Lease(False, False, got, holder)
        return Lease(True, status == 2, got, self.node_id)

    async def release(self, login: str, epoch: int) -> bool:
        lease, _, _ = keys(login)
        return bool(await self._release(keys=[lease], args=[self.node_id, epoch]))
