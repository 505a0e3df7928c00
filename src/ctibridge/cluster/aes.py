"""The Agent Event Stream in a cluster (``connect``/``hybrid``): one reader per Kinesis shard
across the cluster, its lease and checkpoint in Redis, every record passed on to every node.

* **Shard leases.** A shard is leased like an agent (:data:`~.scripts.LEASE`, key hash tag
  ``{aes:<stream>:<shard>}``) and belongs to the live node its rendezvous hash picks; a node
  reads only the shards it holds.  A node that dies stops renewing: another takes the shard
  within ``lease_ms`` + one renewal and reads on from the checkpoint.
* **Checkpoints** live in the shard's meta hash, written (fenced by the shard lease's epoch,
  :data:`~.scripts.CHECKPOINT`) in the same pipelined round trip that publishes the batch, after
  the batch was handled - a crash replays at most that batch, which every node's backend drops
  as duplicates (by EventId).
* **Records go to every node** (channel ``ctib:aes``), not only the agent's owner: each node's
  backend keeps every agent's state current, so a node that adopts an agent starts from the
  truth, and the owner's hub turns the change into events (the others' hubs ignore snapshots of
  agents they do not own).  The same record may reach a node twice (a replay): dropped there.

Resharding across nodes is not handled: a child shard is opened by the node that read its
parents to their end (``AesConsumer._open_shards``), so after a reshard keep one node reading
until the parents are closed, or restart the nodes (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import redis

from ..backends.connect.kinesis import AesConsumer, Checkpoints, RecordHandler
from .lease import preferred
from .scripts import CHECKPOINT, PREFIX, keys

if TYPE_CHECKING:
    from .node import ClusterNode

AES_CHANNEL = f"{PREFIX}:aes"


class RedisCheckpoints(Checkpoints):
    """The shard checkpoints this node has read: in memory, loaded from Redis when it takes a
    shard, written back by :meth:`SharedConsumer.flush`."""

    def __init__(self, stream: str) -> None:
        super().__init__(None, stream)
        self.dirty: set[str] = set()

    def set(self, shard_id: str, sequence: str) -> None:
        super().set(shard_id, sequence)
        self.dirty.add(shard_id)

    def load(self, shard_id: str, sequence: str | None) -> None:
        shards = self._all.setdefault(self.stream, {})
        if sequence is None:
            shards.pop(shard_id, None)
        else:
            shards[shard_id] = sequence
        self.dirty.discard(shard_id)


class SharedConsumer(AesConsumer):
    # a Redis error (a lease round, a checkpoint) loses no record: the batch is read again
    # from the last checkpoint written; without this the reader would stop for good
    transient = (*AesConsumer.transient, redis.RedisError)

    def __init__(
        self,
        node: ClusterNode,
        client: Any,
        stream: str,
        handle: RecordHandler,
        checkpoints: Checkpoints,
        **options: Any,
    ) -> None:
        self.node = node
        self.apply = handle
        self.shared = RedisCheckpoints(stream)
        super().__init__(client, stream, self._handle, self.shared, **options)
        self.held: dict[str, int] = {}  # shard -> the epoch of this node's lease
        self._free: set[str] = set()  # shards whose lease was free, and left so, last round
        self._claimed_at = 0.0
        self._batch: list[bytes] = []
        self._checkpoint = node.client.register_script(CHECKPOINT)

    def reads(self, shard_id: str) -> bool:
        return shard_id in self.held

    def _lease_name(self, shard_id: str) -> str:
        return f"aes:{self.stream}:{shard_id}"

    async def _handle(self, record: Mapping[str, Any]) -> None:
        self._batch.append(json.dumps(record).encode())
        await self.apply(record)

    async def poll(self) -> int:
        if time.monotonic() - self._claimed_at >= self.node.lease_ms / 3000:
            await self.claim()
        handled = await super().poll()
        await self.flush()
        return handled

    async def claim(self) -> None:
        """Renew this node's shard leases, take its own free ones (or any left free a whole
        round), hand the others over; a shard taken is read on from its Redis checkpoint."""
        self._claimed_at = time.monotonic()
        if not self._shard_list:  # (listed again by the first poll: a first listing)
            self._shard_list = await self._shards()
        shards = [str(s["ShardId"]) for s in self._shard_list]
        names = [self._lease_name(s) for s in shards]
        live, me = self.node.live, self.node.node_id
        claims = [
            (name, self.held.get(s, 0), preferred(name, live) == me or s in self._free)
            for s, name in zip(shards, names, strict=True)
        ]
        try:
            leases = await self.node.leases.claim_many(claims)
        except redis.RedisError:
            self.held.clear()  # no lease renewed: read nothing until Redis answers
            raise
        self._free = {s for s, lease in zip(shards, leases, strict=True) if not lease.holder}
        for shard, name, lease in zip(shards, names, leases, strict=True):
            if lease.held and (lease.fresh or self.held.get(shard) != lease.epoch):
                stored = await self.node.client.hget(keys(name)[1], "checkpoint")
                self.shared.load(shard, stored.decode() if stored else None)
                self._iterators.pop(shard, None)  # opened again from that checkpoint
                self.held[shard] = lease.epoch
            elif not lease.held and shard in self.held:
                del self.held[shard]
                self._iterators.pop(shard, None)
        for shard in [s for s in self.held if preferred(self._lease_name(s), live) != me]:
            # between polls: everything read from it is handled and checkpointed
            await self.node.leases.release(self._lease_name(shard), self.held.pop(shard))
            self._iterators.pop(shard, None)

    async def release(self) -> None:
        """Give every shard up (the node stops): the others take them at their next round."""
        held, self.held = dict(self.held), {}
        for shard, epoch in held.items():
            with contextlib.suppress(redis.RedisError):
                await self.node.leases.release(self._lease_name(shard), epoch)

    async def flush(self) -> None:
        """Publish the records of this poll to every node and write the checkpoints: one round
        trip (a pipeline)."""
        batch, self._batch = self._batch, []
        dirty = [s for s in self.shared.dirty if s in self.held]
        self.shared.dirty.clear()
        if not batch and not dirty:
            return
        pipe = (
            self.node.client.pipeline(transaction=False) if not self.node.journal.sharded else None
        )
        calls: list[Awaitable[Any]] = []
        if batch:
            message = msgspec.msgpack.encode([self.node.node_id, batch])
            if pipe is not None:
                pipe.publish(AES_CHANNEL, message)
            else:
                calls.append(self.node.publisher.publish(AES_CHANNEL, message))
        for shard in dirty:
            name = self._lease_name(shard)
            lease, meta, _ = keys(name)
            args = [self.node.node_id, self.held[shard], self.shared.get(shard) or ""]
            calls.append(self._checkpoint(keys=[lease, meta], args=args, client=pipe))
        for call in calls:
            await call
        if pipe is not None:
            await pipe.execute()


async def apply_published(node_id: str, apply: RecordHandler, data: bytes) -> None:
    """Records another node's shard reader published: into this node's backend."""
    sender, batch = msgspec.msgpack.decode(data)
    if sender == node_id:
        return  # applied when read
    for raw in batch:
        await apply(json.loads(raw))
