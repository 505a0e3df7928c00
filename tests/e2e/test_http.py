"""The HTTP side of the hub (protocol.md §1 [ext]) against a live server: commands posted over HTTP
reach the agent's WebSocket apps; state, agents, health, metrics and schema endpoints."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from e2e_support import CUSTOMER, check_error, flush, ok, query, rows, talk

from ctibridge.protocol import json_schema


def message(topic: str, subtopic: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "Amazon", "topic": topic, "subtopic": subtopic}
    body["source"] = "http-app"
    if data is not None:
        body["data"] = data
    return {**body, **extra}


@pytest.fixture
async def http(live):
    async with httpx.AsyncClient(base_url=live.http, timeout=10) as client:
        yield client


async def test_post_message_events_reach_every_websocket_app(live, http):
    a = await live.connect(source="toolbar")
    b = await live.connect(source="crm")
    response = await http.post(
        "/agents/agent1/messages",
        json=message("Simulator", "IncomingCall", {"phoneNumber": CUSTOMER}),
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"requestId"}
    rid = body["requestId"]
    assert isinstance(rid, str) and rid
    events = await flush(a)
    assert await flush(b) == events
    assert [r[:2] for r in rows(events)] == [
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]
    assert {e["requestId"] for e in events} == {rid}
    assert [e["seq"] for e in events] == [1, 2, 3, 4]  # and CcpAgentState
    # then answered over HTTP, with the app's own requestId
    response = await http.post(
        "/agents/agent1/messages", json=message("InboundCall", "Answer", requestId="http-42")
    )
    assert response.status_code == 202
    assert response.json() == {"requestId": "http-42"}
    events = await flush(a)
    assert [r[:2] for r in rows(events)] == [
        ("agent", "connected"),
        ("inbound", "connected"),
        ("SetAgentState", "Busy"),
    ]
    assert {e["requestId"] for e in events} == {"http-42"}
    assert await flush(b) == events


async def test_post_message_failure_goes_to_the_apps(live, http):
    a = await live.connect()
    request = message("InboundCall", "Answer", requestId="nothing-rings")
    response = await http.post("/agents/agent1/messages", json=request)
    assert response.status_code == 202
    events = await flush(a)
    assert len(events) == 1
    check_error(
        events[0],
        topic="InboundCall",
        type_="ANSWER_CALL_FAILED",
        text="Answering call failed.",
        request=request,
        request_id="nothing-rings",
    )


async def test_post_query_is_answered_inline(live, http):
    a = await live.connect()
    response = await http.post("/agents/agent1/messages", json=message("Agent", "GetStates"))
    assert response.status_code == 200
    body = response.json()
    assert (body["topic"], body["subtopic"]) == ("Agent", "GetStates")
    assert [s["label"] for s in body["message"]["states"]] == [
        "Available", "Not Ready", "Break", "Lunch", "Offline",
    ]  # fmt: skip
    assert await flush(a) == []  # a query answer is for the requester only


@pytest.mark.parametrize(
    ("login", "content", "status", "type_"),
    [
        ("agent1", b"not json", 400, "INVALID_JSON"),
        ("agent1", b"[]", 400, "INVALID_JSON"),
        ("agent1", json.dumps(message("Chat", "Hello")).encode(), 400, "UNKNOWN_TOPIC"),
        ("agent1", json.dumps(message("Agent", "Dance")).encode(), 400, "UNKNOWN_SUBTOPIC"),
        ("agent1", json.dumps(message("Agent", "UpdateState", 3)).encode(), 400, "INVALID_DATA"),
        ("agent1", json.dumps({**message("Agent", "Login"), "channel": "X"}).encode(), 400,
         "INVALID_MESSAGE"),
        ("agent1", json.dumps(message("Agent", "Update", {"label": "x" * 70_000})).encode(), 413,
         "FRAME_TOO_LARGE"),
        ("agent9", json.dumps(message("Agent", "Login")).encode(), 404, "UNKNOWN_AGENT"),
    ],
    ids=["not-json", "array", "topic", "subtopic", "data", "channel", "too-large", "agent"],
)  # fmt: skip
async def test_post_bad_message(live, http, login, content, status, type_):
    a = await live.connect()
    response = await http.post(f"/agents/{login}/messages", content=content)
    assert response.status_code == status
    body = response.json()
    assert body["subtopic"] == "Error"
    assert body["message"]["type"] == type_
    assert set(body["message"]) == {"type", "code", "text", "request"}
    assert await flush(a) == []  # nothing reaches the apps
    await ok(a, "Agent", "UpdateState", {"label": "Break"})  # and all still works


async def test_agent_state(live, http):
    a = await live.connect()
    await talk(a)
    response = await http.get("/agents/agent1/state")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"agent", "call"}
    assert body["agent"] == {
        k: v for k, v in (await query(a, "Agent", "StateSync")).items() if k != "requestId"
    }
    assert body["call"] == {
        k: v for k, v in (await query(a, "InboundCall", "StateSync")).items() if k != "requestId"
    }
    assert body["agent"]["message"]["agentState"]["name"] == "Busy"
    assert len(body["call"]["message"]["calls"]) == 2
    response = await http.get("/agents/nobody/state")
    assert response.status_code == 404
    assert response.json()["message"]["type"] == "UNKNOWN_AGENT"


async def test_agents(live, http):
    a = await live.connect("agent2")
    await ok(a, "Agent", "SetNotReady", {"ReasonCodeId": "Lunch"})
    b = await live.connect("agent3")
    await ok(b, "Agent", "Logout")
    response = await http.get("/agents")
    assert response.status_code == 200
    agents = {row["login"]: row for row in response.json()}
    assert sorted(agents) == ["agent1", "agent2", "agent3", "agent4", "agent5"]
    assert agents["agent1"]["state"] == "Available"
    assert agents["agent1"]["loginState"] == "LoggedIn"
    assert agents["agent2"]["state"] == "Lunch"
    assert agents["agent2"]["apps"] == 1
    assert agents["agent3"]["loginState"] == "LoggedOut"


async def test_healthz(live, http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["backend"]["backend"] == "sim"
    assert body["backend"]["running"] is True


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


async def test_metrics(live, http):
    a = await live.connect()
    await talk(a)
    await a.send_raw("junk")
    await flush(a)
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE ctibridge_app_connections gauge" in text
    assert metric(text, "ctibridge_app_connections") == 1
    # ring (4) + answer (4): two call events, SetAgentState, CcpAgentState each
    assert metric(text, "ctibridge_events_published_total") == 8
    assert metric(text, 'ctibridge_errors_total{type="INVALID_JSON"}') == 1
    assert metric(text, "ctibridge_frames_received_total") >= 4
    b = await live.connect()
    text = (await http.get("/metrics")).text
    assert metric(text, "ctibridge_app_connections") == 2
    await b.close()
    # the server notices the close on b's own task: poll (round trips, no sleeps) until it has
    for _ in range(100):
        text = (await http.get("/metrics")).text
        if metric(text, "ctibridge_app_connections") == 1:
            break
    assert metric(text, "ctibridge_app_connections") == 1


async def test_schema(live, http):
    response = await http.get("/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema == json.loads(json.dumps(json_schema()))
    assert schema["$schema"].startswith("https://json-schema.org/")
    described = {d.get("description", "").split(" ")[0] for d in schema["$defs"].values()}
    for topic, subtopics in {
        "InboundCall": CALL_SUBTOPICS,
        "OutboundCall": [*CALL_SUBTOPICS, "Skip"],
        "Agent": AGENT_SUBTOPICS,
    }.items():
        for subtopic in subtopics:
            assert f"{topic}/{subtopic}" in described, (topic, subtopic)


CALL_SUBTOPICS = [
    "Answer", "Reject", "Hold", "SetHold", "Resume", "Disconnect", "ClearContact", "Consult",
    "ExternalConsult", "Swap", "Conference", "Transfer", "QueueTransfer", "NumberPad", "SendDTMF",
    "SendDigits", "ConsultDrop", "AcceptWarmTransfer", "MakeCall", "SetMakeCall", "StateSync",
]  # fmt: skip
AGENT_SUBTOPICS = [
    "StateSync", "UpdateState", "Update", "GetStates", "GetAgentState", "Mute", "Unmute",
    "SetNotReady", "Login", "Logout", "CcpAgentState",
]  # fmt: skip
