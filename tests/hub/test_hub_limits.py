"""Limits over real sockets: a flood is RATE_LIMITED and nobody else notices, connection limits,
frame and body sizes, and a stalled reader dropped (1013) while another app of the same agent
receives every event."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest
import websockets

from livehub import LiveHub, start_live_hub, stop_live_hub
from support.hub import close_of, insecure, recv_json, request, ws_url

STATES = ("Break", "Available")
# a request answered by exactly one event (the agent's unchanged SetAgentState)
ONE_EVENT = ("Simulator", "FailNext", {"subtopic": "Hold"})


async def synced(url: str, **kwargs: Any) -> websockets.ClientConnection:
    ws = await websockets.connect(url, **kwargs)
    await recv_json(ws)
    await recv_json(ws)
    return ws


async def collect(ws: Any, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    return [await recv_json(ws, timeout) for _ in range(n)]


async def test_a_flood_is_rate_limited_and_other_apps_are_unaffected() -> None:
    live = await start_live_hub(insecure(rate_per_s=20, rate_burst=20))
    try:
        flooder = await synced(ws_url(live.url))
        peer = await synced(ws_url(live.url))  # same agent, its own budget
        other = await synced(ws_url(live.url, "agent2"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        n = 300
        for i in range(n):
            await flooder.send(request(*ONE_EVENT, rid=f"f{i}"))
        answers = await collect(flooder, n)
        elapsed = loop.time() - started
        limited = [m for m in answers if m["subtopic"] == "Error"]
        done = [m for m in answers if m["subtopic"] == "SetAgentState"]
        # every frame answered exactly once: by its event or by RATE_LIMITED
        assert sorted(m["requestId"] for m in answers) == sorted(f"f{i}" for i in range(n))
        assert len(done) + len(limited) == n
        assert {m["message"]["type"] for m in limited} == {"RATE_LIMITED"}
        assert all("seq" not in m for m in limited)  # to the sender only, not journaled
        assert 20 <= len(done) <= 20 + 20 * elapsed + 1
        assert limited[0]["message"]["request"]["data"] == ONE_EVENT[2]
        # the peer got exactly the events of the accepted commands, in order, nothing else
        seen = await collect(peer, len(done))
        assert [m["requestId"] for m in seen] == [m["requestId"] for m in done]
        assert [m["seq"] for m in seen] == list(range(1, len(done) + 1))
        await peer.send(request("Agent", "GetStates", rid="p"))
        answer = await recv_json(peer)
        assert (answer["subtopic"], answer["requestId"]) == ("GetStates", "p")
        await other.send(request("Agent", "GetStates", rid="o"))
        assert (await recv_json(other))["requestId"] == "o"
        # the budget refills
        await asyncio.sleep(0.15)
        await flooder.send(request("Agent", "GetStates", rid="later"))
        assert (await recv_json(flooder))["subtopic"] == "GetStates"
        metrics = (await httpx.AsyncClient().get(f"{live.http}/metrics")).text
        assert f'ctibridge_errors_total{{type="RATE_LIMITED"}} {float(len(limited))}' in metrics
        for ws in (flooder, peer, other):
            await ws.close()
    finally:
        await stop_live_hub(live)


async def test_connection_limits() -> None:
    live = await start_live_hub(insecure(max_connections_per_agent=2, max_connections=3))
    try:
        a1, a2 = await synced(ws_url(live.url)), await synced(ws_url(live.url))
        code, reason, _ = await close_of(ws_url(live.url))
        assert (code, reason) == (1013, "too many connections for this agent (max 2)")
        b1 = await synced(ws_url(live.url, "agent2"))
        code, reason, _ = await close_of(ws_url(live.url, "agent3"))
        assert (code, reason) == (1013, "too many connections to this hub (max 3)")
        await a1.close()
        for _ in range(100):  # the hub notices the close
            if live.hub.connection_count == 2:
                break
            await asyncio.sleep(0.01)
        a3 = await synced(ws_url(live.url))
        await a2.send(request("Agent", "GetStates", rid="still"))
        assert (await recv_json(a2))["requestId"] == "still"
        for ws in (a2, a3, b1):
            await ws.close()
    finally:
        await stop_live_hub(live)


async def test_frame_sizes(live: LiveHub) -> None:
    ws = await synced(ws_url(live.url))
    peer = await synced(ws_url(live.url))
    big = json.dumps({"channel": "Amazon", "topic": "Agent", "subtopic": "GetStates",
                      "source": "t", "requestId": "big", "pad": "x" * 70_000})  # fmt: skip
    await ws.send(big)
    error = await recv_json(ws)
    assert error["message"]["type"] == "FRAME_TOO_LARGE" and error["message"]["request"] is None
    await ws.send(request("Agent", "GetStates", rid="after"))
    assert (await recv_json(ws))["requestId"] == "after"  # the connection stays open
    # beyond what the server reads at all (1 MiB): the connection is closed, nobody else's
    await ws.send("x" * (2 << 20))
    try:
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    assert ws.close_code == 1009
    await peer.send(request("Agent", "GetStates", rid="peer"))
    assert (await recv_json(peer))["requestId"] == "peer"
    await peer.close()


async def test_http_limits() -> None:
    live = await start_live_hub(insecure(http_rate_per_s=0.01, http_rate_burst=2))
    try:
        async with httpx.AsyncClient(base_url=live.http) as http:
            url = "/agents/agent1/messages"
            body = json.loads(request("Agent", "UpdateState", {"label": "Break"}))
            r = await http.post(url, content=b"{" + b" " * (1 << 20) + b"}")
            assert r.status_code == 413 and r.json()["message"]["type"] == "FRAME_TOO_LARGE"
            assert (await http.post(url, json=body)).status_code == 202  # the burst of 2 ...
            r = await http.post(url, json=body)  # ... is used up
            assert r.status_code == 429 and r.json()["message"]["type"] == "RATE_LIMITED"
            r = await http.post("/agents/agent2/messages", json=body)  # its own budget
            assert r.status_code == 202
    finally:
        await stop_live_hub(live)


def small_socket(port: int) -> socket.socket:
    """A client socket with a tiny receive buffer (the kernel's would hold megabytes)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def shrink_server_side(live: LiveHub, client: socket.socket) -> None:
    """Give the hub's end of ``client``'s connection a tiny send buffer, as a slow network
    would: without it loopback autotunes the buffer to megabytes before the hub's writes back
    up (the test would need millions of events instead of hundreds)."""
    for protocol in live.server.server_state.connections:
        transport = protocol.transport  # type: ignore[attr-defined]
        if transport.get_extra_info("peername") == client.getsockname():
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            return
    raise AssertionError("the hub has no connection from that socket")


@pytest.mark.parametrize(
    ("bound", "reason"),
    [
        ({"send_queue": 50}, "too slow: 50 messages waiting"),
        # a few large events fill memory long before the count: bytes bound it too
        ({"send_queue": 10_000, "send_queue_bytes": 20_000}, "too slow: over 20000 bytes waiting"),
    ],
    ids=["messages", "bytes"],
)
async def test_a_stalled_reader_is_dropped_and_the_other_app_receives_everything(
    bound: dict[str, int], reason: str
) -> None:
    live = await start_live_hub(insecure(rate_per_s=1e6, rate_burst=1_000_000, **bound))
    try:
        sock = small_socket(live.port)
        stalled = await synced(ws_url(live.url), sock=sock, max_queue=1)
        shrink_server_side(live, sock)
        healthy = await synced(ws_url(live.url))
        # the healthy app drives the load: one-event requests, 20 in flight, read as they come
        received: list[dict[str, Any]] = []
        sent = 0
        dropped_at: int | None = None

        async def pump(count: int) -> None:
            nonlocal sent
            for _ in range(count):
                await healthy.send(request(*ONE_EVENT, rid=f"u{sent}"))
                sent += 1
            received.extend(await collect(healthy, count))

        while dropped_at is None:
            await pump(20)
            assert sent < 5_000, "the stalled reader was never dropped"
            if live.hub.connection_count == 1:
                dropped_at = sent
        await pump(200)  # and it goes on receiving after the drop
        assert [m["seq"] for m in received] == list(range(1, sent + 1))
        assert [m["requestId"] for m in received] == [f"u{i}" for i in range(sent)]
        assert all(m["subtopic"] == "SetAgentState" for m in received)

        # the stalled app, reading again: a prefix of the events, then 1013 with the reason
        got: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(10):
                async for frame in stalled:
                    got.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
        assert stalled.close_code == 1013  # a clean close it reads, not an abort (1006)
        assert stalled.close_reason == reason
        assert [m["seq"] for m in got] == list(range(1, len(got) + 1))
        assert len(got) < dropped_at
        metrics = (await httpx.AsyncClient().get(f"{live.http}/metrics")).text
        assert 'ctibridge_disconnects_total{reason="slow"} 1.0' in metrics
        await healthy.close()
    finally:
        await stop_live_hub(live)


def test_an_app_too_far_behind_is_dropped_before_its_queue_fills(monkeypatch: Any) -> None:
    """The oldest message waiting for longer than send_queue_age_s drops the app (1013)."""
    import time

    from ctibridge.hub import connection

    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    conn = connection.AppConnection("c1", "agent1", limit=10_000, max_bytes=0, max_age_s=30.0)
    assert conn.push("one") and conn.push("two")
    now[0] += 29.0
    assert conn.push("three")  # 29 s behind: still there
    now[0] += 2.0
    assert not conn.push("four")  # 31 s behind
    assert (conn.close_code, conn.close_reason) == (1013, "too slow: more than 30 s behind")
