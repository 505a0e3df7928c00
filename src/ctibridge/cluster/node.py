"""One node of a cluster: the hub's :class:`~ctibridge.hub.cluster_seam.ClusterSeam`.

* **Leases.** Every ``lease_ms / 3`` the node renews the leases it holds and takes every agent
  whose lease is free (one pipelined round trip).  An agent it takes is *adopted*: the hub
  continues from the journal's seq and snapshot and publishes what the backend shows
  differently.  A lease it cannot renew, or an append the script fences, makes it a follower.
* **Commands.** An app's command for an agent owned elsewhere is published on the owner's node
  channel; the owner runs it with the origin ``<node>|<connection>``, and its answers come back
  on this node's channel to that connection.  A command with a ``requestId`` is recorded in
  Redis (``SET NX``) before the owner runs it: a retry after a crash is refused, never run twice.
* **Fan-out.** The append script publishes each committed step on one channel; every other node
  sends those events to its own apps, in ``seq`` order, filling a hole (a lost subscription)
  from the journal stream.  The same event has the same seq on every node.
* **Redis trouble.** Commands are refused at once with ``cluster unavailable``; ``/healthz``
  reports it (the journal's health pings Redis); the subscription and the leases are retried
  until Redis answers again, then every followed agent catches up from the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec
import redis
import redis.asyncio as aredis

from .. import protocol as p
from ..hub import cluster_seam
from ..hub.cluster_seam import CLUSTER_UNAVAILABLE
from ..protocol.registry import QUERIES
from ..protocol.requests import Request
from .journal import RedisJournal
from .lease import Lease, Leases
from .scripts import PREFIX, request_key

log = logging.getLogger("ctibridge.cluster")

EVENTS_CHANNEL = f"{PREFIX}:events"
REQUEST_TTL_S = 600  # how long a requestId is remembered (duplicates within it are refused)
RETRY_S = 0.25


def node_channel(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}"


def connect(url: str, timeout: float = 1.0) -> Any:
    """A blocking client for ``url``: a cluster client when the server runs Redis Cluster."""
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    plain = redis.Redis.from_url(url, **options)
    try:
        sharded = int(plain.info("cluster").get("cluster_enabled", 0)) == 1
    except redis.RedisError:
        sharded = False
    if not sharded:
        return plain
    plain.close()
    return redis.RedisCluster.from_url(url, **options)


def open_cluster_journal(url: str, node_id: str, max_events: int, max_age_ms: int) -> RedisJournal:
    return RedisJournal(
        connect(url), node_id, max_events=max_events, max_age_ms=max_age_ms,
        channel=EVENTS_CHANNEL,
    )  # fmt: skip


class ClusterNode:
    def __init__(self, hub: Any, url: str, node_id: str, lease_ms: int = 3000) -> None:
        journal = hub.journal
        if not isinstance(journal, RedisJournal):
            raise TypeError("a cluster node needs the hub built with a RedisJournal")
        self.hub = hub
        self.url = url
        self.node_id = node_id
        self.lease_ms = lease_ms
        self.journal = journal
        self.client = journal.client
        self.leases = Leases(self.client, node_id, lease_ms)
        self.owners: dict[str, str] = {}  # login -> the node holding its lease (last seen)
        self.channel = node_channel(node_id)
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()
        journal.on_fenced = self._lost
        hub.cluster = self

    # the seam --------------------------------------------------------------------------------

    def owns(self, login: str) -> bool:
        return login in self.journal.epochs

    def route(self, login: str, origin: str, request: Request, app: str) -> bool:
        if self.owns(login):
            return self._duplicate(login, origin, request)
        if request.subtopic in QUERIES:
            return False  # answered from this node's view of the agent
        owner = self.owners.get(login)
        message = msgspec.msgpack.encode(
            ["cmd", login, self.node_id, origin, app, msgspec.json.encode(request.raw)]
        )
        try:
            if owner is None or not self.client.publish(node_channel(owner), message):
                raise redis.ConnectionError(f"no node owns agent {login} now")
        except redis.RedisError as e:
            self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, e)
        return True

    def reply(self, login: str, origin: str, envelope: p.Envelope) -> bool:
        node, sep, conn = origin.partition("|")
        if not sep:
            return False
        message = msgspec.msgpack.encode(["reply", login, conn, p.encode(envelope)])
        try:
            self.client.publish(node_channel(node), message)
        except redis.RedisError:
            log.warning("answer to another node lost", extra={"agent": login, "conn": origin})
        return True

    def _duplicate(self, login: str, origin: str, request: Request) -> bool:
        """Record the command's requestId; True (answered) when it was seen before."""
        if not request.request_id or request.subtopic in QUERIES:
            return False
        try:
            fresh = self.client.set(
                request_key(login, request.request_id), origin, nx=True, ex=REQUEST_TTL_S
            )
        except redis.RedisError as e:
            self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, e)
            return True
        if fresh:
            return False
        self._refuse(login, origin, request, "duplicate requestId: not carried out again", None)
        return True

    def _refuse(
        self, login: str, origin: str, request: Request, code: str, why: Exception | None
    ) -> None:
        if why is not None:
            log.warning("command refused: %s", why, extra={"agent": login, "code": code})
        try:
            type_, text = p.failure_for(request.subtopic)
        except KeyError:
            type_, text = "INVALID_DATA", p.ERROR_TEXT["INVALID_DATA"]
        env = p.error_event(request.topic, type_, code, text, request.raw, request.request_id)
        self.hub.count_error(type_)
        self.hub._reply(login, origin, env)

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._lease_loop())]
        with contextlib.suppress(TimeoutError):  # Redis down: the loops keep trying
            await asyncio.wait_for(self.subscribed.wait(), 5)
        await self._claim_round()
        for login in list(self.hub.engine.sessions):
            if not self.owns(login):  # this node's view of the agent: the owner's snapshot
                with contextlib.suppress(redis.RedisError):
                    cluster_seam.follow(self.hub, login, [], self.journal.state(login))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        held, self.journal.epochs = dict(self.journal.epochs), {}
        for login, epoch in held.items():  # the next node takes them at once, not after lease_ms
            with contextlib.suppress(redis.RedisError):
                self.leases.release(login, epoch)

    # leases ----------------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            await self._claim_round()

    async def _claim_round(self) -> None:
        logins = list(self.hub.engine.sessions)
        epochs = dict(self.journal.epochs)
        try:
            results = await asyncio.to_thread(self._claim_all, logins, epochs)
        except redis.RedisError as e:
            log.warning("lease renewal failed: %s", e, extra={"kind": "cluster"})
            return
        for login, lease in zip(logins, results, strict=True):
            self.owners[login] = lease.holder
            held = self.journal.epochs.get(login)
            if lease.held and (lease.fresh or held != lease.epoch):
                self._adopt(login, lease.epoch)
            elif not lease.held and held is not None:
                self._lost(login)

    def _claim_all(self, logins: list[str], epochs: dict[str, int]) -> list[Lease]:
        return self.leases.claim_many([(login, epochs.get(login, 0)) for login in logins])

    def _adopt(self, login: str, epoch: int) -> None:
        self._catch_up(login)  # this node's apps first get everything the old owner sent
        self.journal.epochs[login] = epoch
        log.info("agent adopted", extra={"agent": login, "epoch": epoch, "kind": "cluster"})
        cluster_seam.adopt(self.hub, login)

    def _lost(self, login: str) -> None:
        """A follower again: this node's apps get what the new owner journaled meanwhile (soon:
        this may run inside the hub's commit)."""
        if self.journal.epochs.pop(login, None) is not None:
            log.warning("agent lease lost", extra={"agent": login, "kind": "cluster"})
        with contextlib.suppress(RuntimeError):  # no loop (closing): nothing to send to
            asyncio.get_running_loop().call_soon(self._safe_catch_up, login)

    def _safe_catch_up(self, login: str) -> None:
        if self.owns(login):
            return
        try:
            self._catch_up(login)
        except redis.RedisError as e:  # the subscription's recovery catches up later
            log.warning("catch-up failed: %s", e, extra={"agent": login, "kind": "cluster"})

    # fan-out ---------------------------------------------------------------------------------

    def _catch_up(self, login: str, until: int | None = None) -> None:
        """Send this node's apps the journaled events of ``login`` they have not had yet."""
        head = self.journal.last_seq(login)
        stored = self.journal.stored_head(login) if until is None else until
        if stored <= head:
            return
        rows = self.journal.read(login, head, stored)
        if not rows or rows[0][0] != head + 1:
            log.warning("events dropped by retention before this node sent them",
                        extra={"agent": login, "kind": "cluster"})  # fmt: skip
        self.journal.heads[login] = stored
        cluster_seam.follow(self.hub, login, rows, self.journal.state(login))

    def _on_events(self, login: str, first: int, events: list[bytes], state: bytes) -> None:
        if login not in self.hub.engine.sessions:
            return  # an agent this node does not serve
        head = self.journal.last_seq(login)
        last = first + len(events) - 1
        if self.owns(login):
            if last > head:  # another node appended: its lease is newer than ours
                self._lost(login)
            return  # else our own, already sent
        if last <= head:
            if not events and last == head and state:  # the owner's snapshot, no events
                cluster_seam.follow(self.hub, login, [], state)
            return
        if first > head + 1:  # a hole: messages were lost while the subscription was down
            self._catch_up(login, first - 1)
            head = first - 1
        fresh = [(first + i, data) for i, data in enumerate(events) if first + i > head]
        self.journal.heads[login] = last
        cluster_seam.follow(self.hub, login, fresh, state or None)

    def _on_node_message(self, kind: str, body: list[Any]) -> None:
        if kind == "reply":
            login, conn, data = body
            cluster_seam.deliver(self.hub, login, conn, bytes(data).decode())
        elif kind == "cmd":
            login, node, origin, app, raw = body
            origin = f"{node}|{origin}"
            try:
                request = p.decode_request(bytes(raw))
            except p.ProtocolError as err:  # checked by the node it came through: unlikely
                self.hub._protocol_error(login, origin, err)
                return
            if not self.owns(login):  # the lease moved on while the command travelled
                self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, None)
                return
            self.hub.submit(login, origin, request, app=app)

    async def _listen(self) -> None:
        """Subscribe to the events and to this node's channel, for ever: after a lost
        subscription every followed agent catches up from the journal stream."""
        while True:
            client = aredis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                pubsub = client.pubsub()
                await pubsub.subscribe(EVENTS_CHANNEL, self.channel)
                self.subscribed.set()
                for login in list(self.hub.engine.sessions):
                    if not self.owns(login):
                        self._catch_up(login)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message is None or message["type"] != "message":
                        continue
                    self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.subscribed.clear()
                log.warning("cluster subscription lost: %s", e, extra={"kind": "cluster"})
                await asyncio.sleep(RETRY_S)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        try:
            body = msgspec.msgpack.decode(data)
            if channel == EVENTS_CHANNEL.encode():
                login, first, events, state = body  # Lua's cmsgpack packs strings as str
                self._on_events(login, int(first), [_bytes(e) for e in events], _bytes(state))
            else:
                self._on_node_message(body[0], body[1:])
        except Exception:
            log.exception("cluster message not handled", extra={"kind": "cluster"})


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
