"""The toolbar on a hub with tokens: the token comes in the URL fragment, is kept in
sessionStorage and leaves the address bar; without one the page asks for it."""

from __future__ import annotations

from playwright.async_api import Page, expect
from toolbar_page import Toolbar

from livehub import LiveHub
from support.hub import token


async def test_the_token_in_the_fragment_opens_the_toolbar_and_leaves_the_address_bar(
    secured_hub: LiveHub, page: Page
) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    page.on("websocket", lambda ws: requested.append(ws.url))
    grant = token("agent1")
    await page.goto(f"{secured_hub.http}/agent/agent1#token={grant}")
    await Toolbar(page, secured_hub.http).expect_link("connected")
    await expect(page.locator("#agent-state")).not_to_have_text("unknown")
    assert page.url == f"{secured_hub.http}/agent/agent1"  # gone from the address bar
    assert await page.evaluate("sessionStorage.getItem('ctibridge.token')") == grant
    # the page's own URL never carried it to the server (fragments are not sent)
    assert f"{secured_hub.http}/agent/agent1" in requested
    # nor did any other URL, the WebSocket's included (its token rides in a subprotocol)
    assert any(url.startswith("ws://") for url in requested)
    assert not any(grant in url for url in requested)
    # a reload (the token only in sessionStorage now) connects again
    await page.reload()
    await Toolbar(page, secured_hub.http).expect_link("connected")


async def test_without_a_token_the_toolbar_asks_for_one(secured_hub: LiveHub, page: Page) -> None:
    await page.goto(f"{secured_hub.http}/agent/agent1")
    form = page.get_by_role("textbox", name="Token")
    await expect(form).to_be_visible()
    await form.fill(token("agent1"))
    await page.get_by_role("button", name="Use token").click()
    await Toolbar(page, secured_hub.http).expect_link("connected")
    await expect(form).to_be_hidden()


async def test_the_agent_list_uses_the_token(secured_hub: LiveHub, page: Page) -> None:
    await page.goto(f"{secured_hub.http}/")
    await expect(page.get_by_role("textbox", name="Token")).to_be_visible()
    await expect(page.get_by_text("AGENTS_UNAVAILABLE")).to_have_count(0)
    await page.get_by_role("textbox", name="Token").fill(token("agent2", "agent3"))
    await page.get_by_role("button", name="Use token").click()
    links = page.locator("#agent-list a")
    await expect(links).to_have_count(2)
    await links.first.click()
    await Toolbar(page, secured_hub.http).expect_link("connected")
