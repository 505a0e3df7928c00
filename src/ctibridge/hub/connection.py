"""One app's connection to one agent: its ordered, bounded outbox and why it was shut.

Kept small, as a hub holds thousands of them idle: ``__slots__``, and an outbox of one list
(each message with its queueing time and size) and at most one waiting reader (the writer),
not an ``asyncio.Queue`` (three deques and a condition) beside a deque of time stamps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from .closecodes import CLOSE_NORMAL, CLOSE_TOO_SLOW
from .limits import TokenBucket


class Outbox:
    """A FIFO of messages for one writer: ``put_nowait`` never blocks (the hub bounds it, see
    :meth:`AppConnection.enqueue`); ``get`` waits for the next one.  The same calls as the
    ``asyncio.Queue`` it replaces, and what the limits need: the bytes waiting and since when.

    A list read from ``_head`` on (an empty list is 56 bytes, an empty deque 760: most
    connections are idle, and their outbox empty)."""

    __slots__ = ("_head", "_items", "_waiter", "bytes")

    def __init__(self) -> None:
        # (message, queued at, size) from _head on; None (the end) counts no bytes
        self._items: list[tuple[str | None, float, int] | None] = []
        self._head = 0
        self._waiter: asyncio.Future[None] | None = None
        self.bytes = 0

    def qsize(self) -> int:
        return len(self._items) - self._head

    def empty(self) -> bool:
        return self._head == len(self._items)

    def oldest(self) -> float | None:
        """When the oldest message still waiting was queued."""
        if self._head == len(self._items):
            return None
        first = self._items[self._head]
        assert first is not None
        return first[1]

    def put_nowait(self, item: str | None) -> None:
        size = 0 if item is None else len(item)
        self._items.append((item, time.monotonic(), size))
        self.bytes += size
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> str | None:
        items, head = self._items, self._head
        if head == len(items):
            raise asyncio.QueueEmpty
        entry = items[head]
        assert entry is not None
        items[head] = None  # the message is the writer's now: not kept alive here
        head += 1
        if head == len(items):
            self._items, head = [], 0
        elif head > 64 and 2 * head > len(items):  # never empty for long: drop the read part
            del items[:head]
            head = 0
        self._head = head
        self.bytes -= entry[2]
        return entry[0]

    async def get(self) -> str | None:
        while self._head == len(self._items):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()


class AppConnection:
    """One app's connection to one agent: an ordered, bounded outbox drained by a writer.

    The hub pushes messages as text (WebSocket text frames take ``str``: an event is decoded
    from its JSON bytes once for all its apps); the transport's writer takes them in order and
    ends at the ``None`` that :meth:`shut` queues, closing with ``close_code``.  A push beyond
    ``limit`` shuts the connection at once (1013) — the transport's ``on_shut`` stops its writer
    even mid-send — and the hub forgets it: a slow app never holds up the others.
    """

    __slots__ = (
        "app",
        "bucket",
        "close_code",
        "close_reason",
        "direct",
        "floor",
        "heard",
        "held",
        "id",
        "limit",
        "login",
        "max_age_s",
        "max_bytes",
        "on_queued",
        "on_shut",
        "outbox",
        "rate_limited",
        "sending",
    )  # fmt: skip

    def __init__(
        self,
        conn_id: str,
        login: str,
        limit: int,
        app: str = "",
        bucket: TokenBucket | None = None,
        *,
        max_bytes: int = 0,
        max_age_s: float = 0.0,
    ) -> None:
        self.id = conn_id
        self.login = login
        self.app = app
        self.outbox = Outbox()
        self.limit = limit
        self.max_bytes = max_bytes  # 0: no bound
        self.max_age_s = max_age_s  # 0: no bound
        # while a resume replay is being read: live messages wait here, (seq, text), in order
        self.held: list[tuple[int | None, str]] | None = None
        self.bucket = bucket
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_shut: Callable[[], object] | None = None
        # called when a message (or the close) is queued: the transport starts its writer
        self.on_queued: Callable[[], object] | None = None
        self.rate_limited = 0
        # writes a prebuilt frame at once when the server offers it (hub/transport.py): True if
        # written, False if the connection cannot take it now (then it goes through the outbox)
        self.direct: Callable[[bytes], bool] | None = None
        self.sending = False  # the writer holds a message it has not handed to the socket yet
        self.heard = 0.0  # the loop's time of the app's last frame (the idle timeout)
        # events up to this seq are in the StateSync it was sent: not sent again (Hub.carry_out)
        self.floor = 0

    @property
    def overflowed(self) -> bool:
        return self.close_code == CLOSE_TOO_SLOW

    def push(self, data: str, frame: bytes | None = None, seq: int | None = None) -> bool:
        """Queue ``data``; False if the connection is closing (or just overflowed).

        Given ``data``'s prebuilt ``frame`` and nothing of this app's waiting before it, the
        frame is written at once instead (no writer, no per-app encoding)."""
        if self.close_code is not None:
            return False
        if self.held is not None:  # behind a replay
            if len(self.held) + self.outbox.qsize() >= self.limit:
                self.shut(CLOSE_TOO_SLOW, f"too slow: {self.limit} messages waiting", now=True)
                return False
            self.held.append((seq, data))
            return True
        if frame is not None and self.write_now(frame):
            return True
        return self.enqueue(data)

    def write_now(self, frames: bytes) -> bool:
        """Write prebuilt ``frames`` (one or more, in order) straight to the socket, if the
        transport offers it and nothing of this app's waits before them (nothing queued, no
        replay, not closing): True if written, else the caller pushes them one by one."""
        direct = self.direct
        return (
            direct is not None
            and self.close_code is None
            and self.held is None
            and not self.sending
            and self.outbox.empty()
            and direct(frames)
        )

    def enqueue(self, data: str) -> bool:
        """Queue ``data`` for the writer, or drop the app (1013) when it is too far behind."""
        if self.close_code is not None:
            return False
        reason = self._too_slow(len(data))
        if reason is not None:
            self.shut(CLOSE_TOO_SLOW, reason, now=True)
            return False
        self.outbox.put_nowait(data)
        if self.on_queued is not None:
            self.on_queued()
        return True

    @property
    def queued_bytes(self) -> int:
        return self.outbox.bytes

    def _too_slow(self, size: int) -> str | None:
        outbox = self.outbox
        if outbox.qsize() >= self.limit:
            return f"too slow: {self.limit} messages waiting"
        oldest = outbox.oldest()
        if oldest is None:
            return None  # nothing waiting: any one message may go
        if self.max_bytes and outbox.bytes + size > self.max_bytes:
            return f"too slow: over {self.max_bytes} bytes waiting"
        if self.max_age_s and time.monotonic() - oldest > self.max_age_s:
            return f"too slow: more than {self.max_age_s:g} s behind"
        return None

    def room(self, count: int) -> bool:
        """Could ``count`` more messages be queued now (a replay page waits until they can)?"""
        if self.outbox.qsize() + count > self.limit:
            return False
        return not self.max_bytes or self.outbox.bytes <= self.max_bytes // 2

    async def next(self) -> str | None:
        """The next message for the writer (None: close)."""
        return await self.outbox.get()

    def shut(self, code: int, reason: str, *, now: bool = False) -> None:
        """Close with ``code``: after the queued messages, or at once with ``now``."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self.outbox.put_nowait(None)
        if now and self.on_shut is not None:
            self.on_shut()
        elif self.on_queued is not None:
            self.on_queued()

    def close(self) -> None:
        self.shut(CLOSE_NORMAL, "")
