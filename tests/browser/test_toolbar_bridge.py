"""The toolbar driving a real agent through the bridge: the hub on the streams backend, the
bridge page running the real Streams bundle against the fake CCP, the toolbar in another tab.
A click in the toolbar must reach the CCP as the Streams call it stands for."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect
from toolbar_page import Toolbar

from support.worlds import streams_world

pytestmark = pytest.mark.browser


async def test_the_toolbar_answers_holds_and_hangs_up_through_the_bridge(
    browser: Browser,
) -> None:
    async with streams_world(browser) as world:
        context = await browser.new_context()
        try:
            toolbar = Toolbar(await context.new_page(), world.served.http)
            await toolbar.open("agent1")
            await world.ring()
            await toolbar.expect_buttons(
                {"agent": frozenset({"answer", "reject"}), "customer": frozenset()}
            )
            await toolbar.press("agent", "answer")
            await toolbar.expect_buttons(
                {
                    "agent": frozenset({"consult", "numberpad"}),
                    "customer": frozenset({"disconnect", "hold"}),
                }
            )
            await toolbar.press("customer", "hold")
            await toolbar.expect_buttons(
                {
                    "agent": frozenset({"consult"}),
                    "customer": frozenset({"disconnect", "resume"}),
                }
            )
            await toolbar.press("customer", "disconnect")
            await toolbar.expect_buttons(
                {"agent": frozenset({"clearContact"}), "customer": frozenset()}
            )
            await expect(toolbar.page.locator("#agent-state")).to_have_text("AfterCallWork")
            requests = await world.ccp.run("requests")
            assert [r for r in requests if r.endswith(("Contact", "Connection"))] == [
                "acceptContact",
                "holdConnection",
                "destroyConnection",
            ]
        finally:
            await context.close()
