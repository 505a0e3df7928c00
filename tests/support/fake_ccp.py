"""A fake Amazon Connect CCP on its own loopback origin, and the test's hand on its world.

``fake_ccp()`` serves ``fake_ccp.js`` (the CCP page amazon-connect-streams loads in its iframe)
on 127.0.0.1 at a port of its own, so the bridge page (the hub's origin) talks to it across
origins exactly as to a real instance: the real Streams bundle, the real ``initCCP``, the real
conduit.  :class:`FakeCcp` drives the world inside that frame (calls arriving, parties
answering, failures armed per Streams client method) through Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page

SCRIPT = Path(__file__).with_name("fake_ccp.js")
CCP_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CCP (fake)</title></head>
<body><p>fake CCP</p><script src="/fake_ccp.js"></script></body></html>"""
# what the request-storage-access page of an instance does once the user granted access:
# tell Streams (which then sets up initCCP) and go on to the CCP ("landat")
RSA_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>storage access (fake)</title></head>
<body><script>
window.addEventListener("message", (m) => {
  if (m.source !== window.parent || !m.data || m.data.event !== "storageAccess::request") return;
  window.parent.postMessage({event: "storageAccess::granted", data: {hasAccess: true}}, "*");
  location.replace(m.data.data.landat);
});
</script></body></html>"""


SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sign in (fake)</title></head>
<body><p>Sign in to Amazon Connect</p></body></html>"""


class FakeCcpServer:
    def __init__(self, port: int, host: str) -> None:
        self.port = port
        self.host = host
        self.requests: list[str] = []
        # without a session the CCP shows its sign-in page (which speaks no conduit)
        self.signed_in = True

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ccp_url(self) -> str:
        return f"{self.origin}/ccp-v2"


@contextlib.asynccontextmanager
async def fake_ccp(host: str = "127.0.0.1") -> AsyncIterator[FakeCcpServer]:
    """The fake CCP served on a free loopback port (``host`` as the bridge will name it)."""
    served = FakeCcpServer(0, host)
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError("the fake CCP is served on loopback only")

    async def page(request: Request) -> Response:
        served.requests.append(request.url.path)
        body = CCP_PAGE if served.signed_in else SIGN_IN_PAGE
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def sign_in(request: Request) -> Response:
        """The (SAML) sign-in page: the agent signs in, the session exists from now on."""
        served.requests.append(request.url.path)
        served.signed_in = True
        return HTMLResponse(SIGN_IN_PAGE, headers={"Cache-Control": "no-store"})

    async def rsa(request: Request) -> Response:
        served.requests.append(request.url.path)
        return HTMLResponse(RSA_PAGE, headers={"Cache-Control": "no-store"})

    async def script(request: Request) -> Response:
        return Response(SCRIPT.read_text(), media_type="text/javascript")

    app = Starlette(
        routes=[
            Route("/ccp-v2", page),
            Route("/ccp-v2/request-storage-access", rsa),
            Route("/fake_ccp.js", script),
            Route("/saml-login", sign_in),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    served.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield served
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class FakeCcp:
    """The CCP frame inside one bridge page."""

    def __init__(self, page: Page, server: FakeCcpServer) -> None:
        self.page = page
        self.server = server

    def frame(self) -> Frame:
        for frame in self.page.frames:
            if frame.url.startswith(self.server.ccp_url):
                return frame
        raise AssertionError(f"no CCP frame in the page: {[f.url for f in self.page.frames]}")

    async def ready(self) -> None:
        """Wait for the CCP frame to be up (its world exists)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            with contextlib.suppress(AssertionError):
                frame = self.frame()
                if await frame.evaluate("() => !!window.fakeCcp"):
                    return
            if loop.time() > deadline:
                raise AssertionError("the fake CCP did not come up")
            await asyncio.sleep(0.02)

    async def run(self, script: str, arg: Any = None) -> Any:
        """``fakeCcp.<script>`` in the CCP frame, with ``a`` bound to ``arg``."""
        return await self.frame().evaluate(f"a => fakeCcp.{script}", arg)

    async def calls(self) -> list[list[Any]]:
        return list(await self.run("calls"))

    async def fail_next(self, method: str, error: Any = None) -> None:
        """The next ``method`` (a Streams client method, ``mute`` or a provider command)
        fails with ``error`` (default: InternalServiceException: simulated failure)."""
        await self.run("failNext(a[0], a[1])", [method, error])
