"""The hub's endpoints as Starlette endpoint classes: :class:`AppSocket` serves ``/ws`` (the
checks, then it reads the app's frames; a writer task per app sends) and :class:`HttpApi` the
HTTP routes.  Both hold the hub; ``hub/app.py`` mounts them.

A WebSocket is checked in this order, each failure closing it with its code (after the accept,
so browsers see the code): the page's Origin (4403), the token (4401), the token's agents
(4403), the agent (4404), the connection limits (1013).  Then the endpoint's task feeds frames
to the hub and a writer task drains the app's outbox; whichever ends first ends the connection.  A
connection lives no longer than its token: it is closed with 4401 when the token expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import msgspec
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import HTTPConnection
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.types import Message
from starlette.websockets import WebSocket

from .. import __version__, auth
from .. import protocol as p
from ..protocol.registry import QUERIES
from . import views
from .closecodes import (
    CLOSE_FORBIDDEN,
    CLOSE_IDLE,
    CLOSE_NORMAL,
    CLOSE_RESTART,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNKNOWN_AGENT,
)
from .cluster_seam import CLUSTER_UNAVAILABLE
from .connection import AppConnection
from .core import JOURNAL_UNAVAILABLE, Hub
from .limits import LimitExceeded
from .transport import FRAMES_EXTENSION

log = logging.getLogger("ctibridge.hub")


def _error_json(err: p.ProtocolError, status: int) -> JSONResponse:
    env = p.protocol_error_event(err)
    return JSONResponse(msgspec.to_builtins(env), status_code=status)


def _unknown_agent(login: str, known: list[str]) -> p.ProtocolError:
    """No such agent, and the way out: the agents the caller may use (GET /agents)."""
    if not login:  # told before any token is checked, so it names no agents
        code = "the URL names no agent: add ?agent=LOGIN (GET /agents lists them)"
    else:
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        code = f"{login} is not an agent of this hub; agents: {listed or 'none'} (GET /agents)"
    return p.ProtocolError("UNKNOWN_AGENT", code, topic="System")


def _forbidden(login: str) -> p.ProtocolError:
    return p.ProtocolError("FORBIDDEN", f"the token does not allow agent {login}", topic="System")


# a browser's WebSocket cannot send headers; its page offers the subprotocols "ctibridge" and
# "ctibridge.token.<token>" instead of putting the token in the URL (the hub answers "ctibridge")
SUBPROTOCOL = "ctibridge"
TOKEN_SUBPROTOCOL = "ctibridge.token."
# refusals that are the hub's trouble, not the request's: HTTP 503 (try again later)
_UNAVAILABLE = frozenset({JOURNAL_UNAVAILABLE, CLUSTER_UNAVAILABLE})


def _offered(conn: HTTPConnection) -> list[str]:
    header = conn.headers.get("sec-websocket-protocol") or ""
    return [part.strip() for part in header.split(",") if part.strip()]


def _token(conn: HTTPConnection, query: bool) -> str | None:
    """The request's token: ``Authorization: Bearer``; for WebSockets (``query``) also the
    token subprotocol or ``?token=``."""
    header = auth.bearer(conn.headers.get("authorization"))
    if header is not None or not query:
        return header
    for offered in _offered(conn):
        if offered.startswith(TOKEN_SUBPROTOCOL):
            return offered[len(TOKEN_SUBPROTOCOL) :] or None
    return conn.query_params.get("token") or None


def _abort(ws: WebSocket) -> None:
    """Drop the TCP connection under ``ws`` (a peer that will not read its close frame).

    ASGI has no abort; uvicorn's receive callable is a method of its protocol object, which
    holds the transport.  Elsewhere this does nothing and the server's own timeouts apply."""
    transport = getattr(getattr(ws._receive, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if callable(abort):
        abort()


def _frame(message: Message) -> str | bytes:
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


def _fields(login: str, app: str, conn: AppConnection, resume_from: int | None) -> dict[str, Any]:
    return {"agent": login, "app": app, "conn": conn.id, "resumeFrom": resume_from}


class _Endpoints:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.limits = hub.settings.limits

    def origin_ok(self, conn: HTTPConnection) -> bool:
        return auth.origin_allowed(
            conn.headers.get("origin"),
            conn.headers.get("host"),
            self.hub.settings.auth.allowed_origins,
        )

    def known(self, grant: auth.Grant | None) -> list[str]:
        """The logins a caller may act for (every agent without tokens)."""
        return [
            row["login"] for row in views.agents(self.hub, None if grant is None else grant.agents)
        ]


class AppSocket(_Endpoints):
    """``/ws``: one app's WebSocket to one agent."""

    async def close(self, ws: WebSocket, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code=code, reason=reason), self.limits.close_timeout_s)
        except TimeoutError:
            _abort(ws)
        except Exception:  # already closed by the peer
            pass

    async def refuse(self, ws: WebSocket, code: int, reason: str, kind: str, login: str) -> None:
        self.hub.metrics.rejected.labels(kind).inc()
        log.info("connection refused", extra={"agent": login, "code": code, "reason": reason})
        await self.close(ws, code, reason)

    async def refuse_unknown(self, ws: WebSocket, login: str, agents: list[str]) -> None:
        env = p.protocol_error_event(_unknown_agent(login, agents))
        await ws.send_text(p.encode(env).decode())
        reason = f"unknown agent {login!r}" if login else "no agent= in the URL"
        await self.refuse(ws, CLOSE_UNKNOWN_AGENT, reason, "unknown_agent", login)

    async def admit(self, ws: WebSocket, login: str) -> auth.Grant | bool | None:
        """Accept ``ws`` and check its Origin, its ``agent=`` and its token for ``login``: the
        grant (None without tokens), or False once it was refused and closed."""
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in _offered(ws) else None)
        if not self.origin_ok(ws):
            await self.refuse(ws, CLOSE_FORBIDDEN, "origin not allowed", "origin", login)
            return False
        if not login:
            await self.refuse_unknown(ws, login, [])
            return False
        try:
            grant = self.hub.authenticate(_token(ws, query=True))
        except auth.AuthError as e:
            await self.refuse(ws, CLOSE_UNAUTHORIZED, e.reason, "auth", login)
            return False
        if grant is not None and not grant.allows(login):
            reason = f"the token does not allow agent {login!r}"
            await self.refuse(ws, CLOSE_FORBIDDEN, reason, "forbidden", login)
            return False
        return grant

    def expire_at(
        self, grant: auth.Grant | None, conn: AppConnection
    ) -> asyncio.TimerHandle | None:
        """Close ``conn`` with 4401 when its token expires (apps renew by reconnecting)."""
        if grant is None or grant.expires_at is None:
            return None
        delay = max(0.0, grant.expires_at - time.time())
        return asyncio.get_running_loop().call_later(
            delay, conn.shut, CLOSE_UNAUTHORIZED, "token expired"
        )

    async def endpoint(self, ws: WebSocket) -> None:
        login = ws.query_params.get("agent", "")
        grant = await self.admit(ws, login)
        if grant is False:
            return
        token = grant if isinstance(grant, auth.Grant) else None
        app = token.app if token is not None else ""
        if not self.hub.knows(login):
            await self.refuse_unknown(ws, login, self.known(token))
            return
        if self.hub.draining:
            await self.refuse(ws, CLOSE_RESTART, "server shutting down", "draining", login)
            return
        resume_raw = ws.query_params.get("resumeFrom")
        resume_from: int | None = None
        if resume_raw is not None:
            try:
                resume_from = int(resume_raw)
            except ValueError:
                resume_from = -1  # an unreadable seq: treat as a gap (fresh StateSync + RESUME_GAP)
        # resumes are budgeted per token (per app name without tokens)
        resume_key = token.token_id if token is not None else app
        try:
            conn = self.hub.attach(login, resume_from, app=app, resume_key=resume_key)
        except LimitExceeded as e:
            await self.refuse(ws, e.close_code, e.reason, e.kind, login)
            return
        expiry = self.expire_at(token, conn)
        conn.heard = asyncio.get_running_loop().time()
        # the endpoint's own task reads; a writer task drains the outbox only while it holds
        # messages (events mostly go straight to the socket: idle connections are many)
        link = _Link(self, ws, conn)
        frames = (ws.scope.get("extensions") or {}).get(FRAMES_EXTENSION)
        if frames is not None:  # served by CorkedWebSocketProtocol: events may skip the writer,
            conn.direct = frames["write"]  # and the app's frames the ASGI receive path
            frames["read"](link.heard)
        # the log fields are built again at the end rather than kept: idle connections are many
        log.info("app connected", extra=_fields(login, app, conn, resume_from))
        why = "client"
        try:
            try:
                why = await link.read(self.limits.idle_timeout_s or None)
            except Exception:
                why = "error"
            link.stop()
            if why == "idle":
                await self.close(ws, CLOSE_IDLE, "idle timeout")
            elif why == "shut":
                why = {
                    CLOSE_RESTART: "shutdown",
                    CLOSE_TOO_SLOW: "slow",
                    CLOSE_UNAUTHORIZED: "expired",
                }.get(conn.close_code or 0, "closed")
                await self.close(ws, conn.close_code or CLOSE_NORMAL, conn.close_reason)
        finally:
            if frames is not None:
                frames["read"](None)
            if expiry is not None:
                expiry.cancel()
            link.stop()
            self.hub.detach(conn)
            if why != "slow":  # counted when it was dropped
                self.hub.metrics.disconnects.labels(why).inc()
            fields = _fields(login, app, conn, resume_from)
            log.info("app disconnected", extra={**fields, "reason": why})

    def take(self, conn: AppConnection, frame: str | bytes) -> None:
        if self.hub.draining:  # after SIGTERM frames are not taken; the app gets 1012 and resumes
            self.hub.refuse_frame(conn, frame, "SHUTTING_DOWN", "the hub is draining (SIGTERM)")
            return
        try:
            self.hub.receive(conn.login, conn.id, frame)
        except Exception:  # a bug must not end the app's connection (nor the hub)
            log.exception("frame handling failed", extra={"agent": conn.login, "conn": conn.id})
            self.hub.count_error("INTERNAL")


