"""The agent toolbar's routes: a static page that is just another app of ``/ws``.

The page (``static/toolbar/``: HTML, CSS and ES modules, no build step) is served at ``/`` (an
agent picker) and ``/agent/{login}`` (that agent's toolbar); its assets under ``/toolbar/``.
``GET /config`` tells it what it cannot learn from the protocol: the backend's name (the
simulator panel is shown for ``sim`` only), the commands that panel can make fail, and the hub's
clock, so "time in state" is measured on the clock that stamped the events (the simulator's may
be a manual one).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..protocol.registry import REGISTRY
from .core import Hub

# what the simulator panel offers to make fail (Simulator/FailNext): the registry's commands
COMMANDS = [row.name for row in REGISTRY if row.kind == "command"]

STATIC = Path(__file__).resolve().parent.parent / "static" / "toolbar"


def toolbar_routes(hub: Hub) -> list[BaseRoute]:
    page = STATIC / "index.html"

    async def toolbar_page(request: Request) -> Response:
        # one page for both paths: its script reads the login from the URL
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def config(request: Request) -> Response:
        return JSONResponse(
            {"backend": hub.backend.name, "now": hub.clock.now_ms(), "commands": COMMANDS}
        )

    return [
        Route("/", toolbar_page),
        Route("/agent/{login}", toolbar_page),
        Route("/config", config),
        Mount("/toolbar", StaticFiles(directory=STATIC), name="toolbar"),
    ]
