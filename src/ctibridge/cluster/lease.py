"""Agent leases: who owns an agent, and the fencing epoch that proves it (scripts.LEASE).

A lease lives ``lease_ms`` in Redis; its holder renews it every third of that.  A node that
dies stops renewing, the key expires, and the next node that tries takes the agent with a new
epoch: within ``lease_ms`` + one renewal period.
"""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import redis.asyncio as aredis

from .scripts import LEASE, RELEASE, keys


class Lease(NamedTuple):
    held: bool  # by the caller
    fresh: bool  # newly acquired (the caller must reload the agent before acting for it)
    epoch: int
    holder: str


class Leases:
    """On the asyncio client (``redis.asyncio``): a lease round never blocks the event loop."""

    def __init__(self, client: Any, node_id: str, lease_ms: int) -> None:
        self.client = client
        self.node_id = node_id
        self.lease_ms = lease_ms
        self._lease = client.register_script(LEASE)
        self._release = client.register_script(RELEASE)
        self.sharded = isinstance(client, aredis.RedisCluster)

    async def claim(self, login: str, epoch: int = 0) -> Lease:
        """Renew our lease on ``login`` (the ``epoch`` we hold), or take it if it is free."""
        lease, meta, _ = keys(login)
        result = await self._lease(keys=[lease, meta], args=[self.node_id, self.lease_ms, epoch])
        return self._parse(result)

    async def claim_many(self, claims: list[tuple[str, int]]) -> list[Lease]:
        """:meth:`claim` for every (login, epoch): one pipelined round trip (concurrent calls
        on a Redis Cluster, whose pipelines take no scripts)."""
        if self.sharded:
            return list(await asyncio.gather(*(self.claim(*c) for c in claims)))
        pipe = self.client.pipeline(transaction=False)
        for login, epoch in claims:
            lease, meta, _ = keys(login)
            await self._lease(
                keys=[lease, meta], args=[self.node_id, self.lease_ms, epoch], client=pipe
            )
        return [self._parse(result) for result in await pipe.execute()]

    def _parse(self, result: Any) -> Lease:
        status, got = int(result[0]), int(result[1])
        if status == 0:
            holder = result[2].decode() if isinstance(result[2], bytes) else str(result[2])
            return Lease(False, False, got, holder)
        return Lease(True, status == 2, got, self.node_id)

    async def release(self, login: str, epoch: int) -> bool:
        lease, _, _ = keys(login)
        return bool(await self._release(keys=[lease], args=[self.node_id, epoch]))
