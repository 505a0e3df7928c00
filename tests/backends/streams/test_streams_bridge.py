"""The real bridge page in headless Chromium, against a hub on loopback.

The page runs the real amazon-connect-streams bundle the hub serves; its ``initCCP`` loads the
fake CCP (tests/support/fake_ccp.js) from another loopback origin, and the test drives the
Connect world inside that frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from playwright.async_api import Browser

from ctibridge.backends.streams import BRIDGE_UNAVAILABLE, StreamsBackend
from ctibridge.client import Client
from ctibridge.clock import RealClock
from ctibridge.config import BridgeConfig
from ctibridge.hub import Hub
from ctibridge.settings import AuthSettings, Settings
from support.fake_ccp import FakeCcp, FakeCcpServer, fake_ccp
from support.harness import Served, flush, open_bridge, wait_for
from support.steps import rows

# no tokens: these tests are about the backends, not auth (tests/hub covers auth)
TEST_SETTINGS = Settings(auth=AuthSettings(insecure=True))

pytestmark = pytest.mark.asyncio(loop_scope="session")

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "streams" / "sample-snapshots.json"
BUNDLE = Path(__file__).resolve().parents[3] / "bridge/node_modules/amazon-connect-streams"


class Bridge:
    def __init__(
        self, served: Served, backend: StreamsBackend, browser: Any, ccp: FakeCcpServer
    ) -> None:
        self.served = served
        self.backend = backend
        self.browser = browser
        self.ccp = ccp
        self.pages: list[Any] = []

    async def open(self, agent: str = "agent1", *, wait: bool = True) -> Any:
        before = self.snapshots(agent)
        page = await open_bridge(self.browser, self.served.http, agent, self.ccp.origin)
        self.pages.append(page)
        if not wait:
            return page
        await wait_for(
            lambda: self.backend.alive(agent) and self.snapshots(agent) > before,
            "the bridge's first snapshot",
        )
        return page

    @contextlib.asynccontextmanager
    async def agent(self) -> AsyncIterator[tuple[Any, Client]]:
        """agent1's bridge page, open, and an app of agent1."""
        page = await self.open()
        app = await Client.connect(self.served.url, "agent1")
        try:
            yield page, app
        finally:
            await app.close()

    def fake(self, page: Any) -> FakeCcp:
        return FakeCcp(page, self.ccp)

    def snapshots(self, agent: str = "agent1") -> int:
        return int(self.backend.status()["bridges"][agent]["snapshots"])  # type: ignore[index]

    async def world(self, page: Any, script: str, arg: Any = None) -> None:
        """``fakeCcp.<script>`` in the page's CCP, and the snapshot it caused."""
        before = self.backend.snapshot("agent1")
        await self.fake(page).run(script, arg)
        await wait_for(lambda: self.backend.snapshot("agent1") != before, script)


@contextlib.asynccontextmanager
async def bridge(browser: Any, ccp_host: str = "127.0.0.1", **config: Any) -> AsyncIterator[Bridge]:
    clock = RealClock()
    async with fake_ccp(ccp_host) as ccp:
        backend = StreamsBackend(
            clock,
            BridgeConfig(**config),
            ["agent1", "agent2"],
            ccp_url=ccp.ccp_url,
            region="us-east-1",
        )
        async with Served(Hub(backend, clock, TEST_SETTINGS)) as served:
            b = Bridge(served, backend, browser, ccp)
            try:
                yield b
            finally:
                for page in b.pages:
                    if not page.is_closed():
                        assert page.errors == [], page.errors
                        await page.context.close()


