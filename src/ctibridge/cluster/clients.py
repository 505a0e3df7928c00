"""A cluster node's Redis clients: the blocking one (the journal's resume reads, start-up) and
the asyncio ones (commits, leases, pub/sub), with commands packed by hiredis; and what the
node's loops share on them (a cancelled loop stops: :func:`still_wanted`; a queue taken in
bursts: :class:`Bursts`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any, Generic, TypeVar

import redis
import redis.asyncio as aredis
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis


def client_options(timeout: float) -> dict[str, Any]:
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout}


def connect(url: str, timeout: float = 1.0) -> Any:
    """A blocking client for ``url``: a cluster client when the server runs Redis Cluster."""
    plain = redis.Redis.from_url(url, **client_options(timeout))
    try:
        sharded = int(plain.info("cluster").get("cluster_enabled", 0)) == 1
    except redis.RedisError:
        sharded = False
    if not sharded:
        return plain
    plain.close()
    return redis.RedisCluster.from_url(url, **client_options(timeout))


class PackedConnection(aredis.Connection):
    """redis-py's asyncio connection packing commands with hiredis (C) when it is installed, as
    its blocking connection does: its own packer, in Python, was the node's largest cost - a
    third of its CPU time under the benchmark's load (cProfile with CPU time: 50,000 encode
    calls per 1,900 commands), as each fenced append carries a dozen arguments."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._packer = HiredisRespSerializer() if HIREDIS_AVAILABLE else None

    def pack_command(self, *args: Any) -> list[bytes]:
        if self._packer is None:
            return super().pack_command(*args)
        name = args[0]
        if type(name) is str and " " not in name:  # (EVALSHA, SET...: no "SCRIPT LOAD" split)
            # hiredis straight away: the serializer's pass over every argument for bytearray
            # and memoryview (none here: str, bytes, int) was 3 % of the node's CPU (cProfile,
            # CPU clock: 92,000 isinstance calls per 1,661 commands of ~56 arguments)
            with contextlib.suppress(TypeError):  # (else the serializer's conversion, error)
                return [hiredis.pack_command(args)]
        return self._packer.pack(*args)  # type: ignore[no-any-return]


def still_wanted() -> None:
    """Raise CancelledError if this task was cancelled and went on: a cancellation that lands
    inside a redis-py command can come out as a RedisError, which a loop that survives Redis
    errors then swallows (seen: a node's lease loop, cancelled, heartbeating on for 10 s)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


T = TypeVar("T")


class Bursts(Generic[T]):
    """A queue one task works through in bursts: everything put while it was busy is taken
    at once (the node's publishes, its admitted commands)."""

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()

    def put(self, item: T) -> None:
        self._items.append(item)
        self._ready.set()

    async def take(self) -> list[T]:
        """Everything put since the last take (waiting for the first), in order; raises
        CancelledError once the calling task was cancelled (:func:`still_wanted`)."""
        still_wanted()
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._items)
        self._items.clear()
        return batch


class ScriptLine:
    """A Lua script called one call at a time (the hub's commits: one under way at most) on a
    connection of its own: each call is packed, sent and its answer read straight on it, not
    through the client's per-command layers (the pool's get and release, the retry wrapper,
    the response parsing by command name) - 0.7-0.8x the client's CPU per call here.  A lost
    connection is connected again by the next call; a Redis that lost the script (restarted,
    ``SCRIPT FLUSH``) is given it again, once per call."""

    def __init__(self, client: Any, text: str) -> None:
        self.client = client  # redis.asyncio.Redis (one server: not a Redis Cluster)
        self.script = client.register_script(text)
        self._conn: Any = None

    async def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        try:
            return await self._call(keys, args)
        except redis.exceptions.NoScriptError:
            await self.client.script_load(self.script.script)
            return await self._call(keys, args)

    async def _call(self, keys: list[Any], args: list[Any]) -> Any:
        if self._conn is None:  # (from the pool: closing the client disconnects it too)
            pool = self.client.connection_pool
            try:
                self._conn = await pool.get_connection()
            except TypeError:  # redis-py before 5.3 wants a command name
                self._conn = await pool.get_connection("EVALSHA")
        conn = self._conn
        try:
            command = conn.pack_command("EVALSHA", self.script.sha, len(keys), *keys, *args)
            await conn.send_packed_command(command, check_health=False)
            return await conn.read_response()
        except redis.ResponseError:
            raise  # (an answer, read whole: the connection is in step)
        except BaseException:  # lost, timed out or cancelled mid-answer: out of step
            await conn.disconnect()
            raise
