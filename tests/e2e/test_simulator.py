"""The Simulator topic (protocol.md §7) over a live hub: incoming calls with queue and attributes,
queued delivery, agent-to-agent consults where the other agent really rings and answers on its own
socket, previews, dialled outcomes, Configure and Reset, and the simulator's own errors."""

from __future__ import annotations

import pytest
from e2e_support import (
    CUSTOMER,
    THIRD,
    call_ids,
    check_error,
    consult,
    dial,
    error_of,
    fail_next,
    flush,
    ok,
    query,
    req,
    ring,
    rows,
    sent_request,
    sim,
    talk,
)

from published_names import DIAL_ERROR_STATES

F: frozenset[str] = frozenset()


async def test_incoming_call_with_queue_and_attributes(live):
    c = await live.connect()
    events = await ring(
        c,
        queue="Support",
        dnis="+18005550123",
        attributes={"account": "A-17", "vip": True, "tries": 3, "score": 1.5, "note": None},
    )
    for event in events[:2]:
        call = event["message"]["call"]
        assert call["CallVariables"] == {
            "ANI": CUSTOMER,
            "DNIS": "+18005550123",
            "account": "A-17",
            "vip": "true",
            "tries": "3",
            "score": "1.5",
            "note": "",
        }
        fields = call["ResponseFields"]
        assert fields["MediaProperties"]["queueName"] == "Support"
        assert fields["MediaProperties"]["queueTimestamp"] == "2020-04-09T12:00:00.000Z"
        assert fields["DN"] == "Support"
    assert events[1]["message"]["call"]["ResponseFields"]["fromAddress"] == CUSTOMER
    sync = (await query(c, "InboundCall", "StateSync"))["message"]
    assert {a["name"]: a["value"] for a in sync["attributes"]}["vip"] == "true"
    assert sync["queueName"] == "Support"


async def test_call_waits_in_queue_until_the_agent_is_available(live):
    c = await live.connect()
    await ok(c, "Agent", "SetNotReady", {"ReasonCodeId": "Break"})
    events = await ring(c, queue="Sales")
    assert rows(events) == [
        ("SetAgentState", "Break", {"NotReady", "Ready", "make_call", "mute"})
    ]  # nothing rings
    await live.advance(30)  # no ring timeout while queued
    assert await flush(c) == []
    events = await ok(c, "Agent", "UpdateState", {"label": "Available"})
    assert [r[:2] for r in rows(events)] == [
        ("SetAgentState", "Available"),
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]
    media = events[2]["message"]["call"]["ResponseFields"]["MediaProperties"]  # after the Ccp
    assert media["queueTimestamp"] == "2020-04-09T12:00:00.000Z"  # queued since the call came


async def test_second_call_waits_for_the_first_to_be_cleared(live):
    c = await live.connect()
    first = await ring(c)
    await ok(c, "InboundCall", "Answer")
    second = await ring(c, queue="Sales")
    assert rows(second) == [("SetAgentState", "Busy", {"NotReady", "Ready", "mute"})]
    await ok(c, "InboundCall", "Disconnect")
    events = await ok(c, "InboundCall", "ClearContact")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "DROPPED"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "Available"),
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]
    assert call_ids(events[4])[0] != call_ids(first[0])[0]  # after SetAgentState and Ccp
    assert events[4]["message"]["call"]["ResponseFields"]["DN"] == "Sales"


