"""One node of a cluster: the hub's :class:`~ctibridge.hub.cluster_seam.ClusterSeam`.

* **Leases.** Every ``lease_ms / 3`` the node renews the leases it holds and takes every agent
  whose lease is free (one pipelined round trip).  An agent it takes is *adopted*: the hub
  continues from the journal's seq and snapshot and publishes what the backend shows
  differently.  A lease it cannot renew, or an append the script fences, makes it a follower.
* **Commands.** An app's command for an agent owned elsewhere is published on the owner's node
  channel; the owner runs it with the origin ``<node>|<connection>``, and its answers come back
  on this node's channel to that connection.  The owner runs it at once, refuses it (a
  duplicate requestId) or queues it (``admission.py``: requestIds and their records).
* **Fan-out.** The append script publishes each committed step on the agent's own channel; the
  nodes that follow the agent (serve it, do not own it: ``subscription.py``) send those events
  to their apps, in ``seq`` order, filling a hole (a lost subscription, a new subscription)
  from the journal stream.  The same event has the same seq on every node.
* **Redis trouble.** Commands are refused at once with ``cluster unavailable``; ``/healthz``
  reports it (a failed call marks the journal unreachable); the subscription and the leases
  are retried until Redis answers again, then every followed agent catches up from the stream.

Every Redis call here is on the asyncio client (``redis.asyncio``), so none blocks the event
loop: publishes go through one sender task (in order, pipelined: a burst is one round trip),
the commands that must wait go through one admission task, whose records ride with the hub's
next commit (the journal's fenced appends, awaited on the same asyncio client:
``hub/steps.py``), the subscription waits in its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import msgspec
import redis
import redis.asyncio as aredis

from .. import protocol as p
from ..backends.base import Restores
from ..backends.connect import ConnectBackend
from ..backends.hybrid import HybridBackend
from ..hub import cluster_seam
from ..hub.cluster_seam import CLUSTER_UNAVAILABLE
from ..protocol.registry import QUERIES
from ..protocol.requests import Request
from . import fanout
from .admission import Admission, Command
from .aes import AES_CHANNEL, SharedConsumer, apply_published
from .clients import Bursts, PackedConnection, client_options, connect, still_wanted
from .journal import RedisJournal
from .lease import Lease, Leases, preferred
from .scripts import EVENTS_PREFIX, EVENTS_PREFIX_BYTES, PREFIX
from .subscription import Subscription

log = logging.getLogger("ctibridge.cluster")

REQUEST_TTL_S = 600  # how long a requestId is remembered (duplicates within it are refused)
SETTLE_S = 5.0  # the longest an HTTP request waits for its owner's answers


def node_channel(node_id: str) -> str:
    return f"{PREFIX}:node:{node_id}"


def open_cluster_journal(url: str, node_id: str, max_events: int, max_age_ms: int) -> RedisJournal:
    return RedisJournal(
        connect(url), node_id, max_events=max_events, max_age_ms=max_age_ms,
        request_ttl_ms=REQUEST_TTL_S * 1000, channel=EVENTS_PREFIX,
    )  # fmt: skip


@runtime_checkable
class Bridges(Protocol):
    """A backend whose link to an agent is a page connected to one node (the Streams bridge)."""

    def reported(self, login: str) -> bool:
        """The agent's bridge page is connected here and has said who is signed in."""