class _Link:
    """One open app WebSocket: the endpoint's read loop, and a writer task that exists only
    while the app's outbox holds messages.

    Events mostly reach an app as prebuilt frames written straight to its socket (the frames
    extension, ``hub/transport.py``), so an idle connection's outbox is empty; a writer task
    waiting on it cost ~1 kB per idle connection (the task, its coroutine, the outbox's future,
    the done callback that woke the reader: ``bench.idlemem``).  Now ``conn.on_queued`` starts
    the task when a message is queued and it ends once the outbox is empty.  The read loop
    learns of the end through ``ended``: "shut" (the connection's close was taken from the
    outbox, or it overflowed: ``on_shut``) or "client" (a send failed: the peer went away)."""

    __slots__ = ("conn", "deadline", "ended", "endpoint", "writer", "ws")

    def __init__(self, endpoint: AppSocket, ws: WebSocket, conn: AppConnection) -> None:
        self.endpoint = endpoint
        self.ws = ws
        self.conn = conn
        self.writer: asyncio.Task[None] | None = None
        self.deadline: asyncio.Timeout | None = None  # the read's, while it waits
        self.ended: str | None = None
        conn.on_queued = self.queued
        conn.on_shut = self.shut_now  # an overflow stops the writer even in the middle of a send
        if not conn.outbox.empty():  # what attach() queued (StateSync, a replay's first page)
            self.queued()

    def heard(self, frame: str | bytes) -> None:
        """A frame the transport handed over directly (no ASGI receive): taken at once."""
        self.conn.heard = asyncio.get_running_loop().time()
        self.endpoint.take(self.conn, frame)

    def queued(self) -> None:
        if self.writer is None and self.ended is None:
            self.writer = asyncio.get_running_loop().create_task(self.write())

    async def write(self) -> None:
        conn, outbox = self.conn, self.conn.outbox
        try:
            while not outbox.empty():
                data = outbox.get_nowait()
                if data is None:
                    self.end("shut")
                    return
                conn.sending = True  # a send waiting for the socket: direct frames must not pass
                try:
                    await self.ws.send_text(data)
                finally:
                    conn.sending = False
        except Exception:
            self.end("client")  # the peer went away under a send
        finally:
            if self.writer is asyncio.current_task():
                self.writer = None

    def shut_now(self) -> None:
        self.stop()
        self.end("shut")

    def stop(self) -> None:
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.cancel()

    def end(self, why: str) -> None:
        """The connection is over: wake the read loop at once."""
        if self.ended is None:
            self.ended = why
        deadline = self.deadline
        if deadline is not None and not deadline.expired():
            deadline.reschedule(asyncio.get_running_loop().time())

    async def read(self, idle: float | None) -> str:
        """Take the app's frames until it leaves ("client"), stays silent for ``idle`` seconds
        ("idle") or the connection ends (:attr:`ended`).

        Frames the transport hands over directly (:meth:`heard`) do not pass here: they only
        move ``conn.heard``, which the idle deadline is checked against when it expires (not
        rescheduled per frame)."""
        ws, conn, endpoint = self.ws, self.conn, self.endpoint
        loop = asyncio.get_running_loop()
        try:
            while self.ended is None:
                try:
                    async with asyncio.timeout(None) as self.deadline:
                        while self.ended is None:
                            self.deadline.reschedule(None if idle is None else conn.heard + idle)
                            message = await ws.receive()
                            if message["type"] == "websocket.disconnect":
                                return "client"
                            conn.heard = loop.time()
                            endpoint.take(conn, _frame(message))
                except TimeoutError:
                    if self.ended is None and idle is not None and loop.time() >= conn.heard + idle:
                        return "idle"
            return self.ended
        finally:
            self.deadline = None
            if self.ended is None:  # no writer starts while the endpoint closes the socket
                self.ended = "over"