async def test_the_hub_serves_the_npm_streams_bundle_and_the_page_uses_no_other_origin(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b:
        async with httpx.AsyncClient(base_url=b.served.http) as http:
            served = await http.get("/bridge/connect-streams.js")
            page = await http.get("/bridge", params={"agent": "agent1"})
            unknown = await http.get("/bridge", params={"agent": "nobody"})
        release = BUNDLE / "release" / "connect-streams-min.js"
        assert served.status_code == 200 and served.content == release.read_bytes()
        # the page does not tell which agents exist (the socket checks the token and the agent)
        assert unknown.status_code == 200
        # every script the page loads is the hub's own
        assert 'src="/bridge/connect-streams.js"' in page.text
        assert 'src="/bridge/bridge.js"' in page.text
        assert "http" not in page.text.replace(b.ccp.ccp_url, "")


async def test_the_real_streams_init_ccp_loads_the_configured_ccp_and_acknowledges(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        # amazon-connect-streams put the CCP in its iframe and took the CCP's acknowledge
        src = await page.locator("#ccp iframe").get_attribute("src")
        assert src == b.ccp.ccp_url
        assert b.ccp.requests == ["/ccp-v2"]
        assert await page.evaluate("connect.core.initialized") is True
        params = await page.evaluate("connect.initCCPParams")
        assert params["ccpUrl"] == b.ccp.ccp_url
        assert params["region"] == "us-east-1"
        assert params["softphone"] == {"allowFramedSoftphone": True}
        status = "document.getElementById('status-ccp').textContent"
        assert await page.evaluate(status) == "signed in as Agent One"


async def test_the_directory_skips_unusable_entries(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        await wait_for(lambda: bool(b.backend.directory("agent1").quick_connects), "endpoints")
        d = b.backend.directory("agent1")
        assert [(s.label, s.type) for s in d.states] == [
            ("Available", "routable"), ("Not Ready", "not_routable"), ("Break", "not_routable"),
            ("Lunch", "not_routable"), ("Offline", "offline"),
        ]  # fmt: skip
        # the routing profile lists the agent's personal queue first, with no name
        queues = await b.fake(page).run("queues")
        assert queues["personal"]["name"] is None
        assert d.queues == ("InboundTest", "Sales", "Support")
        assert d.quick_connects == (
            "Billing", "Supervisor", "agent2", "Transfer to Sales", "Support desk (queue)",
        )  # fmt: skip
        assert d.agents == ("agent2",)
        info = b.backend.snapshot("agent1").info
        assert (info.name, info.routing_profile) == ("Agent One", "Basic Routing Profile")


async def test_the_fake_ccp_keeps_the_published_snapshot_shape(bridge_browser: Browser) -> None:
    samples = json.loads(SAMPLES.read_text())
    async with bridge(bridge_browser) as b:
        page = await b.open()
        await b.world(page, "incoming(a)", {"phoneNumber": "+15551234567"})
        raw = await b.fake(page).run("raw()")
    published = samples["inboundVoiceContactSoftphone"]
    assert set(published) <= set(raw)
    assert set(published["contacts"][0]) <= set(raw["contacts"][0])
    for mine, theirs in zip(
        raw["contacts"][0]["connections"], published["contacts"][0]["connections"], strict=True
    ):
        assert set(theirs) <= set(mine)
        assert set(theirs["endpoint"]) <= set(mine["endpoint"])
        assert (mine["type"], mine["initial"], mine["state"]["type"]) == (
            theirs["type"], theirs["initial"], theirs["state"]["type"],
        )  # fmt: skip
    assert raw["state"]["name"] == published["state"]["name"] == "PendingBusy"


async def test_attributes_queue_and_dnis_reach_the_apps(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        await b.world(
            page,
            "incoming(a)",
            {"phoneNumber": "+15551234567", "queue": "Support", "dnis": "+18005550199",
             "attributes": {"lang": "fr", "tier": 2}},
        )  # fmt: skip
        answer = await app.request("InboundCall", "StateSync")
        message = answer.events[0]["message"]
        assert message["attributes"] == [
            {"name": "ANI", "value": "+15551234567"},
            {"name": "DNIS", "value": "+18005550199"},
            {"name": "lang", "value": "fr"},
            {"name": "tier", "value": "2"},
        ]
        assert message["queueName"] == "Support"
        assert message["queueTimestamp"].endswith("Z")


async def test_an_attribute_without_a_value_is_empty_not_undefined(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        # Connect leaves `value` out of an attribute set to nothing
        await b.world(page, "incoming(a)", {"attributes": {"note": None, "lang": "fr"}})
        answer = await app.request("InboundCall", "StateSync")
        attributes = answer.events[0]["message"]["attributes"]
        assert {"name": "note", "value": ""} in attributes
        assert {"name": "lang", "value": "fr"} in attributes


async def test_state_changes_enqueue_only_on_a_contact_and_dial_uses_the_queue(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        fake = b.fake(page)
        sales = (await fake.run("queues"))["Sales"]["queueARN"]
        assert (await app.request("Agent", "UpdateState", {"label": "Break"})).ok
        assert (await app.request("Agent", "UpdateState", {"label": "Available"})).ok
        result = await app.request(
            "OutboundCall", "MakeCall", {"phoneNumber": "+15551234567", "queue": "Sales"}
        )
        assert result.ok, result.error
        assert (await app.request("Agent", "UpdateState", {"label": "Lunch"})).ok
        calls = await fake.calls()
        assert [c for c in calls if c[0] in ("setState", "connect")] == [
            ["setState", "Break", False],
            ["setState", "Available", False],
            ["connect", "+15551234567", sales],
            ["setState", "Lunch", True],
        ]


async def test_streams_errors_become_the_failure_code(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        fake = b.fake(page)
        await b.world(page, "incoming(a)", {"phoneNumber": "+15551234567"})
        # Streams' contact.accept reports any failure as the bare string "error"
        await fake.fail_next("acceptContact")
        result = await app.request("InboundCall", "Answer")
        assert rows(result.events) == [("Error", "ANSWER_CALL_FAILED", "error")]
        # other calls pass the CTI error on, which the CCP's worker sends as JSON text
        await fake.fail_next("rejectContact", {"type": "AccessDeniedException", "message": "no"})
        result = await app.request("InboundCall", "Reject")
        assert rows(result.events) == [("Error", "REJECT_CALL_FAILED", "AccessDeniedException: no")]
        await fake.run("miss()")
        await wait_for(lambda: b.backend.snapshot("agent1").contacts[0].state == "missed", "missed")
        result = await app.request("InboundCall", "ClearContact")
        assert result.ok


async def test_bridge_loss_and_reconnect(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        assert (await app.request("Agent", "UpdateState", {"label": "Break"})).ok
        await flush(app)
        await page.context.close()
        await wait_for(lambda: not b.backend.alive("agent1"), "the bridge to be gone")
        # the apps are told the last known state
        events = await flush(app)
        assert [(e["subtopic"], e["message"]["event"]) for e in events] == [
            ("SetAgentState", "Break")
        ]
        result = await app.request("Agent", "UpdateState", {"label": "Available"})
        assert rows(result.events) == [("Error", "UPDATE_AGENT_STATE_FAILED", BRIDGE_UNAVAILABLE)]
        result = await app.request("InboundCall", "MakeCall", "+15551234567")
        assert rows(result.events) == [("Error", "MAKE_CALL_FAILED", BRIDGE_UNAVAILABLE)]
        health = await asyncio.to_thread(httpx.get, f"{b.served.http}/healthz")
        assert health.json()["backend"]["bridges"]["agent1"]["connected"] is False
        # the agent opens the bridge again: the new CCP says Available
        app.drain()
        await b.open()
        events = await flush(app)
        assert [(e["subtopic"], e["message"]["name"]) for e in events[1:]] == [
            ("CcpAgentState", "Available")
        ]  # a state change: SetAgentState, then CcpAgentState
        assert events[0]["message"]["event"] == "Available"
        assert (await app.request("Agent", "UpdateState", {"label": "Lunch"})).ok


async def test_a_command_in_flight_fails_when_the_bridge_goes(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser, settle_ms=10_000) as b, b.agent() as (page, app):
        await b.world(page, "incoming(a)", {"phoneNumber": "+15551234567"})
        assert (await app.request("InboundCall", "Answer")).ok
        await b.fake(page).fail_next("mute")  # the softphone never answers
        pending = asyncio.create_task(app.request("Agent", "Mute"))
        await wait_for(
            lambda: any(b.backend._agents["agent1"].pending.values()), "the mute to be sent"
        )
        await page.context.close()
        result = await asyncio.wait_for(pending, 5)
        # the apps learn the last known state, then the failure
        assert rows(result.events) == [
            ("SetAgentState", "Busy", None, False),
            ("Error", "MUTE_FAILED", BRIDGE_UNAVAILABLE),
        ]


async def test_a_second_bridge_replaces_the_first(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b:
        first = await b.open()
        second = await b.open()
        status = "() => document.getElementById('status-hub').textContent"
        await first.wait_for_function(f"({status})() === 'replaced by a newer bridge window'")
        assert await second.evaluate(status) == "connected"
        app = await Client.connect(b.served.url, "agent1")
        try:
            assert (await app.request("Agent", "UpdateState", {"label": "Break"})).ok
            first_calls = await b.fake(first).calls()
            second_calls = await b.fake(second).calls()
            assert ["setState", "Break", False] in second_calls
            assert ["setState", "Break", False] not in first_calls
        finally:
            await app.close()


async def test_closing_the_page_sets_the_offline_state_and_the_hub_knows_at_once(
    bridge_browser: Browser,
) -> None:
    config: dict[str, Any] = {"heartbeat_seconds": 60, "timeout_seconds": 120}
    async with bridge(bridge_browser, **config) as b, b.agent() as (page, app):
        await flush(app)
        # what the browser does when the agent closes the tab (the page stays here to see)
        await page.evaluate("window.dispatchEvent(new PageTransitionEvent('pagehide'))")
        await wait_for(lambda: not b.backend.alive("agent1"), "the bridge to be gone", 3)
        assert ["setState", "Offline", False] in await b.fake(page).calls()
        result = await app.request("Agent", "UpdateState", {"label": "Available"})
        assert rows(result.events) == [("Error", "UPDATE_AGENT_STATE_FAILED", BRIDGE_UNAVAILABLE)]


async def test_sign_in_opens_the_saml_login_from_a_click(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser, ccp_load_timeout_ms=1000) as b:
        b.ccp.signed_in = False
        login = f"{b.ccp.origin}/saml-login"
        b.backend.config = msgspec.structs.replace(b.backend.config, login_url=login)
        page = await b.open(wait=False)
        button = page.locator("#sign-in")
        await button.wait_for(state="visible", timeout=10_000)
        assert not b.ccp.signed_in and "/saml-login" not in b.ccp.requests
        async with page.expect_popup() as popup:
            await button.click()
        assert (await popup.value).url == login
        # Streams reloads the CCP until it answers: now signed in, the agent comes
        await wait_for(lambda: b.backend.snapshot("agent1").logged_in, "the first snapshot", 15)
        assert await button.is_hidden()
        assert await page.evaluate("connect.initCCPParams.loginUrl") == login


async def test_storage_access_is_requested_before_the_ccp(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser, ccp_host="localhost", storage_access=True) as b:
        await b.open()
        # Streams loads the instance's request-storage-access page, which lands on the CCP
        assert b.ccp.requests == ["/ccp-v2/request-storage-access", "/ccp-v2"]


async def test_a_page_not_served_over_https_does_not_start_the_ccp(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser) as b:
        context = await bridge_browser.new_context()
        try:
            page = await context.new_page()

            async def proxy(route: Any) -> None:  # http://bridge.example is the hub
                url = route.request.url.replace("http://bridge.example", b.served.http)
                await route.fulfill(response=await route.fetch(url=url))

            await context.route("http://bridge.example/**", proxy)
            await page.goto("http://bridge.example/bridge?agent=agent1")
            status = page.locator("#status-ccp")
            await status.wait_for()
            assert "HTTPS" in await status.text_content()  # type: ignore[operator]
            assert await page.locator("#ccp iframe").count() == 0
            assert b.ccp.requests == []
        finally:
            await context.close()


async def test_clearing_a_contact_the_ccp_cleared_meanwhile_succeeds(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        await b.world(page, "incoming(a)", {})
        await b.world(page, "miss()")
        # the CCP auto-clears the missed contact as the app's ClearContact reaches it
        await b.fake(page).run("clearFirst()")
        result = await app.request("InboundCall", "ClearContact")
        assert result.error is None, result.error
        assert b.backend.snapshot("agent1").contacts == ()


async def test_a_campaign_preview_is_dialled_on_accept_and_discarded_on_skip(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        fake = b.fake(page)
        await b.world(page, "preview(a)", {"phoneNumber": "+15550001111"})
        result = await app.request("OutboundCall", "MakeCall")
        assert result.error is None, result.error
        c = b.backend.snapshot("agent1").contacts[0]
        assert (c.kind, [(x.role, x.status) for x in c.connections]) == (
            "preview", [("agent", "connected"), ("customer", "connecting")],
        )  # fmt: skip
        assert c.connections[1].phone_number == "+15550001111"
        assert (await fake.run("requests")).count("contact/engagePreviewContact") == 1
        await b.world(page, "customerHangup()")
        assert (await app.request("InboundCall", "ClearContact")).ok
        # a second preview, skipped: discarded, not a missed offer
        await b.world(page, "preview(a)", {})
        result = await app.request("OutboundCall", "Skip")
        assert result.error is None, result.error
        snap = b.backend.snapshot("agent1")
        assert (snap.contacts, snap.state.label) == ((), "Available")
        assert "rejectContact" not in await fake.run("requests")


async def test_mute_without_call_audio_fails_and_says_why(bridge_browser: Browser) -> None:
    async with bridge(bridge_browser, settle_ms=500) as b, b.agent() as (page, app):
        # a call to the agent's desk phone: the softphone has no media, the CCP ignores mute
        await b.world(page, "incoming(a)", {"deskPhone": True})
        assert (await app.request("InboundCall", "Answer")).ok
        result = await app.request("Agent", "Mute")
        assert rows(result.events)[-1] == (
            "Error", "MUTE_FAILED",
            "the CCP did not confirm the mute change (no call audio to mute)",
        )  # fmt: skip
        assert "mute" in await b.fake(page).run("requests")
        assert b.backend.snapshot("agent1").muted is False


async def test_a_consult_to_an_agent_is_connected_as_soon_as_connect_routes_it(
    bridge_browser: Browser,
) -> None:
    async with bridge(bridge_browser) as b, b.agent() as (page, app):
        await b.world(page, "incoming(a)", {})
        assert (await app.request("InboundCall", "Answer")).ok
        # Connect shows the other agent's leg connected at once (their CCP still rings)
        result = await app.request("InboundCall", "Consult", {"agentName": "agent2"})
        assert result.error is None, result.error
        c = b.backend.snapshot("agent1").contacts[0]
        assert [(x.role, x.status) for x in c.connections] == [
            ("agent", "connected"), ("customer", "hold"), ("third_party", "connected"),
        ]  # fmt: skip
        assert ["addConnection", "agent", "agent2", None, None] in await b.fake(page).calls()
        # so the warm transfer is there at once
        assert (await app.request("InboundCall", "Transfer")).ok
        assert b.backend.snapshot("agent1").contacts[0].state == "acw"