@pytest.mark.parametrize("seconds", [5, 20])
async def test_ring_timeout(live, seconds):
    c = await live.connect()
    if seconds == 20:
        await ring(c)  # the default
    else:
        await ring(c, ringSeconds=seconds)
    await live.advance(seconds - 0.001)
    assert await flush(c) == []
    await live.advance(0.001)
    assert rows(await flush(c)) == [
        ("agent", "missed", "disconnected", "connecting", {"clearContact"}),
        ("inbound", "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "MissedCallAgent", {"NotReady", "Ready", "make_call", "mute"}),
    ]


async def test_configure_timings(live):
    c = await live.connect()
    events = await sim(c, "Configure", {"ringSeconds": 7, "answerSeconds": 0})
    assert rows(events) == [("SetAgentState", "Available", {"NotReady", "make_call", "mute"})]
    await ring(c)
    await live.advance(6.999)
    assert await flush(c) == []
    await live.advance(0.001)
    assert [r[1] for r in rows(await flush(c))] == ["missed", "DROPPED", "MissedCallAgent"]
    await ok(c, "InboundCall", "ClearContact")
    # answerSeconds 0: the dialled customer never answers by itself
    await ok(c, "OutboundCall", "MakeCall", CUSTOMER)
    await live.advance(3600)
    assert await flush(c) == []
    events = await sim(c, "OutboundResult", {"result": "answer"})
    assert [r[:2] for r in rows(events)] == [
        ("agent", "CustAnswered"),  # the published campaign events of an outbound contact
        ("outbound", "CustAnswered"),
        ("SetAgentState", "Busy"),
    ]


@pytest.mark.parametrize(("result", "state"), DIAL_ERROR_STATES)
async def test_outbound_result_ends_in_an_error_state(live, result, state):
    c = await live.connect()
    await ok(c, "OutboundCall", "MakeCall", CUSTOMER)
    events = await sim(c, "OutboundResult", {"result": result})
    assert rows(events) == [
        ("agent", "ACW", "disconnected", "connecting", {"clearContact"}),
        ("outbound", "DROPPED", "disconnected", "connecting", F),
        ("SetAgentState", state, {"NotReady", "Ready", "make_call", "mute"}),
    ]
    assert events[2]["message"]["data"]["type"] == "error"
    assert {e["topic"] for e in events[:2]} == {"OutboundCall"}
    await live.advance(3)  # no late answer
    assert await flush(c) == []
    events = await ok(c, "OutboundCall", "ClearContact")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "DROPPED"),
        ("outbound", "DROPPED"),
        ("SetAgentState", "Available"),
    ]


@pytest.mark.parametrize("result", ["busy", "noAnswer", "failed"])
async def test_consulted_party_does_not_answer(live, result):
    c = await live.connect()
    await talk(c)
    await consult(c, answered=False)
    events = await sim(c, "OutboundResult", {"result": result})
    assert rows(events) == [
        ("agent", "connected", "connected", "connecting", {"consult"}),
        ("outbound", "DROPPED", "disconnected", "connecting", F),
    ]


async def test_customer_and_third_party_hang_up(live):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await sim(c, "ThirdPartyHangup")
    assert rows(events) == [
        ("agent", "connected", "connected", "connecting", {"consult"}),
        ("outbound", "DROPPED", "disconnected", "connected", F),
    ]
    await consult(c)
    # the customer leaves during a consult: the agent goes on with the third party
    events = await sim(c, "CustomerHangup")
    assert rows(events) == [
        ("agent", "connected", "connected", "connecting", {"numberpad"}),
        ("inbound", "DROPPED", "disconnected", "hold", F),
    ]
    events = await sim(c, "ThirdPartyHangup")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "ACW"),
        ("outbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
    ]


async def test_customer_hangs_up_while_ringing(live):
    c = await live.connect()
    await ring(c)
    events = await sim(c, "CustomerHangup")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "missed"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "MissedCallAgent"),
    ]


