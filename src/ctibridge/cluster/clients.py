"""A cluster node's Redis clients: the blocking one (the journal's resume reads, start-up) and
the asyncio ones (commits, leases, pub/sub), with commands packed by hiredis."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

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
