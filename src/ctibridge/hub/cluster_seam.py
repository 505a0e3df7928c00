"""The hub's side of cluster mode (``ctibridge.cluster``, docs/operations.md "Running a cluster").

A :class:`ClusterSeam` is what a cluster node decides for the hub: which agents this node owns,
which commands go to another node, which answers go back there.  The hub has none in
single-process mode (``Hub.cluster`` is None) and reaches the seam through one-line hooks; the
node calls back through :func:`adopt`, :func:`follow` and :func:`deliver`.  This module imports
no Redis client: the hub loads it whether or not the ``[cluster]`` extra is installed.

Functions of the :class:`~ctibridge.hub.core.Hub` in a room of their own, like ``journaling``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

from .. import protocol as p
from ..backends.base import Restores
from ..model import AgentSnapshot
from ..protocol.requests import Request
from ..protocol.wire import ErrorMessage
from . import journaling, steps

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("ctibridge.cluster")

# what the hub's refusals say while the cluster's journal (Redis) takes no writes
CLUSTER_UNAVAILABLE = "cluster unavailable"


class ClusterSeam(Protocol):
    """What a cluster node (``ctibridge.cluster.node``) decides for the hub."""

    @property
    def node_id(self) -> str:
        """This node's name in the cluster (``--node-id``)."""

    def owns(self, login: str) -> bool:
        """Does this node run ``login``'s engine session and backend link now?"""

    def route(self, login: str, origin: str, request: Request, app: str) -> bool:
        """True when the node has taken the command (sent it to the owner, or answered it)."""

    def reply(self, login: str, origin: str, envelope: p.Envelope) -> bool:
        """True when ``origin`` is an app of another node and the answer was sent there."""

    async def settled(self, origin: str) -> None:
        """Return once every answer a command of ``origin`` (an HTTP request of this node) caused
        at once is in: at once when it ran here, else when its owner said it ran (bounded)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def owned(hub: Hub, login: str) -> bool:
    """Does this hub run ``login``'s session (always, outside a cluster)?"""
    return hub.cluster is None or hub.cluster.owns(login)


def adopt(hub: Hub, login: str, shared_records: bool = False) -> None:
    """This node has just become ``login``'s owner: continue from the journal's seq and
    snapshot, and publish whatever the backend shows differently (the failover diff).
    ``shared_records``: the backend learns the agent's state from records another node may
    have read first (the Agent Event Stream, ``cluster/aes.py``), so it may be behind."""
    now = hub.clock.now_ms()
    seq = hub.journal.last_seq(login)
    saved = journaling.saved_snapshot(hub, login)
    if saved is not None and isinstance(hub.backend, Restores):  # the simulator's world
        hub.backend.restore(login, saved)
    fresh = hub.backend.snapshot(login)
    hub.engine.add_agent(login, saved or fresh, hub.backend.directory(login), now, seq=seq)
    hub.connections.setdefault(login, {})
    if (
        shared_records and saved is not None and saved.logged_in and fresh.logged_in
        and fresh.state_since < saved.state_since
    ):  # fmt: skip
        # this node's backend has not had yet what the old owner journaled (an Agent Event
        # Stream record on its way from the shard's reader): no diff now, or the state would
        # go back and forth in the journal (seen: "Break" journaled twice around a hand-over,
        # test_aes_shards); the record, when it comes, is diffed against the journal's state.
        # (Only there: a Streams bridge page's times are its own, and a journaled "Offline"
        # before any report is dated by the node's clock: seen in test_bridge, a bridge's
        # report dated 1 ms was not applied over the journal's Offline)
        log.info("backend behind the journal: its next report brings the agent up to date",
                 extra={"agent": login, "kind": "cluster"})  # fmt: skip
    elif saved is not None:
        hub._on_snapshot(login, fresh)
    else:
        journaling.save_state(hub, login)
        hub.carry_out([])


def follow(hub: Hub, login: str, events: list[tuple[int, bytes]], state: bytes | None) -> None:
    """Events another node (the owner) journaled: send them to this node's apps, and keep
    this node's view of the agent (StateSync, queries) at the owner's snapshot."""
    if login not in hub.engine.sessions:
        return
    if events:  # (one write per app for all of them, as the owner sends a step's)
        steps.publish(hub, login, [(data, seq) for seq, data in events])
    if state:
        try:
            snapshot = msgspec.json.decode(state, type=AgentSnapshot)
        except msgspec.DecodeError:
            snapshot = None
        if snapshot is not None:  # the owner's session, rebuilt (it sent the events)
            directory = hub.backend.directory(login)
            now = hub.clock.now_ms()
            hub.engine.add_agent(login, snapshot, directory, now, seq=hub.journal.last_seq(login))
            return
    hub.engine.session(login).seq = hub.journal.last_seq(login)  # the owner's, not ours


def resync(hub: Hub, login: str) -> None:
    """This node follows ``login`` again, its view the owner's snapshot: the new apps whose
    StateSync its lost lease made wrong (``steps._unsync``) get one now, then events."""
    for conn in hub._unsynced.pop(login, []):
        if hub.connections.get(login, {}).get(conn.id) is conn:
            conn.floor = 0
            hub.carry_out(hub.engine.sync(login, conn.id), only=conn)


def deliver(hub: Hub, login: str, origin: str, text: str) -> None:
    """An answer the owner sent to ``origin``, an app of this node."""
    conn = hub.connections.get(login, {}).get(origin)
    if conn is not None:
        hub._send(conn, text)
    elif origin in hub._http_answers:  # an HTTP request waiting for its refusal, if any
        try:
            error = _ERROR.decode(text)
        except msgspec.DecodeError:
            return  # not a refusal: an HTTP response carries refusals only
        answer(hub, login, origin, p.Envelope(
            topic=error.topic, subtopic="Error", message=error.message, requestId=error.requestId
        ))  # fmt: skip


class _Error(msgspec.Struct):
    """An error event as another node sent it (Envelope's message is an untagged union)."""

    topic: str
    subtopic: Literal["Error"]
    message: ErrorMessage
    requestId: str | msgspec.UnsetType = msgspec.UNSET


_ERROR = msgspec.json.Decoder(_Error)


def run(hub: Hub, login: str, origin: str, request: Request, app: str) -> None:
    """A command the node let through (this node the owner, its requestId new)."""
    hub.run(login, origin, request, app=app)


def answer(hub: Hub, login: str, origin: str, envelope: p.Envelope) -> None:
    """Send ``envelope`` to ``origin`` alone: an app of this node, an HTTP request waiting for
    its answers, or an app of another node (through the node's :meth:`ClusterSeam.reply`)."""
    hub._reply(login, origin, envelope)


def refuse(hub: Hub, login: str, origin: str, request: Request, code: str) -> None:
    """``request`` is not carried out: its ``…_FAILED`` event with ``code``, to ``origin`` alone."""
    try:
        type_, text = p.failure_for(request.subtopic)
    except KeyError:
        type_, text = "INVALID_DATA", p.ERROR_TEXT["INVALID_DATA"]
    hub.count_error(type_)
    answer(hub, login, origin, p.error_event(request.topic, type_, code, text, request.raw,
                                             request.request_id))  # fmt: skip


def protocol_error(hub: Hub, login: str, origin: str, err: p.ProtocolError) -> None:
    hub._protocol_error(login, origin, err)
