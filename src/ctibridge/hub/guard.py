"""DNS rebinding: a hub without tokens serves only requests addressed to a loopback name.

A page of ``evil.example`` whose DNS name the attacker re-points to 127.0.0.1 is, to the browser,
same-origin with a hub on 127.0.0.1: the Origin rule (``auth.origin_allowed``) lets it through.
Its requests still say ``Host: evil.example``.  So with ``--insecure`` every HTTP request and
WebSocket must name ``127.0.0.1``, ``localhost`` or ``[::1]`` (any port): others get 403, or
the WebSocket is accepted and closed with 4403 (so the page sees why).  With tokens on, a page
without the token can do nothing whatever its Host, and a hub behind a proxy keeps its name.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from .. import auth
from .closecodes import CLOSE_FORBIDDEN


class LoopbackHostOnly:
    """ASGI middleware refusing requests whose ``Host`` is not a loopback name."""

    def __init__(self, app: ASGIApp, on_refuse: Any = None) -> None:
        self.app = app
        self.on_refuse = on_refuse  # a Counter labelled by reason ("host")

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # not a coroutine itself: a request let through is the app's awaitable alone, so an
        # open WebSocket does not keep this middleware's frame alive (~250 B per idle app)
        if scope["type"] not in ("http", "websocket") or auth.loopback_host(
            Headers(scope=scope).get("host")
        ):
            return self.app(scope, receive, send)
        return self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.on_refuse is not None:
            self.on_refuse.labels("host").inc()
        if scope["type"] == "http":
            response = PlainTextResponse("host not allowed", status_code=403)
            await response(scope, receive, send)
            return
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ws.close(code=CLOSE_FORBIDDEN, reason="host not allowed")
