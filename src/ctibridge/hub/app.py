"""The ASGI app: ``/ws`` for apps, HTTP for one-off commands, state, health, metrics, schema."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .. import protocol as p
from .core import AppConnection, Hub
from .transport import FRAMES_EXTENSION

log = logging.getLogger("ctibridge.hub")

QUERIES = frozenset({"StateSync", "GetStates", "CcpAgentState"})
CLOSE_UNKNOWN_AGENT = 4404
CLOSE_TOO_SLOW = 1013


class Metrics:
    """The hub's Prometheus metrics (a first set: connections, commands, events, errors)."""

    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "ctibridge_app_connections", "Open app WebSocket connections", registry=self.registry
        )
        self.frames = Counter(
            "ctibridge_frames_received", "Frames received from apps", registry=self.registry
        )
        events = Gauge(
            "ctibridge_events_published", "Events published (journaled and sent)",
            registry=self.registry,
        )  # fmt: skip
        events.set_function(lambda: hub.stats["events"])
        errors = Gauge(
            "ctibridge_protocol_errors", "Frames answered with a protocol error",
            registry=self.registry,
        )  # fmt: skip
        errors.set_function(lambda: hub.stats["errors"])
        commands = Gauge(
            "ctibridge_requests", "Requests accepted by the engine", registry=self.registry
        )
        commands.set_function(lambda: hub.stats["commands"])


def _error_json(err: p.ProtocolError, status: int) -> JSONResponse:
    env = p.protocol_error_event(err)
    return JSONResponse(msgspec.to_builtins(env), status_code=status)


def _unknown_agent(login: str) -> p.ProtocolError:
    return p.ProtocolError("UNKNOWN_AGENT", login, topic="System")


def create_app(hub: Hub) -> Starlette:
    metrics = Metrics(hub)

    async def ws_endpoint(ws: WebSocket) -> None:
        login = ws.query_params.get("agent", "")
        await ws.accept()
        if not hub.knows(login):
            env = p.protocol_error_event(_unknown_agent(login or "(none)"))
            await ws.send_text(p.encode(env).decode())
            await ws.close(code=CLOSE_UNKNOWN_AGENT, reason=f"unknown agent {login!r}")
            return
        resume_raw = ws.query_params.get("resumeFrom")
        resume_from: int | None = None
        if resume_raw is not None:
            try:
                resume_from = int(resume_raw)
            except ValueError:
                resume_from = -1  # an unreadable seq: treat as a gap (fresh StateSync + RESUME_GAP)
        conn = hub.attach(login, resume_from)
        frames = (ws.scope.get("extensions") or {}).get(FRAMES_EXTENSION)
        if frames is not None:  # served by CorkedWebSocketProtocol: events skip the writer
            conn.direct = frames["write"]
        metrics.connections.inc()
        writer = asyncio.create_task(_write(ws, conn))
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                frame = message.get("text")
                if frame is None:
                    frame = message.get("bytes") or b""
                metrics.frames.inc()
                hub.receive(login, conn.id, frame)
        except WebSocketDisconnect:
            pass
        finally:
            hub.detach(conn)
            metrics.connections.dec()
            conn.close()
            with contextlib.suppress(Exception):
                await writer

    async def _write(ws: WebSocket, conn: AppConnection) -> None:
        with contextlib.suppress(Exception):
            while True:
                data = await conn.outbox.get()
                if data is None:
                    if conn.overflowed:
                        await ws.close(code=CLOSE_TOO_SLOW, reason="too slow: send queue full")
                    return
                await ws.send_text(data)

    async def post_message(request: HttpRequest) -> Response:
        login = request.path_params["login"]
        if not hub.knows(login):
            return _error_json(_unknown_agent(login), 404)
        body = await request.body()
        try:
            req = p.decode_request(body)
        except p.ProtocolError as err:
            hub.stats["errors"] += 1
            return _error_json(err, 413 if err.type == "FRAME_TOO_LARGE" else 400)
        if req.topic == "Simulator" and hub.backend.name != "sim":
            return _error_json(
                p.ProtocolError("UNKNOWN_TOPIC", "Simulator", topic="Simulator"), 400
            )
        rid = req.request_id or uuid.uuid4().hex
        req = msgspec.structs.replace(req, request_id=rid)
        if req.subtopic in QUERIES:
            answer = msgspec.to_builtins(hub.engine.query(login, req))
            return JSONResponse(answer)
        hub.submit(login, f"http-{rid}", req)
        return JSONResponse({"requestId": rid}, status_code=202)

    async def agent_state(request: HttpRequest) -> Response:
        login = request.path_params["login"]
        if not hub.knows(login):
            return _error_json(_unknown_agent(login), 404)
        return JSONResponse(hub.agent_state(login))

    async def agents(request: HttpRequest) -> Response:
        return JSONResponse(hub.agents())

    async def healthz(request: HttpRequest) -> Response:
        ok = hub.started
        body = {"status": "ok" if ok else "starting", "backend": hub.backend.status()}
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_endpoint(request: HttpRequest) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def schema(request: HttpRequest) -> Response:
        return JSONResponse(p.json_schema())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not hub.started:
            await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    return Starlette(
        routes=[
            WebSocketRoute("/ws", ws_endpoint),
            Route("/agents", agents),
            Route("/agents/{login}/state", agent_state),
            Route("/agents/{login}/messages", post_message, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            Route("/schema", schema),
        ],
        lifespan=lifespan,
    )
