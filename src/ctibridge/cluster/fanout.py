"""A cluster node's fan-out: the events the owner journaled, sent to this node's apps in
``seq`` order - from the published copy, or read from the agent's stream (a catch-up) when this
node missed some (a lost subscription, a lease that moved).  Functions of the
:class:`~.node.ClusterNode` in a room of their own."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..hub import cluster_seam
from .scripts import keys

if TYPE_CHECKING:
    from .node import ClusterNode

log = logging.getLogger("ctibridge.cluster")


async def catch_up(
    node: ClusterNode, login: str, until: int | None = None, state: bool = False
) -> bytes | None:
    """Send this node's apps the journaled events of ``login`` they have not had yet (up to
    ``until``); with ``state``, also read and return the agent's snapshot."""
    head = node.journal.heads.get(login, 0)
    _, meta, stream = keys(login)
    if node.journal.sharded:
        stored, snapshot = await node.client.hmget(meta, ["seq", "state"])
        rows = await node.client.xrange(stream, f"{head + 1}-0", "+")
    else:  # one round trip
        pipe = node.client.pipeline(transaction=False)
        pipe.hmget(meta, ["seq", "state"])
        pipe.xrange(stream, f"{head + 1}-0", "+")
        (stored, snapshot), rows = await pipe.execute()
    last = int(stored or 0) if until is None else until
    events = [(int(rid.split(b"-")[0]), bytes(fields[b"d"])) for rid, fields in rows]
    head = node.journal.heads.get(login, 0)  # what was sent meanwhile is not sent again
    newer = head > last  # (with a snapshot of their own: the one read here is older)
    events = [(seq, data) for seq, data in events if head < seq <= last]
    if events:
        last = max(last, events[-1][0])
    if last > head:
        if not events or events[0][0] != head + 1:
            log.warning("events dropped by retention before this node sent them",
                        extra={"agent": login, "kind": "cluster"})  # fmt: skip
        node.journal.heads[login] = last
        cluster_seam.follow(node.hub, login, events, None)
    return bytes(snapshot) if state and snapshot and not newer else None


async def on_events(
    node: ClusterNode, login: str, first: int, events: list[bytes], state: bytes
) -> None:
    if login not in node.hub.engine.sessions:
        return  # an agent this node does not serve
    head = node.journal.last_seq(login)
    last = first + len(events) - 1
    if node.owns(login):
        if last > max(head, node.journal.committing.get(login, 0)):  # another node appended
            # (not our commit under way, whose copy came before its answer): a newer lease
            node._lost(login)
        return  # else our own, already sent
    if last <= head:
        if not events and last == head and state:  # the owner's snapshot, no events
            cluster_seam.follow(node.hub, login, [], state)
        return
    if first > head + 1:  # a hole: messages were lost while the subscription was down
        await catch_up(node, login, first - 1)
        head = node.journal.heads.get(login, 0)
    fresh = [(first + i, data) for i, data in enumerate(events) if first + i > head]
    node.journal.heads[login] = max(last, head)
    cluster_seam.follow(node.hub, login, fresh, state or None)
