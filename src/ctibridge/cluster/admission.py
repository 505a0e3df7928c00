"""A cluster node's commands for the agents it owns: each is run now, refused (its requestId a
duplicate, or Redis unreachable so that it cannot be recorded), or queued behind its agent's
commands waiting - for the agent's lease being taken over (its journal read: the requestIds
recorded before are known then), or for its own requestId's record to be durable.

A command's ``requestId`` is recorded in its agent's fenced append (``journal.remember``), so
only the lease holder records one, and the owner's copy (read when it takes the lease) is
authoritative: a duplicate is refused without asking Redis.  With a backend whose effects live
in the journal too (the simulator: its world is saved with the snapshot) the record goes with
the command's own events - both durable or neither; with one whose effects are outside
(Streams, Connect) the record is made durable first (one commit for the queue's batch) and the
command runs after: a retry after a crash is refused, never run twice."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, NamedTuple

import redis

from ..hub import cluster_seam
from ..hub.cluster_seam import CLUSTER_UNAVAILABLE
from ..hub.tick import at_tick_end
from ..protocol.registry import QUERIES
from ..protocol.requests import Request
from .clients import Bursts

if TYPE_CHECKING:
    from .node import ClusterNode

DUPLICATE = "duplicate requestId: not carried out again"
# the verdicts that refuse a command: its code, why (logged)
REFUSALS: dict[str, tuple[str, str | None]] = {
    "duplicate": (DUPLICATE, None),
    "unavailable": (CLUSTER_UNAVAILABLE, "Redis unreachable: its requestId cannot be recorded"),
}


class Command(NamedTuple):
    """A command for an agent this node owns (or is taking over)."""

    login: str
    origin: str  # a connection of this node, or "<node>|<connection>" of another
    request: Request
    app: str


def recorded(request: Request) -> bool:
    """Is the command's requestId recorded (a command, with one)?"""
    return bool(request.request_id) and request.subtopic not in QUERIES


class Admission:
    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self._queue: Bursts[Command] = Bursts()
        self._waiting: dict[str, int] = {}  # login -> its commands in the queue

    def waits(self, login: str) -> bool:
        """Are commands of ``login`` in the queue?"""
        return bool(self._waiting.get(login))

    def clear(self, c: Command) -> bool:
        """True when the hub may run ``c`` now (nothing of its agent waits before it; its
        requestId, if any, new and remembered, to be recorded with its events); else it was
        refused, or waits in the queue."""
        node = self.node
        if self.waits(c.login) or not node.owns(c.login) or (
            recorded(c.request) and not node.records_with_events
        ):  # fmt: skip
            node._expect(c.origin)
            self._admit(c)
            return False
        verdict = self._verdict(c)
        if verdict == "run":
            return True
        node._expect(c.origin)
        node._refuse(c.login, c.origin, c.request, *REFUSALS[verdict])
        return False

    def _verdict(self, c: Command) -> str:
        """A command's fate on its owner: "run", "duplicate", "unavailable" (Redis is not
        there: a command whose requestId cannot be recorded is not carried out), or "wait"
        (its requestId remembered now, to be durable before it runs)."""
        node, rid = self.node, c.request.request_id
        if not rid or not recorded(c.request) or not node.owns(c.login):
            return "run"  # (a lost lease is refused by the queue)
        if node.journal.remembers(c.login, rid):
            return "duplicate"
        if not node.journal.reachable:
            return "unavailable"
        if node.hub.journal_error is not None:
            return "run"  # refused by the hub (its journal failing): not carried out
        node.journal.remember(c.login, rid)
        return "run" if node.records_with_events else "wait"

    def _admit(self, command: Command) -> None:
        self._waiting[command.login] = self._waiting.get(command.login, 0) + 1
        self._queue.put(command)

    async def run(self) -> None:
        """Run the queued commands in the order they came: those of an agent being taken
        over once its journal is read, those whose requestId must be durable first once a
        commit made it so (one for the batch)."""
        node = self.node
        while True:
            batch = await self._queue.take()
            for c in batch:
                adopting = node._adopting.get(c.login)
                if adopting is not None:  # the lease is ours, the journal read under way
                    await adopting.wait()
            verdicts = [self._verdict(c) for c in batch]
            failure = await self._durable() if "wait" in verdicts else None
            for c, verdict in zip(batch, verdicts, strict=True):
                self._waiting[c.login] -= 1
                if not self._waiting[c.login]:
                    del self._waiting[c.login]
                if verdict in REFUSALS:
                    node._refuse(c.login, c.origin, c.request, *REFUSALS[verdict])
                elif not node.owns(c.login):  # the lease moved on meanwhile
                    if verdict == "wait" and failure is None:  # recorded, not carried out:
                        await self._forget(c)  # a retry with its requestId may be
                    node._refuse(c.login, c.origin, c.request, CLUSTER_UNAVAILABLE, "lease lost")
                elif verdict == "wait" and failure is not None:  # not carried out: its retry
                    node.journal.forget(c.login, c.request.request_id or "")  # may be
                    node._refuse(c.login, c.origin, c.request, CLUSTER_UNAVAILABLE, failure)
                else:
                    cluster_seam.run(node.hub, c.login, c.origin, c.request, c.app)
                    node._done(c.origin)

    async def _durable(self) -> Exception | None:
        """Wait for the next commit (the requestIds remembered now ride in it): None, or why
        it failed."""
        node = self.node
        future = node.journal.durable()
        if not at_tick_end(node.hub.flush):  # (with the steps of this tick)
            node.hub.flush()
        try:
            await future
        except Exception as e:
            if isinstance(e, redis.ConnectionError | redis.TimeoutError):
                node._unreachable(e)
            return e
        return None

    async def _forget(self, c: Command) -> None:
        """Drop the record of a requestId whose command was refused before it ran, so that the
        app's retry is carried out instead of refused as a duplicate (if Redis does not answer,
        the record expires; the retry is refused meanwhile, never run twice)."""
        with contextlib.suppress(redis.RedisError):
            await self.node.journal.unrecord(c.login, c.request.request_id or "")