# --- agent to agent -------------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["InboundCall", "OutboundCall"])
@pytest.mark.parametrize("how", ["Answer", "AcceptWarmTransfer"])
@pytest.mark.parametrize("target", [{"agentName": "agent2"}, "agent2"], ids=["agentName", "name"])
async def test_agent_to_agent_consult_then_warm_transfer(live, how, topic, target):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    events = await ring(a1, attributes={"account": "A-17"})
    contact1 = call_ids(events[0])[0]
    await ok(a1, "InboundCall", "Answer")
    events = await ok(a1, topic, "Consult", target)
    assert rows(events) == [
        ("agent", "connected", "connected", "connecting", F),
        ("inbound", "hold", "hold", "connected", {"disconnect", "resume"}),
        ("outbound", "connecting", "connecting", None, {"disconnect"}),
    ]
    # agent2 really rings, on its own socket, with the customer's data
    ringing = await flush(a2)
    assert rows(ringing) == [
        ("agent", "connecting", "connecting", None, {"answer", "reject"}),
        ("inbound", "connected", "connected", None, F),
        ("SetAgentState", "PendingBusy", {"NotReady", "Ready", "mute"}),
    ]
    contact2 = call_ids(ringing[0])[0]
    assert contact2 != contact1
    call = ringing[1]["message"]["call"]
    assert call["ResponseActual"]["phoneNumber"] == CUSTOMER
    assert call["CallVariables"]["account"] == "A-17"
    assert all("requestId" not in e for e in ringing)  # agent2 did not ask for it
    # a consulted agent is answered by that agent, not by the 3 s answer timer
    await live.advance(3)
    assert await flush(a1) == []
    assert await flush(a2) == []
    events = await ok(a2, topic, how)
    assert {e["topic"] for e in events} == {"InboundCall", "Agent"}  # a transfer is InboundCall
    assert rows(events) == [
        ("agent", "connected", "connected", "connecting", {"consult", "numberpad"}),
        ("inbound", "connected", "connected", None, {"disconnect", "hold"}),
        ("SetAgentState", "Busy", {"NotReady", "Ready", "mute"}),
    ]
    # agent1 sees its consulted party answer
    assert rows(await flush(a1)) == [
        ("agent", "connected", "connected", "connecting",
         {"swap", "conference", "transfer", "numberpad"}),
        ("outbound", "connected", "connected", "connecting", {"disconnect", "hold"}),
    ]  # fmt: skip
    # warm transfer: agent1 leaves, agent2 keeps the customer
    events = await ok(a1, "OutboundCall", "Transfer")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "ACW"),
        ("inbound", "DROPPED"),
        ("outbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
    ]
    assert await flush(a2) == []
    legs = (await query(a2, "InboundCall", "StateSync"))["message"]["calls"]
    assert [(leg["type"], leg["status"]) for leg in legs] == [
        ("agent", "connected"),
        ("inbound", "connected"),
    ]
    events = await ok(a2, "InboundCall", "Disconnect")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "ACW"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
    ]


async def test_consulted_agent_does_not_answer(live):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    await talk(a1)
    await ok(a1, "InboundCall", "Consult", {"agentName": "agent2"})
    await flush(a2)
    await live.advance(20)  # agent2's ring timeout: it missed the call, agent1's leg drops
    assert [r[:2] for r in rows(await flush(a2))] == [
        ("agent", "missed"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "MissedCallAgent"),
    ]
    assert rows(await flush(a1)) == [
        ("agent", "connected", "connected", "connecting", {"consult"}),
        ("outbound", "DROPPED", "disconnected", "connecting", F),
    ]


async def test_consulted_agent_rejects(live):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    await talk(a1)
    await ok(a1, "InboundCall", "Consult", {"agentName": "agent2"})
    await flush(a2)
    events = await ok(a2, "InboundCall", "Reject")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "rejected"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "MissedCallAgent"),
    ]
    assert rows(await flush(a1)) == [
        ("agent", "connected", "connected", "connecting", {"consult"}),
        ("outbound", "DROPPED", "disconnected", "connecting", F),
    ]


async def test_consult_drop_ends_the_consulted_agents_ringing(live):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    await talk(a1)
    await ok(a1, "InboundCall", "Consult", {"agentName": "agent2"})
    await flush(a2)
    await ok(a1, "InboundCall", "ConsultDrop")
    assert [r[:2] for r in rows(await flush(a2))] == [
        ("agent", "missed"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "MissedCallAgent"),
    ]


