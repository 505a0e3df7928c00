"""Auth over real sockets: no token -> 4401, another agent -> 4403 / FORBIDDEN, foreign ids ->
FORBIDDEN with nothing changed, origins, HTTP, and no credential in any log line or event."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time

import httpx
import pytest
import websockets

from ctibridge import Settings
from ctibridge.hub import Hub, logs
from ctibridge.settings import AuthSettings
from livehub import LiveHub, start_live_hub, stop_live_hub
from support.hub import SECRET, close_of, recv_json, request, secured, token, ws_url


async def synced(url: str, **kwargs: object) -> websockets.ClientConnection:
    """A connection that got its two StateSync answers."""
    ws = await websockets.connect(url, **kwargs)  # type: ignore[arg-type]
    first, second = await recv_json(ws), await recv_json(ws)
    assert (first["topic"], first["subtopic"]) == ("Agent", "StateSync")
    assert second["subtopic"] == "StateSync"
    return ws


async def test_no_token_closes_4401(secured_hub: LiveHub) -> None:
    code, reason, messages = await close_of(ws_url(secured_hub.url))
    assert (code, reason, messages) == (4401, "no token", [])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: "garbage", "malformed token"),
        (lambda: token("agent1")[:-2] + "AA", "invalid token signature"),
        (lambda: token("agent1", now=int(time.time()) - 7200, ttl=3600), "token expired"),
    ],
    ids=["malformed", "forged", "expired"],
)
async def test_bad_tokens_close_4401(secured_hub: LiveHub, make: object, reason: str) -> None:
    bad = make()  # type: ignore[operator]
    code, got, messages = await close_of(ws_url(secured_hub.url, token=bad))
    assert (code, got, messages) == (4401, reason, [])


async def test_token_for_one_agent_used_for_another_closes_4403(secured_hub: LiveHub) -> None:
    code, reason, messages = await close_of(
        ws_url(secured_hub.url, "agent2", token=token("agent1"))
    )
    assert code == 4403 and "agent2" in reason and messages == []
    # an agent that does not exist is not revealed to a token that does not name it
    code, _, _ = await close_of(ws_url(secured_hub.url, "nobody", token=token("agent1")))
    assert code == 4403
    code, _, messages = await close_of(ws_url(secured_hub.url, "nobody", token=token("nobody")))
    assert code == 4404 and messages[0]["message"]["type"] == "UNKNOWN_AGENT"


async def test_a_token_for_several_agents_and_the_bearer_header(secured_hub: LiveHub) -> None:
    both = token("agent1", "agent2")
    for agent in ("agent1", "agent2"):
        ws = await synced(ws_url(secured_hub.url, agent, token=both))
        await ws.close()
    ws = await synced(
        ws_url(secured_hub.url), additional_headers={"Authorization": f"Bearer {both}"}
    )
    await ws.send(request("Agent", "GetStates", rid="g"))
    assert (await recv_json(ws))["requestId"] == "g"
    await ws.close()


async def test_foreign_contact_and_connection_ids_are_forbidden(secured_hub: LiveHub) -> None:
    one = await synced(ws_url(secured_hub.url, "agent1", token=token("agent1")))
    two = await synced(ws_url(secured_hub.url, "agent2", token=token("agent2")))
    await two.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, "r"))
    ringing = [await recv_json(two) for _ in range(4)]  # 2 legs, SetAgentState, CcpAgentState
    contact_id = ringing[0]["message"]["call"]["ResponseActual"]["contactId"]
    connection_id = ringing[0]["message"]["call"]["ResponseActual"]["connectionId"]
    await two.send(request("Agent", "StateSync", rid="before"))
    before = await recv_json(two)

    attempts = [
        ("InboundCall", "Hold", contact_id),
        ("InboundCall", "ClearContact", contact_id),
        ("OutboundCall", "Resume", connection_id),
        ("InboundCall", "Disconnect", connection_id),
    ]
    for i, (topic, subtopic, some_id) in enumerate(attempts):
        await one.send(request(topic, subtopic, some_id, rid=f"x{i}"))
        error = await recv_json(one)
        assert error["subtopic"] == "Error" and error["requestId"] == f"x{i}"
        assert error["message"]["type"] == "FORBIDDEN"
        assert error["message"]["text"] == "Not allowed for this agent."
        assert "seq" not in error  # an answer to the sender only, not journaled

    # agent2's call and apps saw nothing of it
    await two.send(request("Agent", "StateSync", rid="after"))
    after = await recv_json(two)
    assert {**after, "requestId": "before"} == before
    assert secured_hub.hub.journal.last_seq("agent1") == 0
    await one.close()
    await two.close()


async def test_http_requires_a_token_for_the_agent(secured_hub: LiveHub) -> None:
    body = json.loads(request("Agent", "UpdateState", {"label": "Break"}))
    async with httpx.AsyncClient(base_url=secured_hub.http) as http:
        r = await http.post("/agents/agent1/messages", json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        unauthorized = r.json()  # the same error body as 403 and 404
        assert (unauthorized["subtopic"], unauthorized["message"]["type"]) == (
            "Error", "UNAUTHORIZED"
        )  # fmt: skip
        assert set(unauthorized["message"]) == {"type", "code", "text", "request"}
        assert unauthorized["message"]["code"] == "no token"
        headers = {"Authorization": f"Bearer {token('agent1')}"}
        r = await http.post("/agents/agent2/messages", json=body, headers=headers)
        assert r.status_code == 403 and r.json()["message"]["type"] == "FORBIDDEN"
        r = await http.get("/agents/agent2/state", headers=headers)
        assert r.status_code == 403
        assert set(r.json()["message"]) == set(unauthorized["message"])
        r = await http.post("/agents/agent1/messages", json=body, headers=headers)
        assert r.status_code == 202
        r = await http.get("/agents", headers=headers)
        assert [row["login"] for row in r.json()] == ["agent1"]
        assert (await http.get("/agents")).status_code == 401
        # ?token= is for browsers' WebSockets only: not accepted on HTTP
        r = await http.get(f"/agents/agent1/state?token={token('agent1')}")
        assert r.status_code == 401
        assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("origin", "code"),
    [("http://evil.example", 4403), ("null", 4403), ("https://crm.example", None)],
)
async def test_browser_origins(origin: str, code: int | None) -> None:
    settings = secured()
    settings = Settings(
        sim_seed=7, auth=AuthSettings(secret=SECRET, allowed_origins=("https://crm.example",))
    )
    live = await start_live_hub(settings)
    try:
        url = ws_url(live.url, token=token("agent1"))
        if code is None:
            ws = await synced(url, origin=origin)
            await ws.close()
        else:
            got, reason, _ = await close_of(url, origin=origin)
            assert (got, reason) == (code, "origin not allowed")
        # the hub's own pages are always allowed
        ws = await synced(url, origin=f"http://127.0.0.1:{live.port}")
        await ws.close()
        async with httpx.AsyncClient(base_url=live.http) as http:
            r = await http.get(
                "/agents", headers={"Origin": origin, "Authorization": f"Bearer {token('agent1')}"}
            )
            assert r.status_code == (403 if code else 200)
    finally:
        await stop_live_hub(live)


async def test_the_insecure_hub_still_refuses_foreign_origins() -> None:
    live = await start_live_hub()
    try:
        code, _, _ = await close_of(ws_url(live.url), origin="http://evil.example")
        assert code == 4403
    finally:
        await stop_live_hub(live)


def test_a_hub_without_a_usable_secret_refuses_to_exist() -> None:
    from ctibridge.backends.sim import SimBackend
    from ctibridge.clock import ManualClock

    clock = ManualClock()
    with pytest.raises(ValueError, match="no auth secret"):
        Hub(SimBackend(clock, seed=1), clock, Settings())
    with pytest.raises(ValueError, match="at least"):
        Hub(SimBackend(clock, seed=1), clock, Settings(auth=AuthSettings(secret="short")))


async def test_no_credential_reaches_a_log_line_or_an_event(secured_hub: LiveHub) -> None:
    stream = io.StringIO()
    handler = logs.configure("json", "DEBUG", secrets=(SECRET,), stream=stream)
    # uvicorn logs every WebSocket request line, query string included, at INFO
    logging.getLogger("uvicorn.error").setLevel(logging.DEBUG)
    good, forged = token("agent1"), token("agent1")[:-3] + "abc"
    received: list[str | bytes] = []
    try:
        ws = await websockets.connect(ws_url(secured_hub.url, token=good))
        received += [await ws.recv() for _ in range(2)]
        logging.getLogger("ctibridge.test").info(f"a careless line with {good} and {SECRET}")
        await ws.send(request("Agent", "UpdateState", {"label": "Break", "note": good}, "u"))
        await ws.send(f'{{"oops": "{good}"')
        await ws.send(request("InboundCall", "Hold", rid="h"))
        received += [await ws.recv() for _ in range(3)]
        await ws.close()
        for bad in (forged, None):
            await close_of(ws_url(secured_hub.url, token=bad) if bad else ws_url(secured_hub.url))
        async with httpx.AsyncClient(base_url=secured_hub.http) as http:
            await http.get("/agents", headers={"Authorization": f"Bearer {forged}"})
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line["msg"] == "app connected" and line.get("app") == "test-app" for line in lines)
    assert any("[redacted]" in line["msg"] for line in lines)
    # uvicorn's own request line was there, with its token removed
    assert any('"WebSocket /ws?agent=agent1&token=[redacted]"' in line["msg"] for line in lines)
    for secret in (SECRET, good, forged, good.split(".")[2], forged.split(".")[2]):
        assert secret not in text
    # events carry no secret of the hub (the app's own request is echoed to that app only)
    assert not any(SECRET in m for m in received)


# --- round 2 ------------------------------------------------------------------------------------


async def test_a_socket_is_closed_4401_when_its_token_expires(secured_hub: LiveHub) -> None:
    """A token's expiry ends the connection it opened: the app renews by reconnecting."""
    ws = await synced(ws_url(secured_hub.url, token=token("agent1", ttl=2)))
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed:
        pass
    assert (ws.close_code, ws.close_reason) == (4401, "token expired")
    # and what it sends after that drives nothing: the agent is as it was
    assert secured_hub.hub.journal.last_seq("agent1") == 0
    ws = await synced(ws_url(secured_hub.url, token=token("agent1")))  # renewed
    await ws.close()


