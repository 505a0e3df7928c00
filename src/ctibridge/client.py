"""An asyncio client for the hub: connect as an app of one agent, send requests, await events.

``Client.request`` sends a request and returns every event it caused (or its failure).  It
knows the command is complete because it sends a private ``Agent/StateSync`` right behind it:
the hub runs an agent's requests one at a time, in order, so that answer arrives after the
last event of the command.  Every message but those private answers is also kept, in order,
in ``inbox`` for ``next_event``, ``drain`` and ``events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import msgspec
import websockets

Message = dict[str, Any]
_MISSING: Any = object()


class Result(msgspec.Struct):
    """What one request caused: its events (in order) and its error, if it failed."""

    request_id: str
    events: list[Message]
    error: Message | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ClientClosed(ConnectionError):
    """The hub closed the connection (its code and reason are in the message and in ``code``,
    ``reason``; ``error`` is the error message the hub sent before closing, if any)."""

    def __init__(
        self, message: str, code: int | None = None, reason: str = "", error: Message | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.error = error


class Client:
    def __init__(self, ws: Any, agent: str, source: str) -> None:
        self._ws = ws
        self.agent = agent
        self.source = source
        self.sync: list[Message] = []
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._pending: dict[str, list[Message]] = {}
        self._barriers: dict[str, asyncio.Future[Message]] = {}
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self._arrived = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        url: str,
        agent: str,
        *,
        source: str = "ctibridge-client",
        resume_from: int | None = None,
        token: str | None = None,
        sync: bool = True,
        max_size: int | None = 2**24,
    ) -> Client:
        """Open ``url`` (``ws://host:port``; ``http://`` is taken as ``ws://``) as an app of
        ``agent``.

        With ``sync`` (and no ``resume_from``) waits for the two StateSync answers the hub sends
        first and keeps them in ``client.sync``.
        """
        if url.startswith(("http://", "https://")):  # the hub's HTTP address names it too
            url = "ws" + url.removeprefix("http")
        query: dict[str, str] = {"agent": agent}
        if resume_from is not None:
            query["resumeFrom"] = str(resume_from)
        if token is not None:
            query["token"] = token
        ws = await websockets.connect(f"{url.rstrip('/')}/ws?{urlencode(query)}", max_size=max_size)
        client = cls(ws, agent, source)
        client._reader = asyncio.create_task(client._read())
        if sync and resume_from is None:
            try:
                first = await client.next_event()
            except ClientClosed:
                await client.close()  # refused without a word (auth): the close code says why
                raise
            if first.get("subtopic") == "Error":  # refused (unknown agent): say why
                await client.close()
                body = first.get("message") or {}
                raise ClientClosed(
                    f"{body.get('type')}: {body.get('code')} (close code {client.close_code})",
                    client.close_code,
                    client.close_reason,
                    first,
                )
            client.sync = [first, await client.next_event()]
        return client

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                message = json.loads(frame)
                rid = message.get("requestId")
                barrier = self._barriers.pop(rid, None) if rid is not None else None
                if barrier is not None:
                    if not barrier.done():
                        barrier.set_result(message)
                    continue
                if rid is not None and rid in self._pending:
                    self._pending[rid].append(message)
                await self.inbox.put(message)
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason or ""
            self.closed.set()
            for fut in self._barriers.values():
                if not fut.done():
                    fut.set_exception(self._closed_error())

    def _closed_error(self) -> ClientClosed:
        reason = f": {self.close_reason}" if self.close_reason else ""
        message = f"connection closed ({self.close_code}{reason})"
        return ClientClosed(message, self.close_code, self.close_reason)

    def _request_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def send_raw(self, frame: str | bytes) -> None:
        await self._ws.send(frame)

    async def send(
        self, topic: str, subtopic: str, data: Any = _MISSING, request_id: str | None = None
    ) -> str:
        """Send one request without waiting; returns its requestId."""
        rid = request_id or self._request_id()
        message: Message = {
            "channel": "Amazon",
            "topic": topic,
            "subtopic": subtopic,
            "source": self.source,
            "requestId": rid,
        }
        if data is not _MISSING:
            message["data"] = data
        await self._ws.send(json.dumps(message))
        return rid

    async def request(
        self, topic: str, subtopic: str, data: Any = _MISSING, *, timeout: float = 15.0
    ) -> Result:
        """Send a request and return the events it caused, or its failure."""
        rid = self._request_id()
        barrier_id = f"{rid}~done"
        self._pending[rid] = []
        loop = asyncio.get_running_loop()
        self._barriers[barrier_id] = loop.create_future()
        try:
            await self.send(topic, subtopic, data, request_id=rid)
            await self.send("Agent", "StateSync", request_id=barrier_id)
            await asyncio.wait_for(self._barriers[barrier_id], timeout)
        finally:
            self._barriers.pop(barrier_id, None)
            events = self._pending.pop(rid, [])
        error = next((m for m in events if m.get("subtopic") == "Error"), None)
        return Result(request_id=rid, events=events, error=error)

    async def next_event(self, timeout: float = 10.0) -> Message:
        """The next message not consumed by ``request`` (events, answers, errors); raises
        :class:`ClientClosed` once the connection is closed and every message was taken."""
        async with asyncio.timeout(timeout):
            while self.inbox.empty():
                if self.closed.is_set():
                    raise self._closed_error()
                self._arrived.clear()
                waits = {
                    asyncio.ensure_future(self._arrived.wait()),
                    asyncio.ensure_future(self.closed.wait()),
                }
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
            return self.inbox.get_nowait()

    async def flush(self, timeout: float = 10.0) -> list[Message]:
        """Every message received and not yet taken, up to now, in order.

        Sends a private ``Agent/StateSync`` and takes messages until its answer: the hub answers
        it after everything it already queued for this connection (one ordered outbox per app).
        """
        rid = f"{self._request_id()}~flush"
        await self.send("Agent", "StateSync", request_id=rid)
        out: list[Message] = []
        while True:
            message = await self.next_event(timeout=timeout)
            if message.get("requestId") == rid:
                return out
            out.append(message)

    def drain(self) -> list[Message]:
        """Every message received so far and not yet taken."""
        out = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out

    async def events(self) -> AsyncIterator[Message]:
        while True:
            get = asyncio.ensure_future(self.inbox.get())
            closed = asyncio.ensure_future(self.closed.wait())
            done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                closed.cancel()
                yield get.result()
            else:
                get.cancel()
                while not self.inbox.empty():
                    yield self.inbox.get_nowait()
                return
