"""The bridge's HTTP side: the page, its scripts, the Streams bundle and the bridge WebSocket.

* ``GET /bridge?agent=LOGIN`` — the bridge page for one agent (its settings inlined as JSON),
  served alike for any login, so it does not tell who exists; the socket checks.  The page
  takes its token from the URL fragment (``#token=``), like the toolbar.
* ``GET /bridge/snapshot.js``, ``GET /bridge/bridge.js`` — the bridge's scripts (the snapshot
  mapping, then the bridge); ``GET /bridge/connect-streams.js`` — the
  amazon-connect-streams bundle from npm (never a CDN: ``make deps`` copies it beside the page).
* ``WS /bridge/ws?agent=LOGIN&token=…`` — the page's link to the backend, checked like ``/ws``
  (Origin 4403, token 4401, the token's agents 4403) before the agent (4404).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

if TYPE_CHECKING:
    from .backend import StreamsBackend

from .backend import BridgeLink

STATIC = Path(str(resources.files("ctibridge") / "static" / "bridge"))
BUNDLE = STATIC / "vendor" / "connect-streams-min.js"
# the bridge page's own scripts, in the order the page loads them
SCRIPTS = ("snapshot.js", "bridge.js")
CLOSE_UNKNOWN_AGENT = 4404


def bridge_routes(backend: StreamsBackend) -> list[BaseRoute]:
    bundle = Path(backend.config.streams_js) if backend.config.streams_js else BUNDLE

    async def page(request: Request) -> Response:
        login = request.query_params.get("agent", "")
        settings = {
            "agent": login,
            "ccpUrl": backend.ccp_url,
            "region": backend.region,
            "wsPath": "/bridge/ws",
            "heartbeatMs": round(backend.config.heartbeat_seconds * 1000),
            "settleMs": backend.config.settle_ms,
            "loginUrl": backend.config.login_url,
            "storageAccess": backend.config.storage_access,
            "ccpLoadTimeoutMs": backend.config.ccp_load_timeout_ms,
            "offlineState": backend.config.offline_state,
        }
        inline = json.dumps(settings).replace("</", "<\\/")
        html = (STATIC / "index.html").read_text().replace("{{SETTINGS}}", inline)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    def script(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return FileResponse(STATIC / name, media_type="text/javascript")

        return serve

    async def streams(request: Request) -> Response:
        if not bundle.is_file():
            return PlainTextResponse(
                f"amazon-connect-streams is not installed ({bundle}): run `make deps`",
                status_code=503,
            )
        return FileResponse(bundle, media_type="text/javascript")

    async def socket(ws: WebSocket) -> None:
        login = ws.query_params.get("agent", "")
        if backend.guard is None:  # a backend served without a hub's checks (unit tests)
            await ws.accept()
        elif await backend.guard(ws, login) is False:
            return  # refused and closed
        if not backend.knows(login):
            await ws.close(code=CLOSE_UNKNOWN_AGENT, reason=f"unknown agent {login!r}")
            return

        async def close(code: int, reason: str) -> None:
            await ws.close(code=code, reason=reason)

        link = BridgeLink(ws.send_text, close)
        backend.attach(login, link)
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                frame = message.get("text")
                if frame is None:
                    frame = message.get("bytes") or b""
                backend.receive(login, link, frame)
        except WebSocketDisconnect:
            pass
        finally:
            backend.detach(login, link)
            with contextlib.suppress(Exception):
                await ws.close()

    return [
        Route("/bridge", page),
        *(Route(f"/bridge/{name}", script(name)) for name in SCRIPTS),
        Route("/bridge/connect-streams.js", streams),
        WebSocketRoute("/bridge/ws", socket),
    ]