async def test_blind_transfer_to_an_agent(live):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    await talk(a1)
    events = await ok(a1, "InboundCall", "Transfer", {"agentName": "agent2"})
    assert [r[:2] for r in rows(events)] == [
        ("agent", "ACW"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
    ]
    assert [r[:2] for r in rows(await flush(a2))] == [
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]
    events = await ok(a2, "InboundCall", "AcceptWarmTransfer")
    assert rows(events)[0][:2] == ("agent", "connected")


async def test_consulting_an_agent_who_is_not_available_fails(live):
    a1 = await live.connect("agent1")
    a2 = await live.connect("agent2")
    await ok(a2, "Agent", "SetNotReady", {"ReasonCodeId": "Lunch"})
    await talk(a1)
    error = error_of(await req(a1, "InboundCall", "Consult", {"agentName": "agent2"}))
    assert error["message"]["type"] == "CONSULT_CALL_FAILED"
    assert await flush(a2) == []


# --- previews, reset, simulator errors ----------------------------------------------------------


async def test_reset_during_a_call(live):
    c = await live.connect()
    await sim(c, "Configure", {"ringSeconds": 0})
    await talk(c)
    await ok(c, "Agent", "UpdateState", {"label": "Lunch"})  # enqueued: dropped by Reset
    await fail_next(c, "Hold")
    await ring(c, queue="Sales")  # queued behind the call
    events = await sim(c, "Reset")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "DROPPED"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "Available"),
    ]
    assert events[-2]["message"]["data"]["nextState"] is None
    assert (await query(c, "InboundCall", "StateSync"))["message"]["calls"] == []
    # the queued call and the armed failure are gone, timings are back to default
    await live.advance(60)
    assert await flush(c) == []
    await ring(c)
    await live.advance(20)  # ringSeconds is 20 again
    assert [r[1] for r in rows(await flush(c))] == ["missed", "DROPPED", "MissedCallAgent"]
    await ok(c, "InboundCall", "ClearContact")
    await talk(c)
    await ok(c, "InboundCall", "Hold")


async def test_reset_when_idle_is_answered_with_the_state(live):
    c = await live.connect()
    events = await sim(c, "Reset")
    assert rows(events) == [("SetAgentState", "Available", {"NotReady", "make_call", "mute"})]


async def test_preview_call_with_campaign_then_accept(live):
    c = await live.connect()
    events = await sim(c, "PreviewCall", {"phoneNumber": CUSTOMER, "campaign": "Renewals"})
    assert events[0]["topic"] == "OutboundCall"
    assert events[0]["message"]["call"]["ResponseFields"]["Campaign"] == "Renewals"
    await ok(c, "OutboundCall", "SetMakeCall")  # alias, no data: accept the preview
    await sim(c, "OutboundResult", {"result": "answer"})
    sync = await query(c, "OutboundCall", "StateSync")
    assert [(leg["type"], leg["status"]) for leg in sync["message"]["calls"]] == [
        ("agent", "connected"),
        ("outbound", "connected"),
    ]


SIM_ERRORS = [
    ("CustomerHangup", None, "idle"),
    ("ThirdPartyAnswer", None, "talking"),
    ("ThirdPartyHangup", None, "idle"),
    ("OutboundResult", {"result": "busy"}, "talking"),
    ("PreviewCall", {"phoneNumber": CUSTOMER}, "talking"),
    ("IncomingCall", {"phoneNumber": CUSTOMER, "queue": "Nowhere"}, "idle"),
]


@pytest.mark.parametrize(("subtopic", "data", "situation"), SIM_ERRORS)
async def test_simulator_errors_go_to_the_requester(live, subtopic, data, situation):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    if situation == "talking":
        await talk(c)
    await flush(other)
    args = () if data is None else (data,)
    result = await req(c, "Simulator", subtopic, *args)
    error = error_of(result)
    check_error(
        error,
        topic="Simulator",
        type_="SIMULATOR_FAILED",
        text="Simulator command failed.",
        request=sent_request(c, "Simulator", subtopic, data, result.request_id),
        request_id=result.request_id,
    )
    assert "seq" not in error
    assert await flush(other) == []


async def test_dialled_call_helpers_agree(live):
    """The shared ``dial`` scenario: a placed call, answered, under the OutboundCall topic."""
    c = await live.connect()
    await dial(c)
    legs = (await query(c, "OutboundCall", "StateSync"))["message"]["calls"]
    assert [(leg["type"], leg["status"], leg["phoneNumber"]) for leg in legs] == [
        ("agent", "connected", None),
        ("outbound", "connected", CUSTOMER),
    ]
    await ok(c, "OutboundCall", "Consult", THIRD)
