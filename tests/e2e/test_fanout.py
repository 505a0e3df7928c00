"""Fan-out (protocol.md §1, §6): every app of an agent receives the same events in the same order,
seq strictly increasing by 1; an app that joins mid-call first gets the two StateSync answers
showing the live call; other agents' apps hear nothing."""

from __future__ import annotations

from typing import Any

from e2e_support import (
    CUSTOMER,
    THIRD,
    agent_buttons,
    flush,
    rows,
    statesync_legs,
)

from ctibridge.client import Client


async def send(c: Client, topic: str, subtopic: str, *args: Any) -> None:
    """A request through the client's barrier, leaving its events in the app's inbox."""
    await c.request(topic, subtopic, *args)


async def scenario(live: Any, a: Client, b: Client, c: Client) -> None:
    """A whole call driven from three apps, with timers, a failure and an enqueued state."""
    await send(a, "Simulator", "IncomingCall", {"phoneNumber": CUSTOMER})
    await send(b, "InboundCall", "Answer")
    await send(c, "OutboundCall", "SetHold")
    await send(a, "InboundCall", "Resume")
    await send(b, "Agent", "Mute")
    await send(a, "InboundCall", "Consult", THIRD)
    await live.advance(3)  # the consulted party answers
    await send(c, "InboundCall", "Swap")
    await send(a, "InboundCall", "Conference")
    await send(b, "InboundCall", "SendDTMF", "42")
    await send(a, "Agent", "UpdateState", {"label": "Break"})
    await send(c, "InboundCall", "Swap")  # refused: CONFERENCE has no swap
    await send(a, "InboundCall", "Disconnect")
    await send(a, "Simulator", "FailNext", {"subtopic": "ClearContact"})
    await send(b, "InboundCall", "ClearContact")  # injected failure
    await send(c, "InboundCall", "ClearContact")


async def test_three_apps_receive_identical_sequences(live):
    a = await live.connect(source="toolbar")
    b = await live.connect(source="crm")
    c = await live.connect(source="recorder")
    stranger = await live.connect("agent2")
    await scenario(live, a, b, c)
    got_a, got_b, got_c = await flush(a), await flush(b), await flush(c)
    assert got_a == got_b == got_c  # everything, seq and requestId included
    assert [e["seq"] for e in got_a] == list(range(1, len(got_a) + 1))
    summary = [r[:2] for r in rows(got_a)]
    assert summary == [
        ("agent", "connecting"), ("inbound", "connected"), ("SetAgentState", "PendingBusy"),
        ("agent", "connected"), ("inbound", "connected"), ("SetAgentState", "Busy"),
        ("agent", "connected"), ("inbound", "hold"),
        ("agent", "connected"), ("inbound", "connected"),
        ("SetAgentState", "Busy"),  # muted
        ("agent", "connected"), ("inbound", "hold"), ("outbound", "connecting"),
        ("agent", "connected"), ("outbound", "connected"),  # answered after 3 s
        ("agent", "connected"), ("inbound", "connected"), ("outbound", "hold"),
        ("agent", "connected"), ("outbound", "connected"),
        ("agent", "connected"),  # DTMF
        ("SetAgentState", "Busy"),  # Break enqueued
        ("Error", "SWAP_CALL_FAILED"),
        ("agent", "ACW"), ("inbound", "DROPPED"), ("outbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
        ("SetAgentState", "AfterCallWork"),  # FailNext answered
        ("Error", "CLEAR_CONTACT_FAILED"),
        ("agent", "DROPPED"), ("inbound", "DROPPED"), ("SetAgentState", "Break"),
    ]  # fmt: skip
    # the answer-to-timer events carry no requestId; request events carry their request's
    assert [e["seq"] for e in got_a if "requestId" not in e] == [17, 18]  # after 2 CcpAgentState
    sources = {e["requestId"].split("-")[0] for e in got_a if "requestId" in e}
    assert len(sources) == 3  # requests from all three apps, seen by all three
    assert await flush(stranger) == []


async def test_an_app_joining_mid_call_sees_the_live_call_first(live):
    a = await live.connect(source="toolbar")
    await send(a, "Simulator", "IncomingCall", {"phoneNumber": CUSTOMER, "queue": "Sales"})
    await send(a, "InboundCall", "Answer")
    await send(a, "Agent", "Mute")
    await send(a, "InboundCall", "Hold")
    before = await flush(a)
    late = await live.connect(source="late")
    agent_sync, call_sync = late.sync
    assert (agent_sync["topic"], agent_sync["subtopic"]) == ("Agent", "StateSync")
    assert (call_sync["topic"], call_sync["subtopic"]) == ("InboundCall", "StateSync")
    assert "seq" not in agent_sync and "seq" not in call_sync
    agent_state = agent_sync["message"]["agentState"]
    assert (agent_state["name"], agent_state["type"]) == ("Busy", "system")
    assert agent_buttons(agent_sync) == {"NotReady", "Ready", "unmute"}
    assert call_sync["message"]["queueName"] == "Sales"
    assert statesync_legs(call_sync) == [
        ("agent", "agent", "connected", frozenset({"consult"})),
        ("customer", "inbound", "hold", frozenset({"disconnect", "resume"})),
    ]
    # then live events, the same as everybody else's, numbered on from where they were
    await send(a, "InboundCall", "Resume")
    mine, theirs = await flush(a), await flush(late)
    assert mine == theirs
    assert mine[0]["seq"] == before[-1]["seq"] + 1


async def test_joining_mid_call_on_a_placed_call_uses_its_topic(live):
    a = await live.connect()
    await send(a, "OutboundCall", "MakeCall", CUSTOMER)
    late = await live.connect(source="late")
    assert late.sync[1]["topic"] == "OutboundCall"
    assert [leg[:3] for leg in statesync_legs(late.sync[1])] == [
        ("agent", "agent", "connecting"),
        ("customer", "outbound", "connecting"),
    ]
    assert late.sync[0]["message"]["agentState"]["name"] == "CallingCustomer"


async def test_an_app_leaving_does_not_disturb_the_others(live):
    a = await live.connect(source="toolbar")
    b = await live.connect(source="crm")
    c = await live.connect(source="recorder")
    await send(a, "Simulator", "IncomingCall", {"phoneNumber": CUSTOMER})
    await b.close()
    await send(a, "InboundCall", "Answer")
    await send(c, "InboundCall", "Hold")
    got_a, got_c = await flush(a), await flush(c)
    assert got_a == got_c
    assert [e["seq"] for e in got_a] == list(range(1, 11))  # each state change: + CcpAgentState


async def test_resume_from_replays_the_journal(live):
    a = await live.connect()
    await send(a, "Simulator", "IncomingCall", {"phoneNumber": CUSTOMER})
    await send(a, "InboundCall", "Answer")
    seen = await flush(a)
    back = await live.connect(source="back", resume_from=2)
    replay = await flush(back)
    assert replay == seen[2:]  # seq 3 onwards, exactly as first sent
    await send(a, "InboundCall", "Hold")
    assert await flush(back) == await flush(a)
