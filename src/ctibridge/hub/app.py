"""The ASGI app: ``/ws`` for apps, HTTP for one-off commands, state, health, metrics, schemas -
the endpoints of ``hub/endpoints.py`` mounted on a Starlette app with the hub's lifespan.

The Streams bridge socket (``/bridge/ws``) gets the same checks as ``/ws`` (:func:`create_app`
hands them to the backend).  Without tokens (``--insecure``) only loopback Host names are
served (``hub/guard.py``: DNS rebinding).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute

from ..backends.base import ServesPages
from .core import Hub
from .endpoints import AppSocket, HttpApi
from .guard import LoopbackHostOnly
from .toolbar import toolbar_routes


def create_app(hub: Hub) -> Starlette:
    socket = AppSocket(hub)
    http = HttpApi(hub)
    allowed_origins = hub.settings.auth.allowed_origins
    if isinstance(hub.backend, ServesPages):  # the bridge socket: the same Origin and token checks
        hub.backend.bind_guard(socket.admit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not hub.started:
            await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    middleware = []
    if hub.insecure:  # no tokens: this machine's pages only, whatever a DNS name resolves to
        middleware.append(Middleware(LoopbackHostOnly, on_refuse=hub.metrics.rejected))
    if allowed_origins:  # pages on those origins may call the HTTP API (browsers need CORS)
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(allowed_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    return Starlette(
        routes=[
            WebSocketRoute("/ws", socket.endpoint),
            Route("/agents", http.agents),
            Route("/agents/{login}/state", http.agent_state),
            Route("/agents/{login}/messages", http.post_message, methods=["POST"]),
            Route("/healthz", http.healthz),
            Route("/metrics", http.metrics_text),
            Route("/schema", http.schema),
            *toolbar_routes(hub),  # the agent toolbar page (hub/toolbar.py)
            # backends with pages of their own (the Streams bridge)
            *(hub.backend.routes() if isinstance(hub.backend, ServesPages) else ()),
            Route("/asyncapi.json", http.asyncapi),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
