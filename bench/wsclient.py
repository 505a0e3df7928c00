"""A minimal RFC 6455 client for the load generator: as little work per frame as possible.

The generator shares a 2-core machine with the server it measures, so every microsecond it
spends per frame is one the server does not get.  A general client (``websockets``) costs
several times this one per frame; here a frame is a header check and a slice.

What it does not do (and the bench does not need): fragmented messages, extensions, TLS.
Client frames are masked with an all-zero key, which RFC 6455 permits on the wire (the server
unmasks with whatever key it is given) and which spares masking the payload in Python.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import cast

FrameHandler = Callable[["WsConnection", bytes, int], None]
"""Called with (connection, payload, receive time in ns) for each text/binary frame."""

_ZERO_MASK = b"\x00\x00\x00\x00"


def _client_header(length: int) -> bytes:
    if length < 126:
        return bytes((0x81, 0x80 | length)) + _ZERO_MASK
    if length < 65536:
        return bytes((0x81, 0x80 | 126)) + length.to_bytes(2, "big") + _ZERO_MASK
    return bytes((0x81, 0x80 | 127)) + length.to_bytes(8, "big") + _ZERO_MASK


class WsConnection(asyncio.Protocol):
    def __init__(self, host: str, port: int, path: str, on_frame: FrameHandler | None) -> None:
        self.on_frame = on_frame
        self.frames = 0
        self.bytes_in = 0
        self.open = False
        self._closing = False
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        key = base64.b64encode(os.urandom(16)).decode()
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport
        cast(asyncio.Transport, transport).write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"closed during handshake: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        buf = self._buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if b" 101 " not in status:
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.open = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            opcode = b0 & 0x0F
            payload = bytes(buf[pos + head : end])
            pos = end
            if opcode in (1, 2):
                self.frames += 1
                self.bytes_in += length
                if self.on_frame is not None:
                    self.on_frame(self, payload, now)
            elif opcode == 9:  # ping: answer, or the server drops an idle connection
                self._write_frame(0x8A, payload)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if not self._closing:
                    self._write_frame(0x88, payload[:2])
                assert self.transport is not None
                self.transport.close()
                break
        if pos:
            del buf[:pos]

    # sending --------------------------------------------------------------------------------------

    def send_text(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_client_header(len(payload)) + payload)

    def _write_frame(self, first: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(bytes((first, 0x80 | len(payload))) + _ZERO_MASK + payload)

    def close(self) -> None:
        """Start the closing handshake (1000); ``closed`` resolves when the socket is gone."""
        if self.transport is None or self.transport.is_closing():
            return
        self._closing = True
        if self.open:
            self._write_frame(0x88, (1000).to_bytes(2, "big"))
        asyncio.get_running_loop().call_later(2.0, self.transport.close)


async def connect(
    host: str, port: int, path: str, on_frame: FrameHandler | None = None
) -> WsConnection:
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(
        lambda: WsConnection(host, port, path, on_frame), host, port
    )
    await conn.opened
    return conn