async def test_healthz_names_nothing_without_a_token(secured_hub: LiveHub) -> None:
    async with httpx.AsyncClient(base_url=secured_hub.http) as http:
        bare = await http.get("/healthz")
        forged = await http.get("/healthz", headers={"Authorization": "Bearer ctb1.x.y"})
        full = await http.get("/healthz", headers={"Authorization": f"Bearer {token('agent1')}"})
    assert (bare.status_code, bare.json()) == (200, {"status": "ok"})
    assert forged.json() == {"status": "ok"}
    assert "agent1" not in bare.text and "journal" not in bare.text
    assert full.status_code == 200 and full.json()["journal"]["kind"] == "memory"
    assert full.json()["connections"] == 0


async def test_another_agents_contact_and_a_contact_that_does_not_exist_look_alike(
    secured_hub: LiveHub,
) -> None:
    one = await synced(ws_url(secured_hub.url, "agent1", token=token("agent1")))
    two = await synced(ws_url(secured_hub.url, "agent2", token=token("agent2")))
    await two.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, "r"))
    ringing = [await recv_json(two) for _ in range(3)]
    real = ringing[0]["message"]["call"]["ResponseActual"]["contactId"]
    fake = "00000000-0000-4000-8000-000000000000"
    answers = {}
    for some_id in (real, fake):
        await one.send(request("InboundCall", "Hold", some_id, rid="h"))
        error = await recv_json(one)
        answers[some_id] = (error["subtopic"], error["message"]["type"], error["message"]["text"])
        assert "seq" not in error
        assert error["message"]["code"] == f"{some_id} is not a contact of agent1"
    assert answers[real] == answers[fake] == ("Error", "FORBIDDEN", "Not allowed for this agent.")
    await one.close()
    await two.close()