class HttpApi(_Endpoints):
    """The HTTP routes: one-off commands and queries, state, agents, health, metrics, schemas."""

    def http_guard(self, request: HttpRequest, login: str | None) -> Response | auth.Grant | None:
        """The caller's grant, or the response refusing it."""
        if not self.origin_ok(request):
            return _error_json(p.ProtocolError("FORBIDDEN", "origin not allowed"), 403)
        try:
            grant = self.hub.authenticate(_token(request, query=False))
        except auth.AuthError as e:  # the same error body as 403 and 404
            response = _error_json(p.ProtocolError("UNAUTHORIZED", e.reason), 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="ctibridge"'
            return response
        if login is not None and grant is not None and not grant.allows(login):
            return _error_json(_forbidden(login), 403)
        if login is not None and not self.hub.knows(login):
            return _error_json(_unknown_agent(login, self.known(grant)), 404)
        return grant

    async def post_message(self, request: HttpRequest) -> Response:
        login = request.path_params["login"]
        guard = self.http_guard(request, login)
        if isinstance(guard, Response):
            return guard
        if self.hub.draining:
            err = p.ProtocolError("SHUTTING_DOWN", "the hub is draining (SIGTERM)")
            return _error_json(err, 503)
        if not self.hub.http_allowed(login):
            self.hub.count_error("RATE_LIMITED")
            code = f"more than {self.limits.http_rate_per_s:g} requests/s for this agent"
            return _error_json(p.ProtocolError("RATE_LIMITED", code), 429)
        body = await self._body(request)
        if body is None:
            self.hub.count_error("FRAME_TOO_LARGE")
            code = f"body over {self.limits.max_message_bytes} bytes"
            return _error_json(p.ProtocolError("FRAME_TOO_LARGE", code), 413)
        try:
            req = p.decode_request(body)
        except p.ProtocolError as err:
            self.hub.count_error(err.type)
            return _error_json(err, 413 if err.type == "FRAME_TOO_LARGE" else 400)
        if req.topic == "Simulator" and not self.hub.simulates:
            return _error_json(
                p.ProtocolError("UNKNOWN_TOPIC", "Simulator", topic="Simulator"), 400
            )
        rid = req.request_id or uuid.uuid4().hex
        req = msgspec.structs.replace(req, request_id=rid)
        app = guard.app if guard else ""
        if req.subtopic in QUERIES:
            answer = await self.hub.query_http(login, f"http-{rid}", req, app=app)
            return JSONResponse(msgspec.to_builtins(answer))
        answers = await self.hub.submit_http(login, f"http-{rid}", req, app=app)
        if answers:  # refused at once, to the sender only: the response is the only way back
            message = answers[0].message
            kind, code = getattr(message, "type", ""), getattr(message, "code", "")
            status = 403 if kind == "FORBIDDEN" else 503 if code in _UNAVAILABLE else 409
            return JSONResponse(msgspec.to_builtins(answers[0]), status_code=status)
        return JSONResponse({"requestId": rid}, status_code=202)

    async def _body(self, request: HttpRequest) -> bytes | None:
        """The body, or None past ``max_message_bytes`` (not read further)."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.limits.max_message_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def agent_state(self, request: HttpRequest) -> Response:
        login = request.path_params["login"]
        guard = self.http_guard(request, login)
        if isinstance(guard, Response):
            return guard
        return JSONResponse(views.agent_state(self.hub, login))

    async def agents(self, request: HttpRequest) -> Response:
        guard = self.http_guard(request, None)
        if isinstance(guard, Response):
            return guard
        return JSONResponse(views.agents(self.hub, None if guard is None else guard.agents))

    async def healthz(self, request: HttpRequest) -> Response:
        ok, body = views.health(self.hub)
        if not self.hub.insecure:
            try:  # the detail names agents and paths: for holders of a token only
                self.hub.authenticate(_token(request, query=False))
            except auth.AuthError:
                body = {"status": body["status"]}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_text(self, request: HttpRequest) -> Response:
        self.hub.metrics.flush()  # this tick's tallies too
        return Response(generate_latest(self.hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def schema(self, request: HttpRequest) -> Response:
        return JSONResponse(p.json_schema())

    async def asyncapi(self, request: HttpRequest) -> Response:
        host = request.headers.get("host") or f"{self.hub.settings.host}:{self.hub.settings.port}"
        document: dict[str, Any] = p.asyncapi_document(
            host, secured=not self.hub.insecure, version=__version__
        )
        return JSONResponse(document)
