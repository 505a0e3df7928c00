"""One world per backend for the conformance suite: a hub on a loopback port, an app connected
as ``agent1``, and a driver for what happens outside the agent's commands (calls arriving,
customers and third parties answering or hanging up, Connect refusing the next command).

* ``sim`` — the embedded simulator, driven through the Simulator topic.
* ``streams`` — the real bridge page in headless Chromium running the real amazon-connect-streams
  bundle the hub serves, whose ``initCCP`` loads a fake CCP (fake_ccp.py) from another loopback
  origin.
* ``connect`` — the server-side backend with botocore Stubbers for Connect: the Agent Event
  Stream records a real agent's CCP would cause are fed to it; what Connect cannot do server-side
  is done "in the CCP" by the driver after the request failed as documented.

Every driver method returns the events the app received because of it, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctibridge.client import Client
from ctibridge.conform.drivers import FAILURE
from ctibridge.hub import Hub
from livehub import serve_hub

if TYPE_CHECKING:  # playwright is imported when a browser is launched, not with the harness
    from playwright.async_api import Browser

Message = dict[str, Any]
__all__ = ["FAILURE"]
# scenarios that ended at a verb their backend cannot do (listed in the run's summary)
ENDED_EARLY: list[str] = []
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRES_BRIDGE = "requires streams bridge"


class Served:
    """A hub served on 127.0.0.1 (a free port), as the live-hub fixture serves it."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.port = 0

    async def __aenter__(self) -> Served:
        self.server, self.task, self.port = await serve_hub(self.hub, 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.server.stop_requested.set()
        await asyncio.wait_for(self.task, 10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def flush(client: Client) -> list[Message]:
    """Every message received and not yet taken, up to a private StateSync barrier."""
    return await client.flush()


async def wait_for(
    predicate: Callable[[], bool], what: str, timeout: float = 10.0, poll: float = 0.005
) -> None:
    """Until ``predicate()``, asked every ``poll`` seconds (0: at every step of the loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(poll)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    # a missing browser is an error, never a skip
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make sysdeps`"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def open_bridge(
    browser: Browser,
    http: str,
    agent: str = "agent1",
    ccp_origin: str | None = None,
    fragment: str = "",
) -> Any:
    """The real bridge page of ``agent`` (the real Streams bundle); nothing but the loopback hub
    and the fake CCP's origin is reachable."""
    context = await browser.new_context()
    # Any: the page carries the uncaught errors it saw as an attribute of its own (``errors``)
    page: Any = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    allowed = tuple(o for o in (http, ccp_origin) if o)

    async def route(route: Any) -> None:
        if route.request.url.startswith(allowed):
            await route.continue_()
        else:
            await route.abort()

    await context.route("**/*", route)
    await page.goto(f"{http}/bridge?agent={agent}{fragment}")
    return page
