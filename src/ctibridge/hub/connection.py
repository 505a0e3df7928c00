"""One app's connection to one agent: its ordered, bounded outbox and why it was shut."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from .closecodes import CLOSE_NORMAL, CLOSE_TOO_SLOW
from .limits import TokenBucket


class AppConnection:
    """One app's connection to one agent: an ordered, bounded outbox drained by a writer.

    The hub pushes messages as text (WebSocket text frames take ``str``: an event is decoded
    from its JSON bytes once for all its apps); the transport's writer takes them in order and
    ends at the ``None`` that :meth:`shut` queues, closing with ``close_code``.  A push beyond
    ``limit`` shuts the connection at once (1013) — the transport's ``on_shut`` stops its writer
    even mid-send — and the hub forgets it: a slow app never holds up the others.
    """

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
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.limit = limit
        self.max_bytes = max_bytes  # 0: no bound
        self.max_age_s = max_age_s  # 0: no bound
        self.queued_bytes = 0
        self._stamps: deque[tuple[float, int]] = deque()  # per waiting message: (queued at, size)
        # while a resume replay is being read: live messages wait here, (seq, text), in order
        self.held: list[tuple[int | None, str]] | None = None
        self.bucket = bucket
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_shut: Callable[[], None] | None = None
        self.rate_limited = 0
        # writes a prebuilt frame at once when the server offers it (hub/transport.py): True if
        # written, False if the connection cannot take it now (then it goes through the outbox)
        self.direct: Callable[[bytes], bool] | None = None
        self.sending = False  # the writer holds a message it has not handed to the socket yet

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
        direct = self.direct
        if (
            frame is not None
            and direct is not None
            and not self.sending
            and self.outbox.empty()
            and direct(frame)
        ):
            return True
        return self.enqueue(data)

    def enqueue(self, data: str) -> bool:
        """Queue ``data`` for the writer, or drop the app (1013) when it is too far behind."""
        if self.close_code is not None:
            return False
        reason = self._too_slow(len(data))
        if reason is not None:
            self.shut(CLOSE_TOO_SLOW, reason, now=True)
            return False
        self.outbox.put_nowait(data)
        self.queued_bytes += len(data)
        self._stamps.append((time.monotonic(), len(data)))
        return True

    def _too_slow(self, size: int) -> str | None:
        if self.outbox.qsize() >= self.limit:
            return f"too slow: {self.limit} messages waiting"
        if not self._stamps:
            return None  # nothing waiting: any one message may go
        if self.max_bytes and self.queued_bytes + size > self.max_bytes:
            return f"too slow: over {self.max_bytes} bytes waiting"
        if self.max_age_s and time.monotonic() - self._stamps[0][0] > self.max_age_s:
            return f"too slow: more than {self.max_age_s:g} s behind"
        return None

    def room(self, count: int) -> bool:
        """Could ``count`` more messages be queued now (a replay page waits until they can)?"""
        if self.outbox.qsize() + count > self.limit:
            return False
        return not self.max_bytes or self.queued_bytes <= self.max_bytes // 2

    async def next(self) -> str | None:
        """The next message for the writer (None: close)."""
        data = await self.outbox.get()
        if data is not None and self._stamps:
            self.queued_bytes -= self._stamps.popleft()[1]
        return data

    def shut(self, code: int, reason: str, *, now: bool = False) -> None:
        """Close with ``code``: after the queued messages, or at once with ``now``."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self.outbox.put_nowait(None)
        if now and self.on_shut is not None:
            self.on_shut()

    def close(self) -> None:
        self.shut(CLOSE_NORMAL, "")
