"""Auth over real sockets: no token -> 4401, another agent -> 4403 / FORBIDDEN, foreign ids ->
FORBIDDEN with nothing changed, origins, HTTP, and no credential in any log line or event."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from hub_support import SECRET, close_of, recv_json, request, secured, token, ws_url

from ctibridge import Settings
from ctibridge.hub import Hub, logs
from ctibridge.settings import AuthSettings
from livehub import LiveHub, start_live_hub, stop_live_hub


@pytest.fixture
async def hub() -> AsyncIterator[LiveHub]:
    live = await start_live_hub(secured())
    try:
        yield live
    finally:
        await stop_live_hub(live)


async def synced(url: str, **kwargs: object) -> websockets.ClientConnection:
    """A connection that got its two StateSync answers."""
    ws = await websockets.connect(url, **kwargs)  # type: ignore[arg-type]
    first, second = await recv_json(ws), await recv_json(ws)
    assert (first["topic"], first["subtopic"]) == ("Agent", "StateSync")
    assert second["subtopic"] == "StateSync"
    return ws


async def test_no_token_closes_4401(hub: LiveHub) -> None:
    code, reason, messages = await close_of(ws_url(hub.url))
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
async def test_bad_tokens_close_4401(hub: LiveHub, make: object, reason: str) -> None:
    bad = make()  # type: ignore[operator]
    code, got, messages = await close_of(ws_url(hub.url, token=bad))
    assert (code, got, messages) == (4401, reason, [])


async def test_token_for_one_agent_used_for_another_closes_4403(hub: LiveHub) -> None:
    code, reason, messages = await close_of(ws_url(hub.url, "agent2", token=token("agent1")))
    assert code == 4403 and "agent2" in reason and messages == []
    # an agent that does not exist is not revealed to a token that does not name it
    code, _, _ = await close_of(ws_url(hub.url, "nobody", token=token("agent1")))
    assert code == 4403
    code, _, messages = await close_of(ws_url(hub.url, "nobody", token=token("nobody")))
    assert code == 4404 and messages[0]["message"]["type"] == "UNKNOWN_AGENT"


async def test_a_token_for_several_agents_and_the_bearer_header(hub: LiveHub) -> None:
    both = token("agent1", "agent2")
    for agent in ("agent1", "agent2"):
        ws = await synced(ws_url(hub.url, agent, token=both))
        await ws.close()
    ws = await synced(ws_url(hub.url), additional_headers={"Authorization": f"Bearer {both}"})
    await ws.send(request("Agent", "GetStates", rid="g"))
    assert (await recv_json(ws))["requestId"] == "g"
    await ws.close()


async def test_foreign_contact_and_connection_ids_are_forbidden(hub: LiveHub) -> None:
    one = await synced(ws_url(hub.url, "agent1", token=token("agent1")))
    two = await synced(ws_url(hub.url, "agent2", token=token("agent2")))
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
    assert hub.hub.journal.last_seq("agent1") == 0
    await one.close()
    await two.close()


async def test_http_requires_a_token_for_the_agent(hub: LiveHub) -> None:
    body = json.loads(request("Agent", "UpdateState", {"label": "Break"}))
    async with httpx.AsyncClient(base_url=hub.http) as http:
        r = await http.post("/agents/agent1/messages", json=body)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        headers = {"Authorization": f"Bearer {token('agent1')}"}
        r = await http.post("/agents/agent2/messages", json=body, headers=headers)
        assert r.status_code == 403 and r.json()["message"]["type"] == "FORBIDDEN"
        r = await http.get("/agents/agent2/state", headers=headers)
        assert r.status_code == 403
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


async def test_no_credential_reaches_a_log_line_or_an_event(hub: LiveHub) -> None:
    stream = io.StringIO()
    handler = logs.configure("json", "DEBUG", secrets=(SECRET,), stream=stream)
    # uvicorn logs every WebSocket request line, query string included, at INFO
    logging.getLogger("uvicorn.error").setLevel(logging.DEBUG)
    good, forged = token("agent1"), token("agent1")[:-3] + "abc"
    received: list[str] = []
    try:
        ws = await websockets.connect(ws_url(hub.url, token=good))
        received += [await ws.recv() for _ in range(2)]
        logging.getLogger("ctibridge.test").info(f"a careless line with {good} and {SECRET}")
        await ws.send(request("Agent", "UpdateState", {"label": "Break", "note": good}, "u"))
        await ws.send(f'{{"oops": "{good}"')
        await ws.send(request("InboundCall", "Hold", rid="h"))
        received += [await ws.recv() for _ in range(3)]
        await ws.close()
        for bad in (forged, None):
            await close_of(ws_url(hub.url, token=bad) if bad else ws_url(hub.url))
        async with httpx.AsyncClient(base_url=hub.http) as http:
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
