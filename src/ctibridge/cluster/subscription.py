"""A cluster node's one pub/sub connection: its own channel, the AES channel, and the events
channel of each agent it *follows* - one it serves (has a session of) but does not own.

The append script publishes an agent's events on that agent's channel alone
(:func:`~.scripts.events_channel`), so the owner no longer gets its own events back: measured
under cProfile (CPU clock) that was 10-14 % of a 1-node cluster's CPU, every append parsed by
redis-py's pub/sub reader and dropped.  A node follows an agent from when it stops owning it
(start-up, a lost lease, a hand-over) and stops when it adopts it.

Nothing is missed across a change: once Redis confirms a subscription (the ``subscribe``
reply, read in order with the messages), the agent is caught up from its stream - every
event published before the subscription took is in the stream, every one after comes as a
message, and :func:`~.fanout.catch_up` / :func:`~.fanout.on_events` send each ``seq`` once.
The subscribe and unsubscribe commands are sent by one task, in the order the changes came.
A lost connection subscribes anew to every followed agent (and catches each up)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis

from . import fanout
from .aes import AES_CHANNEL
from .clients import still_wanted
from .scripts import events_channel, events_login

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ctibridge.cluster")

RETRY_S = 0.25


class Subscription:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.ready = asyncio.Event()  # subscribed (the node's own channel at least)
        self.following: set[str] = set()  # the agents whose events this node wants
        self._asked: set[str] = set()  # ... and those it has sent SUBSCRIBE for
        self._changed = asyncio.Event()

    def follow(self, login: str) -> None:
        """Get ``login``'s events from now on (a follower again), and what was journaled
        before: caught up once Redis confirms the subscription (if it was asked for already,
        the caller catches up: the messages of an owned agent are dropped)."""
        self.following.add(login)
        if login not in self._asked:
            self._changed.set()

    def unfollow(self, login: str) -> None:
        """This node owns ``login`` now: no more of its events (they are its own)."""
        self.following.discard(login)
        if login in self._asked:
            self._changed.set()

    async def run(self) -> None:
        """Subscribe, for ever, on a connection of its own: after a lost connection every
        followed agent catches up from the journal."""
        node = self.node
        while True:
            still_wanted()
            client = aredis.Redis.from_url(node.url, socket_connect_timeout=1)
            sync: asyncio.Task[None] | None = None
            try:
                pubsub = client.pubsub()
                sessions = node.hub.engine.sessions
                self.following = {x for x in sessions if not node.owns(x)}
                self._asked = set(self.following)
                channels = [events_channel(x) for x in self._asked]
                await pubsub.subscribe(node.channel, AES_CHANNEL, *channels)
                self.ready.set()
                sync = asyncio.get_running_loop().create_task(self._sync(pubsub))
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        await node.dispatch(message["channel"], message["data"])
                    elif kind == "subscribe":
                        login = events_login(message["channel"])
                        if login is not None:
                            await self._subscribed(login)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.ready.clear()
                log.warning("cluster subscription lost: %s", e, extra={"kind": "cluster"})
                await asyncio.sleep(RETRY_S)
            finally:
                if sync is not None:
                    sync.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await sync
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _subscribed(self, login: str) -> None:
        if login in self.following and not self.node.owns(login):
            await fanout.catch_up(self.node, login)  # (a RedisError: subscribed anew)

    async def _sync(self, pubsub: Any) -> None:
        """Send what changed in :attr:`following` since the last time: in order, one task."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            add, drop = self.following - self._asked, self._asked - self.following
            self._asked = set(self.following)
            if add:
                await pubsub.subscribe(*(events_channel(x) for x in add))
            if drop:
                await pubsub.unsubscribe(*(events_channel(x) for x in drop))
