"""Liveness: keepalive pings drop a peer that stopped answering, idle connections are closed,
and a SIGTERM drains - apps get their last events and 1012, the journal is flushed."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import sqlite3
import struct
from pathlib import Path
from typing import Any

import httpx
import websockets

from livehub import start_live_hub, stop_live_hub
from support.hub import close_of, hub_process, insecure, recv_json, request, ws_url


def raw_handshake(port: int, agent: str = "agent1") -> socket.socket:
    """A WebSocket opened by hand on a plain socket, which will never answer a ping."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws?agent={agent} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .encode()
    )  # fmt: skip
    return sock


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of the unmasked frames a server sent, after the HTTP response."""
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    frames = []
    while len(rest) >= 2:
        opcode, length = rest[0] & 0x0F, rest[1] & 0x7F
        offset = 2
        if length == 126:
            (length,) = struct.unpack("!H", rest[2:4])
            offset = 4
        elif length == 127:
            (length,) = struct.unpack("!Q", rest[2:10])
            offset = 10
        frames.append((opcode, rest[offset : offset + length]))
        rest = rest[offset + length :]
    return frames


async def read_until_eof(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    sock.setblocking(False)
    chunks = []
    async with asyncio.timeout(timeout):
        while chunk := await loop.sock_recv(sock, 65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_a_peer_that_stops_answering_pings_is_dropped() -> None:
    live = await start_live_hub(insecure(ping_interval_s=0.2, ping_timeout_s=0.5))
    try:
        answering = await websockets.connect(ws_url(live.url))  # pongs automatically
        silent = raw_handshake(live.port)
        data = await read_until_eof(silent, timeout=5)
        frames = server_frames(data)
        opcodes = [op for op, _ in frames]
        assert opcodes[:2] == [1, 1]  # the two StateSync answers
        assert 9 in opcodes  # a ping, never answered
        op, payload = frames[-1]
        assert op == 8 and struct.unpack("!H", payload[:2])[0] == 1011
        assert payload[2:] == b"keepalive ping timeout"
        silent.close()
        for _ in range(100):
            if live.hub.connection_count == 1:
                break
            await asyncio.sleep(0.01)
        assert live.hub.connection_count == 1
        # the app that answers its pings is still there, several ping intervals later
        await recv_json(answering)
        await recv_json(answering)
        await answering.send(request("Agent", "GetStates", rid="alive"))
        assert (await recv_json(answering))["requestId"] == "alive"
        await answering.close()
    finally:
        await stop_live_hub(live)


async def test_idle_connections_are_closed() -> None:
    live = await start_live_hub(insecure(idle_timeout_s=0.5))
    try:
        code, reason, messages = await close_of(ws_url(live.url))
        assert (code, reason, len(messages)) == (4408, "idle timeout", 2)
        busy = await websockets.connect(ws_url(live.url))
        for i in range(8):  # 0.8 s of traffic, never 0.5 s quiet
            await busy.send(request("Agent", "GetStates", rid=f"{i}"))
            await asyncio.sleep(0.1)
        answers = [await recv_json(busy) for _ in range(10)]
        assert [m.get("requestId") for m in answers[2:]] == [f"{i}" for i in range(8)]
        await busy.close()
    finally:
        await stop_live_hub(live)


async def test_drain_delivers_what_was_queued_then_closes_1012() -> None:
    live = await start_live_hub(insecure())
    try:
        app = await websockets.connect(ws_url(live.url))
        for i in range(50):
            label = ("Break", "Available")[i % 2]
            await app.send(request("Agent", "UpdateState", {"label": label}, rid=f"u{i}"))
        for _ in range(500):  # the hub has read them all (most are still queued or running)
            if live.hub.stats["commands"] == 50:
                break
            await asyncio.sleep(0.001)
        await live.hub.drain(timeout=5)
        received: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(5):
                async for frame in app:
                    received.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
        assert app.close_code == 1012
        events = [m for m in received if "seq" in m]
        # every command that reached the hub before the drain ran and was delivered
        # (each state change: SetAgentState, then CcpAgentState)
        assert [m["seq"] for m in events] == list(range(1, 101))
        assert [m["requestId"] for m in events] == [f"u{i}" for i in range(50) for _ in "ab"]
        code, reason, _ = await close_of(ws_url(live.url))
        assert (code, reason) == (1012, "server shutting down")
        health = await asyncio.to_thread(_get, f"{live.http}/healthz")
        assert health[0] == 503 and health[1]["status"] == "draining"
    finally:
        await stop_live_hub(live)


def _get(url: str) -> tuple[int, Any]:
    import httpx

    r = httpx.get(url)
    return r.status_code, r.json()


async def test_sigterm_drains_and_flushes_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    config = f'[auth]\ninsecure = true\n[journal]\npath = "{journal}"\n'
    with hub_process(tmp_path, config) as hub:
        hub.start()
        app = await websockets.connect(ws_url(hub.url))
        await recv_json(app)
        await recv_json(app)
        await app.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}))
        await app.send(request("InboundCall", "Answer"))
        await app.send(request("InboundCall", "Hold"))
        received = [await recv_json(app) for _ in range(4 + 4 + 2)]
        assert [m["seq"] for m in received] == list(range(1, 11))
        code = await asyncio.to_thread(hub.terminate)
        try:
            async with asyncio.timeout(5):
                async for frame in app:
                    received.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
        assert code == 0, hub.log()
        assert (app.close_code, app.close_reason) == (1012, "server shutting down; resume later")
        db = sqlite3.connect(journal)
        rows = db.execute("SELECT seq, data FROM events WHERE login = 'agent1' ORDER BY seq")
        assert [(s, json.loads(d)) for s, d in rows] == [(m["seq"], m) for m in received]
        assert db.execute("SELECT seq FROM agents WHERE login = 'agent1'").fetchone() == (10,)
        db.close()
        wal = journal.with_name(journal.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed on the way out
        assert "auth:    OFF (--insecure)" in hub.log()  # the banner says so
        lines = [json.loads(line) for line in hub.log().splitlines() if line.startswith("{")]
        assert {"app connected", "app disconnected"} <= {line["msg"] for line in lines}


async def test_a_frame_during_the_drain_is_answered_shutting_down() -> None:
    live = await start_live_hub(insecure())
    try:
        app = await websockets.connect(ws_url(live.url))
        await recv_json(app), await recv_json(app)
        live.hub.draining = True  # what drain() does first (SIGTERM)
        await app.send(request("Agent", "UpdateState", {"label": "Break"}, rid="late"))
        answer = await recv_json(app)
        assert (answer["subtopic"], answer["requestId"]) == ("Error", "late")
        assert answer["message"]["type"] == "SHUTTING_DOWN"
        assert answer["message"]["request"]["subtopic"] == "UpdateState"
        assert live.hub.journal.last_seq("agent1") == 0  # not carried out
        async with httpx.AsyncClient(base_url=live.http) as http:
            r = await http.post("/agents/agent1/messages", content=request("Agent", "Login"))
        assert r.status_code == 503 and r.json()["message"]["type"] == "SHUTTING_DOWN"
        live.hub.draining = False
        await app.close()
    finally:
        await stop_live_hub(live)


async def test_healthz_answers_503_while_draining_instead_of_refusing() -> None:
    """The listener stays open during the drain: a health check gets 503 "draining", a new
    socket 1012, not a refused connection."""
    from ctibridge.backends.sim import SimBackend
    from ctibridge.clock import ManualClock
    from ctibridge.hub import Hub
    from ctibridge.hub.server import HubServer, uvicorn_config

    clock = ManualClock()
    backend = SimBackend(clock, seed=3)
    release = asyncio.Event()
    execute = backend.execute

    async def slow_execute(login: str, action: Any) -> None:  # a backend call that hangs
        await release.wait()
        await execute(login, action)

    backend.execute = slow_execute  # type: ignore[method-assign]
    # a backend whose calls take time: not one the hub may call inline (ExecutesAtOnce)
    backend.executes_at_once = False
    hub = Hub(backend, clock, insecure(drain_timeout_s=10.0))
    server = HubServer(hub, uvicorn_config(hub, host="127.0.0.1", port=0))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url, http = f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    app = await websockets.connect(ws_url(url))
    await recv_json(app), await recv_json(app)
    await app.send(request("Agent", "UpdateState", {"label": "Break"}, rid="slow"))
    while hub.engine.sessions["agent1"].inflight is None:
        await asyncio.sleep(0.01)
    server.should_exit = True  # what SIGTERM does
    while not hub.draining:
        await asyncio.sleep(0.01)
    status, body = await asyncio.to_thread(_get, f"{http}/healthz")
    assert (status, body["status"]) == (503, "draining")
    code, reason, _ = await close_of(ws_url(url))
    assert (code, reason) == (1012, "server shutting down")
    release.set()  # the command finishes; the app gets its event, then 1012
    event = await recv_json(app)
    assert (event["subtopic"], event["requestId"]) == ("SetAgentState", "slow")
    await asyncio.wait_for(task, 20)
    await asyncio.wait_for(app.wait_closed(), 5)
    assert app.close_code == 1012
