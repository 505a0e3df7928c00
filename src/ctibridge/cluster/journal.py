"""The cluster's journal: per agent a Redis stream of events and a snapshot, fenced by a lease.

It implements the hub's :class:`~ctibridge.journal.Journal` protocol, so the hub journals the
same way as with SQLite, and like SQLite it groups commits (:attr:`group_commit`): the events
of every engine step of one loop tick are appended, then one :meth:`commit` makes them durable
- one :data:`~.scripts.APPEND` call per agent, all of them in one pipeline (one round trip)
- and only then are they sent.  Each agent's append is checked and written on its own: an
agent whose lease moved on (or whose append Redis refused) fails alone (:class:`Refused`),
and the hub withholds only its events; the others' are durable and go out.  A running hub
awaits that commit (:meth:`commit_async`, on the node's asyncio client: ``hub/steps.py``) and
holds the steps made meanwhile for the next one.  The requestIds of the agent's commands ride
in its append (:meth:`remember`): recorded only with the lease, so the owner's copy of them
(:attr:`rids`, read by :meth:`load_rids` when it takes the lease) is authoritative and a
duplicate is found without a round trip.
:meth:`commit` does the same on the blocking client, for a hub without a running loop and the
hub's journal recovery.  It never waits for a Redis that is down: once a call failed
(:attr:`reachable` False) commits fail at once until the node's lease loop (asyncio) reaches
Redis again.  Leases, pub/sub, catch-up reads and ``/healthz`` use the asyncio client too
(``node.py``); resume pages are read with the blocking one, off the loop.

Only agents this node holds a lease for (:attr:`epochs`, kept by the node) may be written:
anything else is refused (:class:`Fenced`), and so is what the script refuses when the lease
moved on.  :attr:`heads` is, per agent, the last ``seq`` this node has sent to its apps: what
it committed as the owner, what it delivered as a follower - the end of a resume replay here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis

from ..hub.cluster_seam import CLUSTER_UNAVAILABLE
from ..journal import PartialCommit
from .clients import ScriptLine
from .scripts import APPEND, APPEND_TICK, append_keys, keys, rids_key


class ClusterError(RuntimeError):
    """Redis did not take a write (unreachable, or it refused)."""


class Refused(ClusterError, PartialCommit):
    """A commit that wrote every agent's events but those of ``logins``."""

    def __init__(self, logins: set[str], message: str, *, lost: bool = False) -> None:
        ClusterError.__init__(self, message)
        PartialCommit.__init__(self, logins, message, lost=lost)


class Fenced(Refused):
    """This node no longer holds the lease of ``logins``: it may not append for them."""

    def __init__(self, logins: set[str], detail: str = "") -> None:
        names = ", ".join(sorted(logins))
        super().__init__(logins, f"agent {names}: lease lost {detail}".strip(), lost=True)


