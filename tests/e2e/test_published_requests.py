"""Every published sample request (tests/fixtures/samples/*-request*.json), sent as published to
a live hub in a situation where it applies, has the effect docs/protocol.md revision 2 gives it.

The samples' ids and names are examples: the published agent connection id (``1233dc5f-…``,
the agent leg of the published Answer event) is replaced by the live call's agent leg id, and the
example queue / agent names by ones the simulator has (``DevQueue1`` -> ``Sales``, ``AECAgent``
-> ``agent2``).  Nothing else of a sample is changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from e2e_support import SAMPLES, consult, flush, ok, ring, rows, talk

PUBLISHED_AGENT_LEG = "1233dc5f-6d09-4752-85a0-cfca6fc445e7"
EXAMPLE_NAMES = {"DevQueue1": "Sales", "AECAgent": "agent2"}
A, IN, OUT = "agent", "inbound", "outbound"
F: frozenset[str] = frozenset()


def published(name: str, agent_leg: str | None = None) -> str:
    text = (Path(SAMPLES) / name).read_text()
    if agent_leg is not None:
        text = text.replace(PUBLISHED_AGENT_LEG, agent_leg)
    for example, ours in EXAMPLE_NAMES.items():
        text = text.replace(f'"{example}"', f'"{ours}"')
    return text


async def send(c: Any, name: str, agent_leg: str | None = None) -> list[dict[str, Any]]:
    await c.send_raw(published(name, agent_leg))
    return await flush(c)


async def agent_leg_of_a_call(c: Any, *, held: bool = False) -> str:
    await ring(c)
    answered = await ok(c, "InboundCall", "Answer")
    if held:
        await ok(c, "InboundCall", "Hold")
    leg = answered[0]["message"]["call"]["ResponseActual"]
    assert leg["type"] == "agent"
    return str(leg["connectionId"])


def test_every_published_request_is_here() -> None:
    names = {p.name for p in Path(SAMPLES).glob("*-request*.json")}
    tested = {n for n in globals() if n.startswith("test_")}
    assert names == set(COVERED), names ^ set(COVERED)
    assert {f"test_{COVERED[n]}" for n in names} <= tested


async def test_hold(live):
    c = await live.connect()
    leg = await agent_leg_of_a_call(c)
    assert rows(await send(c, "hold-request.json", leg)) == [
        (A, "connected", "connected", "connecting", {"consult"}),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
    ]


async def test_resume(live):
    c = await live.connect()
    leg = await agent_leg_of_a_call(c, held=True)
    assert rows(await send(c, "resume-request.json", leg)) == [
        (A, "connected", "connected", "connecting", {"consult", "numberpad"}),
        (IN, "connected", "connected", "hold", {"disconnect", "hold"}),
    ]


async def test_disconnect(live):
    c = await live.connect()
    leg = await agent_leg_of_a_call(c)
    assert [r[:2] for r in rows(await send(c, "disconnect-request.json", leg))] == [
        (A, "ACW"), (IN, "DROPPED"), ("SetAgentState", "AfterCallWork"),
    ]  # fmt: skip


async def test_answer(live):
    c = await live.connect()
    await ring(c)
    assert rows(await send(c, "answer-request.json")) == [
        (A, "connected", "connected", "connecting", {"consult", "numberpad"}),
        (IN, "connected", "connected", None, {"disconnect", "hold"}),
        ("SetAgentState", "Busy", {"NotReady", "Ready", "mute"}),
    ]


async def test_clear_contact(live):
    c = await live.connect()
    await talk(c)
    await ok(c, "InboundCall", "Disconnect")
    assert [r[:2] for r in rows(await send(c, "clear-contact-request.json"))] == [
        (A, "DROPPED"), (IN, "DROPPED"), ("SetAgentState", "Available"),
    ]  # fmt: skip


async def test_external_consult(live):
    c = await live.connect()
    await talk(c)
    events = await send(c, "external-consult-request.json")
    assert [r[:3] for r in rows(events)] == [
        (A, "connected", "connected"), (IN, "hold", "hold"), (OUT, "connecting", "connecting"),
    ]  # fmt: skip
    assert events[2]["message"]["call"]["ResponseActual"]["phoneNumber"] == "9154543543543"


async def test_transfer_to_an_agent(live):
    c = await live.connect()
    await talk(c)
    assert [r[:2] for r in rows(await send(c, "transfer-request.json"))] == [
        (A, "ACW"), (IN, "DROPPED"), ("SetAgentState", "AfterCallWork"),
    ]  # fmt: skip
    assert len((await live.connect("agent2")).sync[1]["message"]["calls"]) == 2  # rings there


async def test_queue_transfer(live):
    c = await live.connect()
    await talk(c)
    assert [r[:2] for r in rows(await send(c, "queue-transfer-request.json"))] == [
        (A, "ACW"), (IN, "DROPPED"), ("SetAgentState", "AfterCallWork"),
    ]  # fmt: skip


async def test_send_dtmf_without_digits(live):
    """Published without data; we require the digits (samples/README.md): a clear error."""
    c = await live.connect()
    await talk(c)
    [error] = await send(c, "inboundcall-senddtmf-request.json")
    assert error["message"]["type"] == "INVALID_DATA"
    assert error["message"]["code"] == "data: expected digits 0-9 * # , (1-64)"
    await consult(c)  # the connection and the call go on


async def test_set_make_call(live):
    c = await live.connect()
    events = await send(c, "inboundcall-setmakecall-request-1.json")
    assert [r[:2] for r in rows(events)] == [
        (A, "connecting"), (OUT, "connecting"), ("SetAgentState", "CallingCustomer"),
    ]  # fmt: skip
    assert events[1]["message"]["call"]["CallVariables"]["DNIS"] == "+16013261548"


async def test_update_state(live):
    c = await live.connect()
    await ok(c, "Agent", "UpdateState", {"label": "Break"})
    events = await send(c, "update-state-request.json")
    assert [e["subtopic"] for e in events] == ["SetAgentState", "CcpAgentState"]
    assert (events[0]["message"]["event"], events[0]["message"]["data"]["state"]) == (
        "Available",
        "Ready",
    )


async def test_set_not_ready(live):
    c = await live.connect()
    events = await send(c, "agent-setnotready-request.json")
    assert [e["subtopic"] for e in events] == ["SetAgentState", "CcpAgentState"]
    data = events[0]["message"]["data"]
    assert (data["state"], data["reasonCode"], data["type"]) == (
        "Not_Ready",
        {"id": "Not Ready"},
        "not_routable",
    )


@pytest.mark.parametrize(
    ("name", "topic"),
    [("agent-statesync-request.json", "Agent"), ("call-statesync-request.json", "InboundCall")],
)
async def test_state_sync(live, name, topic):
    c = await live.connect()
    [answer] = await send(c, name)
    assert (answer["topic"], answer["subtopic"]) == (topic, "StateSync")
    assert "seq" not in answer  # to the requester only


COVERED = {
    "hold-request.json": "hold",
    "resume-request.json": "resume",
    "disconnect-request.json": "disconnect",
    "answer-request.json": "answer",
    "clear-contact-request.json": "clear_contact",
    "external-consult-request.json": "external_consult",
    "transfer-request.json": "transfer_to_an_agent",
    "queue-transfer-request.json": "queue_transfer",
    "inboundcall-senddtmf-request.json": "send_dtmf_without_digits",
    "inboundcall-setmakecall-request-1.json": "set_make_call",
    "update-state-request.json": "update_state",
    "agent-setnotready-request.json": "set_not_ready",
    "agent-statesync-request.json": "state_sync",
    "call-statesync-request.json": "state_sync",
}
