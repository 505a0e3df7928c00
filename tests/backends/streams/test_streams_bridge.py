"""The real bridge page in headless Chromium, against a hub on loopback.

Most tests replace the amazon-connect-streams bundle with the Streams test double
(tests/browser/streams_double.js); one loads the real npm bundle the hub serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from harness import Served, flush, open_bridge, wait_for
from scenarios import rows

from ctibridge.backends.streams import BRIDGE_UNAVAILABLE, StreamsBackend
from ctibridge.client import Client
from ctibridge.clock import RealClock
from ctibridge.config import BridgeConfig
from ctibridge.hub import Hub
from ctibridge.settings import AuthSettings, Settings

# no tokens: these tests are about the backends, not auth (tests/hub covers auth)
TEST_SETTINGS = Settings(auth=AuthSettings(insecure=True))

pytestmark = pytest.mark.asyncio(loop_scope="session")

CCP = "https://double.my.connect.aws/ccp-v2"
SALES_ARN = "arn:aws:connect:us-east-1:000000000000:instance/double/queue/Sales"
SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "streams" / "sample-snapshots.json"
BUNDLE = Path(__file__).resolve().parents[3] / "bridge/node_modules/amazon-connect-streams"


class Bridge:
    def __init__(self, served: Served, backend: StreamsBackend, browser: Any) -> None:
        self.served = served
        self.backend = backend
        self.browser = browser
        self.pages: list[Any] = []

    async def open(self, agent: str = "agent1", *, double: bool = True) -> Any:
        before = self.snapshots(agent)
        page = await open_bridge(self.browser, self.served.http, agent, double=double)
        self.pages.append(page)
        if double:
            await wait_for(
                lambda: self.backend.alive(agent) and self.snapshots(agent) > before,
                "the bridge's first snapshot",
            )
        return page

    def snapshots(self, agent: str = "agent1") -> int:
        return int(self.backend.status()["bridges"][agent]["snapshots"])  # type: ignore[index]

    async def double(self, page: Any, script: str, arg: Any = None) -> None:
        before = self.snapshots()
        await page.evaluate(f"a => streamsDouble.{script}", arg)
        await wait_for(lambda: self.snapshots() > before, script)


@contextlib.asynccontextmanager
async def bridge(browser: Any, **config: Any) -> AsyncIterator[Bridge]:
    clock = RealClock()
    backend = StreamsBackend(
        clock, BridgeConfig(**config), ["agent1", "agent2"], ccp_url=CCP, region="us-east-1"
    )
    async with Served(Hub(backend, clock, TEST_SETTINGS)) as served:
        b = Bridge(served, backend, browser)
        try:
            yield b
        finally:
            for page in b.pages:
                if not page.is_closed():
                    assert page.errors == [], page.errors
                    await page.context.close()


async def test_the_hub_serves_the_npm_streams_bundle_and_the_page_uses_no_other_origin(
    bridge_browser: Any,
) -> None:
    async with bridge(bridge_browser) as b:
        async with httpx.AsyncClient(base_url=b.served.http) as http:
            served = await http.get("/bridge/connect-streams.js")
            page = await http.get("/bridge", params={"agent": "agent1"})
            unknown = await http.get("/bridge", params={"agent": "nobody"})
        release = BUNDLE / "release" / "connect-streams-min.js"
        assert served.status_code == 200 and served.content == release.read_bytes()
        assert unknown.status_code == 404
        # every script the page loads is the hub's own
        assert 'src="/bridge/connect-streams.js"' in page.text
        assert 'src="/bridge/bridge.js"' in page.text
        assert "http" not in page.text.replace(CCP, "")


async def test_real_streams_bundle_inits_the_ccp_of_the_configured_instance(
    bridge_browser: Any,
) -> None:
    async with bridge(bridge_browser) as b:
        requested: list[str] = []
        page = await open_bridge(bridge_browser, b.served.http, double=False)
        b.pages.append(page)
        page.on("request", lambda r: requested.append(r.url))
        # amazon-connect-streams' initCCP puts the CCP in an iframe (blocked here: no network)
        frame = page.locator("#ccp iframe")
        await frame.wait_for(state="attached", timeout=10_000)
        src = await frame.get_attribute("src")
        assert src is not None and src.startswith(CCP)
        assert await page.evaluate("typeof connect.core.initCCP") == "function"
        page.errors.clear()  # the blocked CCP frame makes Streams log errors; not ours


async def test_init_options_and_the_directory(bridge_browser: Any) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        options = await page.evaluate("() => streamsDouble.initOptions")
        assert options["ccpUrl"] == CCP
        assert options["region"] == "us-east-1"
        assert options["softphone"] == {"allowFramedSoftphone": True}
        await wait_for(lambda: bool(b.backend.directory("agent1").quick_connects), "endpoints")
        d = b.backend.directory("agent1")
        assert [(s.label, s.type) for s in d.states] == [
            ("Available", "routable"), ("Not Ready", "not_routable"), ("Break", "not_routable"),
            ("Lunch", "not_routable"), ("Offline", "offline"),
        ]  # fmt: skip
        assert d.queues == ("InboundTest", "Sales", "Support")
        assert "Billing" in d.quick_connects and d.agents == ("agent2",)
        info = b.backend.snapshot("agent1").info
        assert (info.name, info.routing_profile) == ("Agent One", "Basic Routing Profile")


async def test_the_double_keeps_the_published_snapshot_shape(bridge_browser: Any) -> None:
    samples = json.loads(SAMPLES.read_text())
    async with bridge(bridge_browser) as b:
        page = await b.open()
        await b.double(page, "incoming(a)", {"phoneNumber": "+15551234567"})
        raw = await page.evaluate("() => streamsDouble.raw()")
    published = samples["inboundVoiceContactSoftphone"]
    assert set(published) <= set(raw)
    assert set(published["contacts"][0]) <= set(raw["contacts"][0])
    for mine, theirs in zip(
        raw["contacts"][0]["connections"], published["contacts"][0]["connections"], strict=True
    ):
        assert set(theirs) <= set(mine)
        assert (mine["type"], mine["initial"], mine["state"]["type"]) == (
            theirs["type"], theirs["initial"], theirs["state"]["type"],
        )  # fmt: skip
    assert raw["state"]["name"] == published["state"]["name"] == "PendingBusy"


async def test_attributes_queue_and_dnis_reach_the_apps(bridge_browser: Any) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        app = await Client.connect(b.served.url, "agent1")
        try:
            await b.double(
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
        finally:
            await app.close()


async def test_state_changes_enqueue_only_on_a_contact_and_dial_uses_the_queue(
    bridge_browser: Any,
) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        app = await Client.connect(b.served.url, "agent1")
        try:
            assert (await app.request("Agent", "UpdateState", {"label": "Break"})).ok
            assert (await app.request("Agent", "UpdateState", {"label": "Available"})).ok
            result = await app.request(
                "OutboundCall", "MakeCall", {"phoneNumber": "+15551234567", "queue": "Sales"}
            )
            assert result.ok, result.error
            assert (await app.request("Agent", "UpdateState", {"label": "Lunch"})).ok
            calls = await page.evaluate("() => streamsDouble.calls")
            assert [c for c in calls if c[0] in ("setState", "connect")] == [
                ["setState", "Break", False],
                ["setState", "Available", False],
                ["connect", "+15551234567", SALES_ARN],
                ["setState", "Lunch", True],
            ]  # fmt: skip
        finally:
            await app.close()


async def test_streams_errors_become_the_failure_code(bridge_browser: Any) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        app = await Client.connect(b.served.url, "agent1")
        try:
            await b.double(page, "incoming(a)", {"phoneNumber": "+15551234567"})
            # Streams reports some failures as a bare string (contact.accept: "error")
            await page.evaluate("() => streamsDouble.failNext('accept', 'error')")
            result = await app.request("InboundCall", "Answer")
            assert rows(result.events) == [("Error", "ANSWER_CALL_FAILED", "error")]
            # and a contact Streams no longer has is refused by the bridge itself
            await page.evaluate("() => streamsDouble.miss()")
            await wait_for(
                lambda: b.backend.snapshot("agent1").contacts[0].state == "missed", "missed"
            )
            result = await app.request("InboundCall", "ClearContact")
            assert result.ok
        finally:
            await app.close()


async def test_bridge_loss_and_reconnect(bridge_browser: Any) -> None:
    async with bridge(bridge_browser) as b:
        page = await b.open()
        app = await Client.connect(b.served.url, "agent1")
        try:
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
            assert rows(result.events) == [
                ("Error", "UPDATE_AGENT_STATE_FAILED", BRIDGE_UNAVAILABLE)
            ]
            result = await app.request("InboundCall", "MakeCall", "+15551234567")
            assert rows(result.events) == [("Error", "MAKE_CALL_FAILED", BRIDGE_UNAVAILABLE)]
            health = await asyncio.to_thread(httpx.get, f"{b.served.http}/healthz")
            assert health.json()["backend"]["bridges"]["agent1"]["connected"] is False
            # the agent opens the bridge again: the double starts Available, as the CCP says
            app.drain()
            await b.open()
            events = await flush(app)
            assert [(e["subtopic"], e["message"]["name"]) for e in events[1:]] == [
                ("CcpAgentState", "Available")
            ]  # a state change: SetAgentState, then CcpAgentState
            assert events[0]["message"]["event"] == "Available"
            assert (await app.request("Agent", "UpdateState", {"label": "Lunch"})).ok
        finally:
            await app.close()


async def test_a_command_in_flight_fails_when_the_bridge_goes(bridge_browser: Any) -> None:
    async with bridge(bridge_browser, settle_ms=10_000) as b:
        page = await b.open()
        app = await Client.connect(b.served.url, "agent1")
        try:
            await b.double(page, "incoming(a)", {"phoneNumber": "+15551234567"})
            assert (await app.request("InboundCall", "Answer")).ok
            await page.evaluate("() => streamsDouble.failNext('mute')")  # never confirmed
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
        finally:
            await app.close()


async def test_a_second_bridge_replaces_the_first(bridge_browser: Any) -> None:
    async with bridge(bridge_browser) as b:
        first = await b.open()
        second = await b.open()
        status = "() => document.getElementById('status-hub').textContent"
        await first.wait_for_function(f"({status})() === 'replaced by a newer bridge window'")
        assert await second.evaluate(status) == "connected"
        app = await Client.connect(b.served.url, "agent1")
        try:
            assert (await app.request("Agent", "UpdateState", {"label": "Break"})).ok
            first_calls = await first.evaluate("() => streamsDouble.calls")
            second_calls = await second.evaluate("() => streamsDouble.calls")
            assert ["setState", "Break", False] in second_calls
            assert ["setState", "Break", False] not in first_calls
        finally:
            await app.close()
