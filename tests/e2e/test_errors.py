"""Bad input (docs/protocol.md §5, protocol errors): each gets the §5 error, sent to the sending
connection only (no seq: not journaled, §6), the connection stays open and keeps working, and no
other app hears anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from e2e_support import call_ids, check_error, flush, ok, query, req, ring, talk

from ctibridge.client import Client

GOOD = {"channel": "Amazon", "topic": "Agent", "subtopic": "UpdateState", "source": "myapp"}


async def raw(c: Client, frame: str | bytes) -> list[dict[str, Any]]:
    await c.send_raw(frame)
    return await flush(c)


async def still_works(c: Client, other: Client) -> None:
    """The connection still carries requests; the other app heard nothing of the bad one."""
    assert await flush(other) == []
    events = await ok(c, "Agent", "UpdateState", {"label": "Break"})
    assert [e["subtopic"] for e in events] == ["SetAgentState", "CcpAgentState"]
    assert await flush(other) == events


def frame(**fields: Any) -> str:
    message = {**GOOD, "data": {"label": "Break"}, **fields}
    return json.dumps({k: v for k, v in message.items() if v is not DROP})


DROP: Any = object()
CHANNEL = 'channel: expected "Amazon"'
SOURCE = "source: expected a string of 1-64 characters naming the app"
STATE = (
    "{label} or {code} naming one of the agent's states (Agent/GetStates lists them), "
    "type? one of routable, not_routable, offline, system, error"
)
DIGITS = "data: expected digits 0-9 * # , (1-64)"

CASES = [
    # (id, frame, type, code, topic, echoes the request)
    ("not-json", "hello {", "INVALID_JSON", None, "System", False),
    ("json-array", json.dumps([GOOD]), "INVALID_JSON", None, "System", False),
    ("json-string", json.dumps("Answer"), "INVALID_JSON", None, "System", False),
    ("wrong-channel", frame(channel="Genesys"), "INVALID_MESSAGE", CHANNEL, "Agent", True),
    ("no-channel", frame(channel=DROP), "INVALID_MESSAGE", CHANNEL, "Agent", True),
    ("no-source", frame(source=DROP), "INVALID_MESSAGE", SOURCE, "Agent", True),
    ("empty-source", frame(source=""), "INVALID_MESSAGE", SOURCE, "Agent", True),
    ("long-source", frame(source="x" * 65), "INVALID_MESSAGE", SOURCE, "Agent", True),
    ("topic-not-string", frame(topic=7), "INVALID_MESSAGE",
     "topic: expected a string: InboundCall, OutboundCall or Agent", "System", True),
    ("long-request-id", frame(requestId="r" * 65), "INVALID_MESSAGE",
     "requestId: expected a string of at most 64 characters", "Agent", True),
    ("unknown-topic", frame(topic="Chat"), "UNKNOWN_TOPIC",
     "topic Chat: expected one of InboundCall, OutboundCall, Agent, Simulator", "Chat", True),
    ("unknown-subtopic", frame(subtopic="Teleport"), "UNKNOWN_SUBTOPIC",
     "Teleport: expected one of StateSync, UpdateState, Update, GetStates, GetAgentState, Mute, "
     "Unmute, SetNotReady, Login, Logout, CcpAgentState", "Agent", True),
    ("case-sensitive", frame(subtopic="updatestate"), "UNKNOWN_SUBTOPIC",
     "updatestate: did you mean UpdateState?", "Agent", True),
    ("skip-not-inbound", frame(topic="InboundCall", subtopic="Skip", data=DROP),
     "UNKNOWN_SUBTOPIC", "Skip: a subtopic of OutboundCall, not InboundCall", "InboundCall", True),
    ("data-wrong-type", frame(data="Break"), "INVALID_DATA", f"data: expected {STATE}", "Agent",
     True),
    ("data-no-label", frame(data={"type": "routable"}), "INVALID_DATA",
     f"data.label: expected {STATE}", "Agent", True),
    ("bad-state-type", frame(data={"label": "Break", "type": "sleepy"}), "INVALID_DATA",
     f"data.type: expected {STATE}",
     "Agent", True),
    ("hold-number", frame(topic="InboundCall", subtopic="Hold", data=5), "INVALID_DATA",
     "data: expected an id of the call: the contactId or a connectionId (string)",
     "InboundCall", True),
    ("dtmf-letters", frame(topic="InboundCall", subtopic="SendDTMF", data="12ab"),
     "INVALID_DATA", DIGITS, "InboundCall", True),
    ("dtmf-missing", frame(topic="InboundCall", subtopic="SendDTMF", data=DROP), "INVALID_DATA",
     DIGITS, "InboundCall", True),
    ("makecall-no-data", frame(topic="InboundCall", subtopic="SetMakeCall", data=DROP),
     "INVALID_DATA", "data: expected a phone number string or {phoneNumber, queue?}", "InboundCall",
     True),
    ("bad-phone", frame(topic="OutboundCall", subtopic="MakeCall", data="12-34"), "INVALID_DATA",
     "data: expected a phone number string or {phoneNumber, queue?} (none: accept the offered "
     "preview)", "OutboundCall", True),
    ("queue-transfer-string", frame(topic="OutboundCall", subtopic="QueueTransfer", data="Sales"),
     "INVALID_DATA", "data: expected {queueName, isWarmTransfer?}", "OutboundCall", True),
    # a query cannot fail at the "Amazon Connect" level: the registry does not offer it
    ("sim-fail-next-query", frame(topic="Simulator", subtopic="FailNext",
     data={"subtopic": "StateSync"}), "INVALID_DATA",
     "data.subtopic: expected {subtopic, error?} naming a call or agent subtopic", "Simulator",
     True),
    # the three examples of issue 12: each says what was expected
    ("consult-no-data", frame(topic="InboundCall", subtopic="Consult", data=DROP), "INVALID_DATA",
     "data: expected a phone number string or one of {phoneNumber} {quickConnect} {agentName}",
     "InboundCall", True),
    ("incoming-call-string", frame(topic="Simulator", subtopic="IncomingCall", data="+15551234567"),
     "INVALID_DATA", "data: expected {phoneNumber, dnis?, queue?, attributes?, ringSeconds?}",
     "Simulator", True),
    ("sim-unknown", frame(topic="Simulator", subtopic="Earthquake"), "UNKNOWN_SUBTOPIC",
     "Earthquake: expected one of IncomingCall, CustomerHangup, ThirdPartyAnswer, "
     "ThirdPartyHangup, OutboundResult, Configure, FailNext, PreviewCall, Reset",
     "Simulator", True),
    ("sim-fail-next-unknown", frame(topic="Simulator", subtopic="FailNext",
     data={"subtopic": "Teleport"}), "INVALID_DATA",
     "data.subtopic: expected {subtopic, error?} naming a call or agent subtopic", "Simulator",
     True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("frame_", "type_", "code", "topic", "echoes"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["text", "binary"])
async def test_bad_input(live, frame_, type_, code, topic, echoes, as_bytes):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    got = await raw(c, frame_.encode() if as_bytes else frame_)
    assert len(got) == 1, got
    error = got[0]
    request = json.loads(frame_) if echoes else None
    rid = request.get("requestId") if isinstance(request, dict) else None
    check_error(
        error,
        topic=topic,
        type_=type_,
        text={
            "INVALID_JSON": "The message is not a JSON object.",
            "INVALID_MESSAGE": (
                "The message envelope is missing a field or has a field of the wrong type."
            ),
            "UNKNOWN_TOPIC": "Unknown topic.",
            "UNKNOWN_SUBTOPIC": "Unknown subtopic for this topic.",
            "INVALID_DATA": "The message data has the wrong shape or value.",
        }[type_],
        code=code,
        request=request,
        request_id=rid if isinstance(rid, str) and len(rid) <= 64 else None,
    )
    assert "seq" not in error  # not journaled (§6)
    await still_works(c, other)


async def test_request_id_is_echoed_on_protocol_errors(live):
    c = await live.connect()
    got = await raw(c, frame(topic="Chat", requestId="abc-1"))
    assert got[0]["requestId"] == "abc-1"
    assert got[0]["message"]["type"] == "UNKNOWN_TOPIC"


async def test_subtopic_is_trimmed(live):
    c = await live.connect()
    got = await raw(c, frame(subtopic="  UpdateState "))
    assert [m["subtopic"] for m in got] == ["SetAgentState", "CcpAgentState"]


async def test_frame_too_large(live):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    big = frame(data={"label": "Break", "pad": "x" * 70_000})
    assert len(big.encode()) > 65536
    got = await raw(c, big)
    assert len(got) == 1
    check_error(
        got[0],
        topic="System",
        type_="FRAME_TOO_LARGE",
        text="The message is larger than 64 KiB.",
        request=None,
    )
    await still_works(c, other)


async def test_frame_of_exactly_64_kib_is_accepted(live):
    c = await live.connect()
    base = frame(data={"label": "Break", "pad": ""}, requestId="edge")
    padded = base.replace('"pad": ""', '"pad": "' + "x" * (65536 - len(base.encode())) + '"')
    assert len(padded.encode()) == 65536
    got = await raw(c, padded)
    assert [m["subtopic"] for m in got] == ["SetAgentState", "CcpAgentState"]
    assert got[0]["requestId"] == "edge"
    # one byte more is refused
    got = await raw(c, padded.replace('"pad": "', '"pad": "x'))
    assert got[0]["message"]["type"] == "FRAME_TOO_LARGE"


@pytest.mark.parametrize("subtopic", ["Hold", "SetHold", "Resume", "Disconnect", "ClearContact"])
@pytest.mark.parametrize("which", ["contactId", "agent-connectionId"])
async def test_another_agents_ids_are_forbidden(live, subtopic, which):
    a1 = await live.connect("agent1", source="toolbar")
    a1_other = await live.connect("agent1", source="crm")
    a2 = await live.connect("agent2")
    await talk(a2)
    events = await ok(a2, "InboundCall", "Hold")
    contact_id, agent_conn = call_ids(events[0])
    target = contact_id if which == "contactId" else agent_conn
    await talk(a1)  # agent1 has a call of its own: the id must still be refused
    await flush(a1_other)
    before = await query(a2, "InboundCall", "StateSync")
    result = await req(a1, "InboundCall", subtopic, target)
    assert len(result.events) == 1
    check_error(
        result.events[0],
        topic="InboundCall",
        type_="FORBIDDEN",
        text="Not allowed for this agent.",
        request={
            "channel": "Amazon",
            "topic": "InboundCall",
            "subtopic": subtopic,
            "source": "toolbar",
            "requestId": result.request_id,
            "data": target,
        },
        request_id=result.request_id,
    )
    assert "seq" not in result.events[0]
    assert await flush(a1_other) == []  # to the sender only
    assert await flush(a2) == []  # agent2 hears nothing, its call is untouched
    after = await query(a2, "InboundCall", "StateSync")
    assert after["message"] == before["message"]
    # agent1's connection keeps working
    events = await ok(a1, "InboundCall", "SetHold")
    assert [e["message"]["call"]["event"] for e in events] == ["connected", "hold"]


async def test_seq_is_not_consumed_by_protocol_errors(live):
    c = await live.connect()
    first = await ok(c, "Agent", "UpdateState", {"label": "Break"})
    await raw(c, "nonsense")
    await raw(c, frame(topic="Chat"))
    second = await ok(c, "Agent", "UpdateState", {"label": "Lunch"})
    assert second[0]["seq"] == first[-1]["seq"] + 1


async def test_unknown_agent_is_refused_with_4404(live):
    async with websockets.connect(f"{live.url}/ws?agent=agent42") as ws:
        message = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4404
    check_error(
        message,
        topic="System",
        type_="UNKNOWN_AGENT",
        text="Unknown agent.",
        request=None,
    )
    # the way out: the agents there are
    assert message["message"]["code"] == (
        "agent42 is not an agent of this hub; agents: agent1, agent2, agent3, agent4, agent5"
        " (GET /agents)"
    )


async def test_missing_agent_parameter_is_refused_with_4404(live):
    async with websockets.connect(f"{live.url}/ws") as ws:
        message = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4404
    assert message["message"]["type"] == "UNKNOWN_AGENT"
    assert message["message"]["code"] == (
        "the URL names no agent: add ?agent=LOGIN (GET /agents lists them)"
    )


async def test_errors_during_a_call_change_nothing(live):
    """A protocol error in the middle of a call: the call is as it was, events go on."""
    c = await live.connect()
    events = await ring(c)
    before = await query(c, "InboundCall", "StateSync")
    await raw(c, frame(topic="InboundCall", subtopic="Hold", data={"contactId": 1}))
    after = await query(c, "InboundCall", "StateSync")
    assert after["message"] == before["message"]
    events = await ok(c, "InboundCall", "Answer")
    assert events[0]["seq"] == 5  # ring: two call events, SetAgentState, CcpAgentState