class ClusterNode:
    def __init__(self, hub: Any, url: str, node_id: str, lease_ms: int = 3000) -> None:
        journal = hub.journal
        if not isinstance(journal, RedisJournal):
            raise TypeError("a cluster node needs the hub built with a RedisJournal")
        self.hub = hub
        self.url = url
        self._node_id = node_id
        self.lease_ms = lease_ms
        self.journal = journal
        # the backend's effects live in the journal (the simulator's world, saved with the
        # snapshot): a command's requestId is recorded with its events, not before it runs
        self.records_with_events = isinstance(hub.backend, Restores)
        # asyncio: a slow answer blocks nothing, and fencing keeps a late renewal harmless
        options = client_options(max(lease_ms / 1000, 1.0))
        # keyed commands (scripts, requestIds)
        self.client: Any = (
            aredis.RedisCluster.from_url(url, **options) if journal.sharded
            else aredis.Redis.from_url(url, connection_class=PackedConnection, **options)
        )  # fmt: skip
        # publishes: any node of a Redis Cluster passes them on to every other
        self.publisher = aredis.Redis.from_url(url, connection_class=PackedConnection, **options)
        self.leases = Leases(self.client, node_id, lease_ms)
        self.owners: dict[str, str] = {}  # login -> the node holding its lease (last seen)
        self.channel = node_channel(node_id)
        self._tasks: list[asyncio.Task[None]] = []
        self._catch_ups: set[asyncio.Task[None]] = set()
        self.subscription = Subscription(self)
        # to publish, in order: (channel, message, what to do when nobody got it)
        self._outbox: Bursts[tuple[str, bytes, Callable[[], None] | None]] = Bursts()
        self.admission = Admission(self)  # commands for its agents: run, refused or queued
        self._settling: dict[str, asyncio.Future[None]] = {}  # HTTP origin -> its answers in
        # agents whose lease this node has taken and is reading the journal of: their commands
        # wait in the admission queue until it is done
        self._adopting: dict[str, asyncio.Event] = {}
        self.live: list[str] = [node_id]  # the live nodes, as of the last lease round
        self.bridges: dict[str, str] = {}  # login -> the node its bridge page is on (if any)
        self._free: set[str] = set()  # agents whose lease was free and left so last round
        self._claiming = asyncio.Lock()  # one lease round (or hand-over take) at a time
        journal.on_fenced = self._lost
        journal.bind(self.client)  # the hub's commits: on the asyncio client, never blocking
        hub.cluster = self
        # connect/hybrid: one Agent Event Stream reader per shard across the cluster (aes.py)
        connect = hub.backend.connect if isinstance(hub.backend, HybridBackend) else hub.backend
        self.aes: ConnectBackend | None = None
        if isinstance(connect, ConnectBackend):
            self.aes = connect
            connect.consumer_type = functools.partial(SharedConsumer, self)

    # the seam --------------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        return self._node_id

    def owns(self, login: str) -> bool:
        return login in self.journal.epochs

    def route(self, login: str, origin: str, request: Request, app: str) -> bool:
        if self.owns(login) or login in self._adopting:
            return not self.admission.clear(Command(login, origin, request, app))
        if request.subtopic in QUERIES:
            return False  # answered from this node's view of the agent
        owner = self.owners.get(login)
        if owner not in self.live or not self.journal.reachable:  # (a dead node still counts
            # as subscribed until its connection times out: a command sent there is lost)
            why = f"no live node owns agent {login} now" if owner else self.journal.unreachable
            self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, why)
            return True
        self._expect(origin)
        message = msgspec.msgpack.encode(
            ["cmd", login, self._node_id, origin, app, msgspec.json.encode(request.raw), 0]
        )

        def lost() -> None:
            self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, f"{owner} did not get it")

        self._publish(node_channel(owner), message, lost)
        return True

    def reply(self, login: str, origin: str, envelope: p.Envelope) -> bool:
        node, sep, conn = origin.partition("|")
        if not sep:
            return False
        self._publish(node_channel(node), msgspec.msgpack.encode(
            ["reply", login, conn, p.encode(envelope)]
        ))  # fmt: skip
        return True

    async def settled(self, origin: str) -> None:
        future = self._settling.get(origin)
        if future is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(future), SETTLE_S)
        except TimeoutError:  # the owner died with it: the 202 says "accepted", no more
            log.warning("no word from the owner on a command", extra={"conn": origin})
        finally:
            self._settling.pop(origin, None)

    def _expect(self, origin: str) -> None:
        if origin.startswith("http-"):  # an HTTP request of this node waits for its answers
            self._settling[origin] = asyncio.get_running_loop().create_future()

    def _done(self, origin: str) -> None:
        """Every answer ``origin``'s command caused at once is out (once the steps the hub
        holds for its commit are)."""
        if "|" in origin or origin in self._settling:  # (else nobody waits: an app of ours)
            self.hub.carry_out([], then=lambda: self._answered(origin))

    def _answered(self, origin: str) -> None:
        node, sep, conn = origin.partition("|")
        if sep:
            if conn.startswith("http-"):  # after its answers, on the same ordered channel
                self._publish(node_channel(node), msgspec.msgpack.encode(["done", conn]))
            return
        future = self._settling.get(origin)
        if future is not None and not future.done():
            future.set_result(None)

    def _refuse(self, login: str, origin: str, request: Request, code: str, why: object) -> None:
        if why:
            log.warning("command refused: %s", why, extra={"agent": login, "code": code})
        cluster_seam.refuse(self.hub, login, origin, request, code)
        self._done(origin)

    # publishing and admission: one task each, in order, a burst per round trip ----------------

    def _publish(
        self, channel: str, message: bytes, lost: Callable[[], None] | None = None
    ) -> None:
        self._outbox.put((channel, message, lost))

    async def _sender(self) -> None:
        while True:
            batch = await self._outbox.take()
            if not batch:
                continue
            try:
                if len(batch) == 1:  # (a pipeline costs more CPU than it saves for one)
                    received = [await self.publisher.publish(batch[0][0], batch[0][1])]
                else:
                    pipe = self.publisher.pipeline(transaction=False)
                    for channel, message, _ in batch:
                        pipe.publish(channel, message)
                    received = await pipe.execute()
            except redis.RedisError as e:
                self._unreachable(e)
                received = [0] * len(batch)
            for (_, _, lost), n in zip(batch, received, strict=True):
                if not n and lost is not None:  # no node listens there: no owner got it
                    lost()

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.subscription.run()), loop.create_task(self._lease_loop()),
            loop.create_task(self._sender()), loop.create_task(self.admission.run()),
        ]  # fmt: skip
        with contextlib.suppress(TimeoutError):  # Redis down: the loops keep trying
            await asyncio.wait_for(self.subscription.ready.wait(), 5)
        await self._claim_round()
        for login in list(self.hub.engine.sessions):
            if not self.owns(login):  # this node's view of the agent: the owner's snapshot
                await self._safe_catch_up(login, state=True)

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._catch_ups]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.hub.flushed()  # the events held for the group commit, while they are ours
        held, self.journal.epochs = dict(self.journal.epochs), {}
        with contextlib.suppress(redis.RedisError):  # no longer counted among the live nodes
            await self.leases.heartbeat(alive=False)  # (and its bridges forgotten)
        for login, epoch in held.items():  # the next node takes them at once, not after lease_ms
            with contextlib.suppress(redis.RedisError):
                await self.leases.release(login, epoch)
        consumer = self.aes.consumer if self.aes is not None else None
        if isinstance(consumer, SharedConsumer):  # (stopped by the backend before)
            await consumer.release()
        for client in (self.client, self.publisher):
            with contextlib.suppress(Exception):
                await client.aclose()

    def _unreachable(self, e: Exception) -> None:
        if self.journal.reachable:
            log.warning("Redis unreachable: %s", e, extra={"kind": "cluster"})
        self.journal.mark(False, f"{type(e).__name__}: {e}")

    # leases ----------------------------------------------------------------------------------

    async def _lease_loop(self) -> None:
        while True:
            still_wanted()
            await asyncio.sleep(self.lease_ms / 3000)
            await self._claim_round()

    async def _claim_round(self) -> None:
        """Say this node is alive, renew its leases, take the free leases of the agents that
        belong to it (and of any left free for a whole round), hand over the others."""
        async with self._claiming:
            try:
                live, self.bridges = await self.leases.heartbeat(bridged=self._bridged())
                self.live = live or [self._node_id]
                logins = list(self.hub.engine.sessions)
                epochs = dict(self.journal.epochs)
                claims = [(x, epochs.get(x, 0), self._mine(x) or x in self._free) for x in logins]
                results = await self.leases.claim_many(claims)
            except redis.RedisError as e:
                self._unreachable(e)
                return
            self.journal.mark(True)
            self._free = {x for x, lease in zip(logins, results, strict=True) if not lease.holder}
            await self._settle_leases(logins, results)
        for login in [x for x in self.journal.epochs if not self._mine(x)]:
            await self._hand_over(login)

    def _mine(self, login: str) -> bool:
        return self._home(login) == self._node_id

    def _home(self, login: str) -> str:
        """The node ``login`` belongs to: where its bridge page is (the backend link must be
        on the owner), else the live node its rendezvous hash picks."""
        bridge = self.bridges.get(login)
        return bridge if bridge in self.live else preferred(login, self.live)

    def _bridged(self) -> list[str]:
        """This node's agents whose bridge page is connected (and signed in) here."""
        backend = self.hub.backend
        if not isinstance(backend, Bridges):
            return []
        return [login for login in self.hub.engine.sessions if backend.reported(login)]

    async def _settle_leases(self, logins: list[str], results: list[Lease]) -> None:
        for login, lease in zip(logins, results, strict=True):
            if lease.holder:
                self.owners[login] = lease.holder
            held = self.journal.epochs.get(login)
            if lease.held and (lease.fresh or held != lease.epoch):
                await self._adopt(login, lease.epoch)
            elif not lease.held and held is not None:
                self._lost(login)

    async def _hand_over(self, login: str) -> None:
        """Give ``login`` to the live node it belongs to, when nothing of it is under way: the
        lease is released and that node told to take it now (not at its next round)."""
        session = self.hub.engine.sessions.get(login)
        busy = session is None or session.inflight is not None or bool(session.queue)
        epoch = self.journal.epochs.get(login)
        if busy or epoch is None or self.admission.waits(login) or login in self._adopting:
            return  # at a later round
        await self.hub.flushed()  # its events held for the group commit: journaled as ours
        if self.hub.holds(login) or login not in self.journal.epochs:
            return  # more of them meanwhile (or a lease lost): at a later round
        target = self._home(login)
        self.owners[login] = target
        self.journal.disown(login)  # a follower from now on: commands go to the target
        self.subscription.follow(login)  # (what the target journals: once subscribed)
        try:
            await self.leases.release(login, epoch)
        except redis.RedisError as e:  # the lease expires by itself: taken after lease_ms
            self._unreachable(e)
        log.info("agent handed over", extra={"agent": login, "to": target, "kind": "cluster"})
        self._publish(node_channel(target), msgspec.msgpack.encode(["take", login]))

    def _take(self, login: str) -> None:
        if login not in self.hub.engine.sessions or self.owns(login) or login in self._adopting:
            return
        # commands for it wait (admission queue) until the lease is ours and the journal read
        self._adopting[login] = waiting = asyncio.Event()

        async def take() -> None:
            try:
                async with self._claiming:
                    epoch = self.journal.epochs.get(login, 0)
                    lease = await self.leases.claim(login, epoch)
                    await self._settle_leases([login], [lease])
            except redis.RedisError as e:
                self._unreachable(e)
            finally:
                self._adopting.pop(login, None)
                waiting.set()

        task = asyncio.get_running_loop().create_task(take())
        self._catch_ups.add(task)
        task.add_done_callback(self._catch_ups.discard)

    async def _adopt(self, login: str, epoch: int) -> None:
        adopting = self._adopting.setdefault(login, asyncio.Event())  # (a take's, if any)
        try:  # this node's apps first get everything the old owner sent
            state = await fanout.catch_up(self, login, state=True)
            await self.journal.load_rids(login)  # (the lease is ours: known before it runs any)
        except redis.RedisError as e:  # adopted at the next round
            self._unreachable(e)
            return
        finally:
            self._adopting.pop(login, None)
            adopting.set()
        self.journal.prefetch(login, state)
        self.journal.epochs[login] = epoch
        self.subscription.unfollow(login)  # its events are this node's own now
        log.info("agent adopted", extra={"agent": login, "epoch": epoch, "kind": "cluster"})
        cluster_seam.adopt(self.hub, login, shared_records=self.aes is not None)

    def _lost(self, login: str) -> None:
        """A follower again: this node's apps get what the new owner journaled meanwhile (soon:
        this may run inside the hub's commit), its view of the agent the journal's."""
        if self.journal.disown(login) is not None:
            log.warning("agent lease lost", extra={"agent": login, "kind": "cluster"})
        self.subscription.follow(login)
        with contextlib.suppress(RuntimeError):  # no loop (closing): nothing to send to
            task = asyncio.get_running_loop().create_task(self._reload(login))
            self._catch_ups.add(task)
            task.add_done_callback(self._catch_ups.discard)

    async def _reload(self, login: str) -> None:
        """This node's view of an agent it lost: the journal's snapshot (its own last steps
        may have been refused, never journaled), and the events it has not sent; then the
        new apps whose StateSync showed those steps get one (``steps._unsync``)."""
        try:
            await self._safe_catch_up(login, state=True)
        finally:
            cluster_seam.resync(self.hub, login)

    async def _safe_catch_up(self, login: str, state: bool = False) -> None:
        if self.owns(login):
            return
        try:
            snapshot = await fanout.catch_up(self, login, state=state)
        except redis.RedisError as e:  # the subscription's recovery catches up later
            log.warning("catch-up failed: %s", e, extra={"agent": login, "kind": "cluster"})
            return
        if state and not self.owns(login):
            cluster_seam.follow(self.hub, login, [], snapshot)

    # fan-out ---------------------------------------------------------------------------------

    def _on_node_message(self, kind: str, body: list[Any]) -> None:
        if kind == "reply":
            login, conn, data = body
            cluster_seam.deliver(self.hub, login, conn, bytes(data).decode())
        elif kind == "done":
            self._done(body[0])
        elif kind == "take":  # its holder handed the agent over to this node
            self._take(body[0])
        elif kind == "cmd":
            login, node, conn, app, raw, hops = body
            origin = f"{node}|{conn}"
            try:
                request = p.decode_request(bytes(raw))
            except p.ProtocolError as err:  # checked by the node it came through: unlikely
                cluster_seam.protocol_error(self.hub, login, origin, err)
                self._done(origin)
                return
            command = Command(login, origin, request, app)
            if not self.owns(login) and login not in self._adopting:  # the lease moved on
                owner = self.owners.get(login)
                if not hops and owner not in (None, self._node_id):  # (handed over) once
                    forward = ["cmd", login, node, conn, app, raw, 1]
                    self._publish(node_channel(owner), msgspec.msgpack.encode(forward))
                    return
                self._refuse(login, origin, request, CLUSTER_UNAVAILABLE, None)
            elif self.admission.clear(command):
                cluster_seam.run(self.hub, login, origin, request, app)
                self._done(origin)

    async def dispatch(self, channel: bytes, data: bytes) -> None:
        try:
            body = msgspec.msgpack.decode(data)
            if channel == _AES:
                if self.aes is not None:
                    await apply_published(self._node_id, self.aes.apply_record, data)
            elif channel.startswith(EVENTS_PREFIX_BYTES):
                login, first, events, state = body  # Lua's cmsgpack packs strings as str
                await fanout.on_events(self, login, int(first), [_bytes(e) for e in events],
                                      _bytes(state))  # fmt: skip
            else:
                self._on_node_message(body[0], body[1:])
        except redis.RedisError:
            raise  # the subscription starts again and catches up
        except Exception:
            log.exception("cluster message not handled", extra={"kind": "cluster"})


_AES = AES_CHANNEL.encode()


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)
