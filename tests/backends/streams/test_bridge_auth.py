"""The bridge socket on a hub with tokens: it is checked like ``/ws`` (Origin, a token that
names the agent), the CCP must be signed in as the agent before any snapshot is taken or any
command sent, and the bridge page does not tell which agents exist."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from ctibridge.actions import BackendError, SetState
from ctibridge.backends.streams import BRIDGE_UNAVAILABLE, StreamsBackend
from ctibridge.clock import RealClock
from ctibridge.config import BridgeConfig
from ctibridge.hub import Hub
from ctibridge.model import AgentState
from support.fake_ccp import fake_ccp
from support.harness import Served, chromium, open_bridge, wait_for
from support.hub import close_of, secured, token


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    backend = StreamsBackend(RealClock(), BridgeConfig(), ["agent1", "agent2"], ccp_url="x")
    hub = Hub(backend, RealClock(), secured())
    async with Served(hub) as s:
        yield s


def bridge_url(served: Served, agent: str, **query: str) -> str:
    params = "&".join(f"{k}={v}" for k, v in {"agent": agent, **query}.items())
    return f"{served.url}/bridge/ws?{params}"


def snapshot(username: str) -> str:
    """A snapshot of a CCP signed in as ``username``, with a call ringing."""
    ringing = {"type": "connecting", "timestamp": 1}
    leg = {"connectionId": "c1", "type": "agent", "initial": False, "state": ringing}
    customer = {
        "connectionId": "c2",
        "type": "inbound",
        "initial": True,
        "state": ringing,
        "endpoint": {"phoneNumber": "+15550001111", "type": "telephone_number"},
    }
    call = {
        "contactId": "forged",
        "type": "voice",
        "state": ringing,
        "connections": [leg, customer],
    }
    return json.dumps(
        {
            "type": "snapshot",
            "snapshot": {
                "state": {"name": "Available", "type": "routable"},
                "availability": {"state": "Available", "timeStamp": 1},
                "contacts": [call],
                "snapshotTimestamp": 1,
                "configuration": {"username": username, "name": username},
            },
        }
    )


async def test_the_bridge_socket_needs_a_token_naming_the_agent_and_an_allowed_origin(
    served: Served,
) -> None:
    assert (await close_of(bridge_url(served, "agent1")))[:2] == (4401, "no token")
    code, _, _ = await close_of(bridge_url(served, "agent1", token=token("agent2")))
    assert code == 4403
    code, reason, _ = await close_of(
        bridge_url(served, "agent1", token=token("agent1")), origin="http://evil.example"
    )
    assert (code, reason) == (4403, "origin not allowed")
    # an agent that does not exist is not revealed to a token that does not name it
    code, _, _ = await close_of(bridge_url(served, "nobody", token=token("agent1")))
    assert code == 4403
    backend = served.hub.backend
    assert isinstance(backend, StreamsBackend)
    assert not backend.alive("agent1")
    async with websockets.connect(bridge_url(served, "agent1", token=token("agent1"))) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "resync"}
        assert backend.alive("agent1")


async def test_a_ccp_signed_in_as_someone_else_is_refused_before_any_snapshot(
    served: Served,
) -> None:
    backend = served.hub.backend
    assert isinstance(backend, StreamsBackend)
    app = await websockets.connect(f"{served.url}/ws?agent=agent1&token={token('agent1')}")
    await app.recv(), await app.recv()  # its StateSync
    bridge = await websockets.connect(bridge_url(served, "agent1", token=token("agent1")))
    await bridge.recv()  # resync
    await bridge.send(snapshot("mallory"))
    try:
        async with asyncio.timeout(5):
            async for _ in bridge:
                pass
    except websockets.ConnectionClosed:
        pass
    assert bridge.close_code == 4403
    assert bridge.close_reason == "the CCP is signed in as another user"
    assert backend.status()["bridges"]["agent1"]["snapshots"] == 0  # type: ignore[index]
    assert served.hub.journal.last_seq("agent1") <= 1  # at most "bridge lost": no forged call
    received: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.3):
            while True:
                received.append(json.loads(await app.recv()))
    # the apps hear only that the bridge is gone (the last known state), nothing of the call
    assert [m["subtopic"] for m in received] in ([], ["SetAgentState"])
    assert "forged" not in json.dumps(received)
    # the real CCP, signed in as the agent, is taken
    bridge = await websockets.connect(bridge_url(served, "agent1", token=token("agent1")))
    await bridge.recv()
    await bridge.send(snapshot("agent1"))
    for _ in range(100):
        if backend.reported("agent1"):
            break
        await asyncio.sleep(0.02)
    assert backend.reported("agent1")
    await bridge.close()
    await app.close()


async def test_no_command_reaches_a_bridge_before_its_ccp_said_who_is_signed_in(
    served: Served,
) -> None:
    backend = served.hub.backend
    assert isinstance(backend, StreamsBackend)
    bridge = await websockets.connect(bridge_url(served, "agent1", token=token("agent1")))
    await bridge.recv()  # resync
    with pytest.raises(BackendError, match=BRIDGE_UNAVAILABLE):
        await backend.execute("agent1", SetState(AgentState("Break", "Break", "not_routable")))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await bridge.recv()  # nothing was sent to it
    await bridge.close()


async def test_the_bridge_page_does_not_tell_which_agents_exist(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.http) as http:
        known = await http.get("/bridge", params={"agent": "agent1"})
        unknown = await http.get("/bridge", params={"agent": "agent9"})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("agent1", "X") == unknown.text.replace("agent9", "X")


async def test_the_bridge_page_takes_its_token_from_the_fragment() -> None:
    """The real bridge page (the real Streams bundle, a fake CCP signed in as agent1) on a hub
    with tokens: its socket is taken only with the token of the link's fragment."""
    clock = RealClock()
    async with fake_ccp() as ccp, chromium() as browser:
        backend = StreamsBackend(clock, BridgeConfig(), ["agent1"], ccp_url=ccp.ccp_url)
        async with Served(Hub(backend, clock, secured())) as served:
            page = await open_bridge(
                browser, served.http, "agent1", ccp.origin, fragment=f"#token={token('agent1')}"
            )
            try:
                # the hub (tokens on) took its socket: the token came from the fragment, in
                # the socket's subprotocol; and its CCP is signed in as agent1
                await wait_for(lambda: backend.reported("agent1"), "the bridge's snapshot")
                assert page.url == f"{served.http}/bridge?agent=agent1"  # out of the address bar
            finally:
                await page.context.close()