async def test_an_http_command_refused_to_its_sender_is_refused_in_the_response(
    secured_hub: LiveHub,
) -> None:
    """FORBIDDEN goes to the sender only: over HTTP the response is the sender."""
    headers = {"Authorization": f"Bearer {token('agent1')}"}
    body = {"channel": "Amazon", "topic": "InboundCall", "subtopic": "Hold", "source": "crm",
            "data": "nope", "requestId": "h1"}  # fmt: skip
    async with httpx.AsyncClient(base_url=secured_hub.http) as http:
        r = await http.post("/agents/agent1/messages", json=body, headers=headers)
    assert r.status_code == 403
    answer = r.json()
    assert (answer["subtopic"], answer["requestId"]) == ("Error", "h1")
    assert answer["message"]["type"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("evil.example:{port}", False),
        ("127.0.0.1.evil.example", False),
        ("127.0.0.1:{port}", True),
        ("localhost:{port}", True),
        ("[::1]:{port}", True),
    ],
)
async def test_without_tokens_only_loopback_host_names_are_served(host: str, allowed: bool) -> None:
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 is same-origin with the
    secured_hub, so the Origin rule lets it in; its Host header still names evil.example."""
    live = await start_live_hub()
    try:
        name = host.format(port=live.port)
        origin = f"http://{name}"
        headers = {"Host": name, "Origin": origin}
        async with httpx.AsyncClient(base_url=live.http) as http:
            post = await http.post(
                "/agents/agent1/messages",
                content=request("Agent", "UpdateState", {"label": "Break"}),
                headers={**headers, "Content-Type": "text/plain"},
            )
            page = await http.get("/agent/agent1", headers=headers)
        assert post.status_code == (202 if allowed else 403)
        assert page.status_code == (200 if allowed else 403)
        # the browser's view: the URL names the rebound host, the socket reaches 127.0.0.1
        url = ws_url(f"ws://{name}")
        sock = socket.create_connection(("127.0.0.1", live.port))
        if allowed:
            ws = await synced(url, origin=origin, sock=sock)
            await ws.close()
        else:
            code, reason, messages = await close_of(url, origin=origin, sock=sock)
            assert (code, reason, messages) == (4403, "host not allowed", [])
    finally:
        await stop_live_hub(live)


async def test_a_hub_with_tokens_serves_any_host_name(secured_hub: LiveHub) -> None:
    """Behind a proxy the hub has a real name: with tokens on, a page without one can do
    nothing anyway."""
    async with httpx.AsyncClient(base_url=secured_hub.http) as http:
        r = await http.get("/healthz", headers={"Host": "cti.example.com"})
    assert r.status_code == 200


async def test_a_browser_sends_its_token_in_a_subprotocol_not_the_url(secured_hub: LiveHub) -> None:
    """What the toolbar and the bridge page do (a browser WebSocket cannot set headers)."""
    offer = ["ctibridge", f"ctibridge.token.{token('agent1')}"]
    ws = await synced(ws_url(secured_hub.url), subprotocols=offer)  # type: ignore[arg-type]
    assert ws.subprotocol == "ctibridge"
    await ws.close()
    code, _, _ = await close_of(ws_url(secured_hub.url, "agent2"), subprotocols=offer)
    assert code == 4403