def _fail(futures: list[asyncio.Future[None]], e: Exception) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(e)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class RedisJournal:
    reads_off_loop = True  # redis-py's blocking client is thread-safe (a connection pool)
    group_commit = True  # one commit (one round trip) per loop tick, for every agent in it

    def __init__(
        self,
        client: Any,  # redis.Redis or redis.cluster.RedisCluster (blocking)
        node_id: str,
        *,
        max_events: int = 10_000,
        max_age_ms: int = 7 * 86_400_000,
        request_ttl_ms: int = 600_000,
        channel: str = "",
        now: Callable[[], int] = _wall_ms,
        on_fenced: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.node_id = node_id
        self.max_events = max_events
        self.max_age_ms = max_age_ms
        self.request_ttl_ms = request_ttl_ms  # how long a requestId is remembered
        self.channel = channel
        self._now = now
        self.on_fenced = on_fenced
        self.epochs: dict[str, int] = {}  # login -> the fencing epoch of our lease
        self.heads: dict[str, int] = {}
        self._events: dict[str, tuple[int, list[bytes]]] = {}  # this step: login -> (first, data)
        self._states: dict[str, bytes] = {}
        self._append = client.register_script(APPEND)
        self.sharded = isinstance(client, redis.RedisCluster)
        self.error: str | None = None
        # False from a failed call until the node's lease loop reaches Redis again: no commit
        # waits for a socket timeout meanwhile; /healthz reports it without a call of its own
        self.reachable = True
        self.unreachable = ""
        self._prefetched: dict[str, bytes | None] = {}  # login -> its snapshot, read async
        self.aclient: Any = None  # the node's asyncio client (bind)
        self._aappend: Any = None
        self._atick: Any = None
        # login -> its requestIds recorded (or on their way) within request_ttl_ms, with when
        # (ms; oldest first): this node's agents only, loaded when it takes the lease
        self.rids: dict[str, dict[str, int]] = {}
        self._rids: dict[str, list[str]] = {}  # login -> its requestIds for the next commit
        self._durable: list[asyncio.Future[None]] = []  # done when the next commit is
        self.committing: dict[str, int] = {}  # login -> the last seq of the commit under way

    # writing -------------------------------------------------------------------------------------

    def append(self, login: str, seq: int, data: bytes) -> None:
        # a non-owner's events are refused by the commit (for that agent alone), not here: an
        # exception here would abort the other agents' appends of the tick
        pending = self._events.get(login)
        if pending is None:
            self._events[login] = (seq, [data])
        else:
            pending[1].append(data)

    def save_state(self, login: str, data: bytes) -> None:
        if login in self.epochs:  # a follower's snapshot is the owner's to write
            self._states[login] = data

    # requestIds ---------------------------------------------------------------------------------

    def remembers(self, login: str, rid: str) -> bool:
        """Was ``rid`` recorded for ``login`` within ``request_ttl_ms`` (by this owner, or by
        the owners before it)?"""
        return rid in self.rids.get(login, ())

    def remember(self, login: str, rid: str) -> None:
        """Record ``rid`` with ``login``'s next append (this node must own the agent)."""
        now = self._now()
        known = self.rids.setdefault(login, {})
        known[rid] = now
        cut = now - self.request_ttl_ms
        while known:  # (oldest first: forget those past their time)
            oldest, at = next(iter(known.items()))
            if at >= cut:
                break
            del known[oldest]
        self._rids.setdefault(login, []).append(rid)

    def forget(self, login: str, rid: str) -> None:
        """``rid``'s command was not carried out: a retry with it may be (if its record got
        to Redis all the same, the retry is refused on the next owner, never run twice)."""
        self.rids.get(login, {}).pop(rid, None)
        pending = self._rids.get(login)
        if pending and rid in pending:
            pending.remove(rid)

    async def load_rids(self, login: str) -> None:
        """Read the requestIds ``login``'s owners recorded within ``request_ttl_ms`` (this
        node has just taken its lease: none is added but by it from now on)."""
        since = self._now() - self.request_ttl_ms
        rows = await self.aclient.zrange(rids_key(login), since, "+inf", byscore=True,
                                         withscores=True)  # fmt: skip
        self.rids[login] = {_text(rid): int(at) for rid, at in rows}

    async def unrecord(self, login: str, rid: str) -> None:
        """Drop ``rid``'s record from Redis (its command was not carried out, and the lease
        moved on before it ran: not fenced - the next owner may have read it already)."""
        await self.aclient.zrem(rids_key(login), rid)

    def disown(self, login: str) -> int | None:
        """This node no longer owns ``login``: its epoch (if it had one); the agent's
        requestIds are the next owner's to know."""
        self.rids.pop(login, None)
        self._rids.pop(login, None)
        return self.epochs.pop(login, None)

    def durable(self) -> asyncio.Future[None]:
        """Done once the next commit is (with the requestIds remembered now), or its error."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._durable.append(future)
        return future

    # committing ----------------------------------------------------------------------------------

    def commit(self) -> None:
        """On the blocking client: for a hub without a running loop (tools, start-up) and the
        journal's recovery; a running hub awaits :meth:`commit_async`."""
        stray, logins, events, states, rids = self._take()
        try:
            results = self._write(logins, events, states, rids) if logins else []
        except ClusterError:
            self._requeue(rids)
            raise
        self._settle(stray, logins, results)

    def _take(self) -> tuple[
        set[str], list[str], dict[str, tuple[int, list[bytes]]], dict[str, bytes],
        dict[str, list[str]],
    ]:  # fmt: skip
        events, self._events = self._events, {}
        states, self._states = self._states, {}
        rids, self._rids = self._rids, {}
        stray = {login for login in events if login not in self.epochs}  # never to be sent
        logins = [login for login in {*events, *states, *rids} if login in self.epochs]
        return stray, logins, events, states, rids

    def _requeue(self, rids: dict[str, list[str]]) -> None:
        """Redis took none of a commit: its requestIds go with the next (the commands ran
        here, their events are withheld until the journal takes writes again)."""
        for login, taken in rids.items():
            if login in self.epochs:
                self._rids[login] = taken + self._rids.get(login, [])

    def _settle(self, stray: set[str], logins: list[str], results: list[Any]) -> None:
        lost, failed, error = set(stray), set(), None
        for login, result in zip(logins, results, strict=True):
            if not isinstance(result, Exception):
                self.heads[login] = int(result)
            elif str(result).startswith(("FENCED", "SEQ")):  # another node owns it now
                self.disown(login)
                lost.add(login)
                if self.on_fenced is not None:
                    self.on_fenced(login)
            else:
                failed.add(login)
                error = error or f"{type(result).__name__}: {result}"
        self.error = error
        if failed:
            raise Refused(lost | failed, error or "")
        if lost:
            raise Fenced(lost, "" if lost - stray else "(not the owner)")

    # the asyncio commit: the hub's, one per loop tick, with the requestIds waiting ---------------

    def bind(self, aclient: Any) -> None:
        """The node's asyncio client (``redis.asyncio``): :meth:`commit_async` writes with it."""
        self.aclient = aclient
        self._aappend = aclient.register_script(APPEND)
        self._atick = None if self.sharded else ScriptLine(aclient, APPEND_TICK)

    def wants_commit(self) -> bool:
        # (requestIds a failed commit put back wait for Redis: a commit now would fail at
        # once and put them back again, round after round without end)
        return bool(self._durable or self._states or (self._rids and self.reachable))

    async def commit_async(self) -> None:
        if self.aclient is None:  # no node bound its asyncio client (a hub of tools, tests)
            self.commit()
            return
        stray, logins, events, states, rids = self._take()
        durable, self._durable = self._durable, []
        if not self.reachable:
            self.error = f"{CLUSTER_UNAVAILABLE}: {self.unreachable}"
            _fail(durable, redis.ConnectionError(self.error))
            self._requeue(rids)
            if logins:
                raise ClusterError(self.error)
            self._settle(stray, [], [])
            return
        calls = self._calls(logins, events, states, rids)
        # its own published copy may come in before the pipeline's answer (fanout.on_events)
        self.committing = {x: first + len(data) - 1 for x, (first, data) in events.items()}
        try:
            results = await self._acall(calls) if calls else []
        except redis.RedisError as e:
            _fail(durable, e)
            self._requeue(rids)
            self._failed(e)
            raise ClusterError(self.error or "") from e
        finally:
            self.committing = {}
        for future in durable:
            if not future.done():
                future.set_result(None)
        self._settle(stray, logins, results)

    async def _acall(self, calls: list[tuple[tuple[str, ...], list[Any]]]) -> list[Any]:
        """The append script's result for each call: one script call for all of them (one send,
        one round trip); on a Redis Cluster (an agent's keys on its slot's node) one call
        each, concurrently."""
        if self.sharded:
            results = list(await asyncio.gather(
                *(self._aappend_one(k, args) for k, args in calls), return_exceptions=True,
            ))  # fmt: skip
        else:
            results = await self._tick(calls)
        for result in results:  # Redis took none of them
            if isinstance(result, redis.ConnectionError | redis.TimeoutError):
                raise result
        return results

    async def _tick(self, calls: list[tuple[tuple[str, ...], list[Any]]]) -> list[Any]:
        """:data:`~.scripts.APPEND_TICK`: every agent's append in one call."""
        node, _, _, max_events, oldest, now, _, channel, _, rid_cut = calls[0][1][:10]
        names: list[str] = []
        args: list[Any] = [node, max_events, oldest, now, channel, rid_cut, len(calls)]
        for k, (_, epoch, first, _, _, _, state, _, login, _, n_rids, *rest) in calls:
            names += k
            args += (epoch, first, state, login, n_rids, *rest[:n_rids], len(rest) - n_rids,
                     *rest[n_rids:])  # fmt: skip
        return list(await self._atick(names, args))

    async def _aappend_one(self, k: tuple[str, ...], args: list[Any]) -> Any:
        try:
            return await self._aappend(keys=k, args=args)
        except redis.ResponseError as e:  # FENCED, SEQ: this agent's alone
            return e

    # the blocking commit ---------------------------------------------------------------------

    def _write(
        self, logins: list[str], events: dict[str, tuple[int, list[bytes]]],
        states: dict[str, bytes], rids: dict[str, list[str]],
    ) -> list[Any]:  # fmt: skip
        """The append script's result (the agent's head, or its error) for each of ``logins``;
        :class:`ClusterError` when Redis took none of them."""
        if not self.reachable:
            self.error = f"{CLUSTER_UNAVAILABLE}: {self.unreachable}"
            raise ClusterError(self.error)
        try:
            return self._call(self._calls(logins, events, states, rids))
        except redis.RedisError as e:
            self._failed(e)
            raise ClusterError(self.error or "") from e

    def _calls(
        self, logins: list[str], events: dict[str, tuple[int, list[bytes]]],
        states: dict[str, bytes], rids: dict[str, list[str]],
    ) -> list[tuple[tuple[str, ...], list[Any]]]:  # fmt: skip
        """Each agent's :data:`~.scripts.APPEND` keys and arguments."""
        now = self._now()
        calls: list[tuple[tuple[str, ...], list[Any]]] = []
        for login in logins:
            first, data = events.get(login, (self.heads.get(login, 0) + 1, []))
            recorded = rids.get(login, ())
            args: list[Any] = [
                self.node_id, self.epochs[login], first, self.max_events, now - self.max_age_ms,
                now, states.get(login, b""), self.channel, login, now - self.request_ttl_ms,
                len(recorded), *recorded, *data,
            ]  # fmt: skip
            calls.append((append_keys(login), args))
        return calls

    def _call(self, calls: list[tuple[tuple[str, ...], list[Any]]]) -> list[Any]:
        """Run the append script for each agent: every agent of the tick in one pipeline (one
        round trip), except on a Redis Cluster (whose client pipelines no scripts), where each
        agent's keys may live on another node anyway."""
        if len(calls) > 1 and not self.sharded:
            pipe = self.client.pipeline(transaction=False)
            for k, args in calls:  # EVALSHA: the Script wrapper's pipeline asks SCRIPT EXISTS
                pipe.evalsha(self._append.sha, len(k), *k, *args)  # first, a round trip more
            piped = list(pipe.execute(raise_on_error=False))
            for i, result in enumerate(piped):
                if isinstance(result, redis.exceptions.NoScriptError):  # a restarted Redis
                    try:
                        piped[i] = self._append(keys=calls[i][0], args=calls[i][1])
                    except redis.ResponseError as e:
                        piped[i] = e
            return piped
        results: list[Any] = []
        for k, args in calls:
            try:
                results.append(self._append(keys=k, args=args))
            except redis.ResponseError as e:  # FENCED, SEQ: this agent's alone
                results.append(e)
        return results

    # reading -------------------------------------------------------------------------------------

    def stored_head(self, login: str) -> int:
        """The agent's last seq as Redis has it (not as this node has sent it)."""
        value = self.client.hget(keys(login)[1], "seq")
        return int(value or 0)

    def read(self, login: str, after: int, until: int) -> list[tuple[int, bytes]]:
        """The stored events ``after`` < seq <= ``until`` (fewer when retention dropped some)."""
        if until <= after:
            return []
        rows = self.client.xrange(keys(login)[2], f"{after + 1}-0", f"{until}-0")
        return [(int(rid.split(b"-")[0]), bytes(fields[b"d"])) for rid, fields in rows]

    def since(self, login: str, seq: int, limit: int | None = None) -> list[bytes] | None:
        head = self.last_seq(login)
        if seq == head:
            return []
        if seq > head or seq < 0:
            return None
        want = head - seq if limit is None else min(limit, head - seq)
        rows = self.read(login, seq, seq + want)
        if len(rows) != want or (rows and rows[0][0] != seq + 1):
            return None  # retention dropped some of them: a gap
        return [data for _, data in rows]

    def last_seq(self, login: str) -> int:
        head = self.heads.get(login)
        if head is None:
            head = self.heads[login] = self.stored_head(login)
        return head

    def state(self, login: str) -> bytes | None:
        if login in self._prefetched:  # read by the node (asyncio) just before it asked
            return self._prefetched.pop(login)
        value = self.client.hget(keys(login)[1], "state")
        return None if not value else bytes(value)

    def prefetch(self, login: str, state: bytes | None) -> None:
        """The next :meth:`state` of ``login`` is ``state``: the node read it without blocking."""
        self._prefetched[login] = state or None

    def _failed(self, e: redis.RedisError) -> None:
        self.error = f"{type(e).__name__}: {e}"
        if isinstance(e, redis.ConnectionError | redis.TimeoutError):  # Redis is not there
            self.mark(False, self.error)
            self.error = f"{CLUSTER_UNAVAILABLE}: {self.error}"

    def mark(self, reachable: bool, why: str = "") -> None:
        self.reachable, self.unreachable = reachable, why

    def check(self) -> str | None:
        """Ping Redis now (blocking: for start-up only); the problem, or None."""
        try:
            self.client.ping()
        except redis.RedisError as e:
            return f"{CLUSTER_UNAVAILABLE}: {type(e).__name__}: {e}"
        return None

    def health(self) -> dict[str, object]:
        reachable = self.reachable
        error = self.error if reachable else f"{CLUSTER_UNAVAILABLE}: {self.unreachable}"
        return {
            "ok": reachable and self.error is None,
            "kind": "redis",
            "durable": True,
            "node": self.node_id,
            "owned": len(self.epochs),
            "error": error,
        }

    def close(self) -> None:
        self.client.close()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
