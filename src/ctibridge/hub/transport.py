"""uvicorn's WebSocket protocol with corked writes: one socket write per connection per loop tick.

uvicorn writes every WebSocket message to the socket as soon as the app sends it, one system
call each.  A hub command causes two or three events, each sent to every app of the agent in the
same loop tick, and those system calls were most of the cost of fanning events out (the single
largest item in a profile of the hub at 10 apps per agent).  ``CorkedWebSocketProtocol`` collects
the frames written during one tick and hands them to the socket as one write at the end of it:
the same bytes in the same order, fewer system calls.  Flow control is untouched (the real
transport still pauses the protocol when its buffer is full); closing writes what is held first.

It also offers the app a way around the per-message ASGI path for fan-out: the ASGI extension
``ctibridge.frames`` (``scope["extensions"]``) holds ``write(frame) -> bool``, which writes a
prebuilt frame (``text_frame``) at once.  One event goes to every app of an agent as the same
bytes, so the hub builds its frame once instead of each app's send building it again (through
Starlette, uvicorn and websockets, a third of the hub's CPU at 10 apps per agent).  ``write``
refuses (False) unless the connection is open and its transport accepts more (not paused by
flow control); the caller then sends the ordinary way.

The same extension offers the other direction: ``read(reader)`` registers ``reader(frame)``,
which then gets every complete data frame (text as ``str``, binary as ``bytes``) straight from
the parser, in the protocol's ``data_received``, instead of each frame going through the ASGI
receive queue (a future woken, the endpoint task resumed, reading paused and resumed, Starlette's
``receive``: the ASGI receive path was ~20 % of the hub's CPU at 1 app per agent).  Frames
already in the queue when it is registered are still read from it first, in order; ``read(None)``
hands frames back to the queue.  Disconnects still arrive through the queue.

Serve with ``uvicorn.run(app, ws=CorkedWebSocketProtocol)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

FRAMES_EXTENSION = "ctibridge.frames"


def text_frame(payload: bytes) -> bytes:
    """One unmasked (server-to-client) WebSocket text frame carrying ``payload`` (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


class CorkedTransport:
    """A transport that holds the writes of one loop tick and passes them on as one."""

    __slots__ = ("_buffer", "_loop", "_scheduled", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        self._buffer.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if not self._buffer:
            return
        data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
        self._buffer.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:  # asked for every frame written: not through __getattr__
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CorkedWebSocketProtocol(WebSocketsSansIOProtocol):
    reader: Callable[[str | bytes], None] | None = None  # set per connection by read()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        corked = CorkedTransport(cast(asyncio.Transport, transport), asyncio.get_running_loop())
        super().connection_made(cast(asyncio.Transport, corked))

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = cast(dict[str, Any] | None, getattr(self, "scope", None))
        if scope is not None:
            scope.setdefault("extensions", {})[FRAMES_EXTENSION] = {
                "write": self.write_frame,
                "read": self.read,
            }

    def write_frame(self, frame: bytes) -> bool:
        """Write a prebuilt text frame now; False when the connection cannot take it now (not
        open yet or any more, or paused by flow control) and it must be sent the ordinary way."""
        if (
            self.conn.state is not State.OPEN
            or self.close_sent
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    def read(self, reader: Callable[[str | bytes], None] | None) -> None:
        """Hand every complete data frame to ``reader`` from now on (None: to the ASGI queue)."""
        self.reader = reader

    def send_receive_event_to_app(self) -> None:
        reader = self.reader
        if reader is None or self.close_sent or not self.queue.empty():
            super().send_receive_event_to_app()  # no reader, closing, or queued frames first
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        if self.curr_msg_data_type != "text":
            self.frames = []
            reader(data)
            return
        try:
            text = data.decode()
        except UnicodeDecodeError:
            super().send_receive_event_to_app()  # uvicorn's answer: close 1007
            return
        self.frames = []
        reader(text)
