"""Every call-control subtopic of docs/protocol.md §3.1 (and its aliases) succeeding, over a real
WebSocket, under both call topics: the exact events in order (agent connection, customer,
third party, then the agent's SetAgentState), their event/status/previousStatus and buttons.

Expectations are literal here; failures are in test_failures.py, ClearContact in
test_clear_contact.py, the §4.2 table walk in test_buttons.py.
"""

from __future__ import annotations

import pytest
from e2e_support import (
    CUSTOMER,
    THIRD,
    call_ids,
    consult,
    dial,
    flush,
    ok,
    query,
    ring,
    rows,
    sim,
    statesync_legs,
    talk,
)

TOPICS = ("InboundCall", "OutboundCall")
A, IN, OUT = "agent", "inbound", "outbound"
F: frozenset[str] = frozenset()

# agent buttons (§4.4) in the situations these tests reach
# (rev 2, as published: a system state is not routable, mute Enable while unmuted)
BUSY = {"NotReady", "Ready", "mute"}  # on a connected call
RINGING_AGENT = {"NotReady", "Ready", "mute"}
ENDED_AGENT = {"NotReady", "Ready", "make_call", "mute"}  # ACW / missed: no live contact
IDLE_AGENT = {"NotReady", "make_call", "mute"}  # Available, no contact

# rev 2: transfer is Hide on a two-party call (published Answer event)
TWO_PARTY = ({"consult", "numberpad"}, {"disconnect", "hold"})
TWO_PARTY_HELD = ({"consult"}, {"disconnect", "resume"})
# an outbound contact's events: the published campaign vocabulary (§4.1)
CAMPAIGN = {
    "InboundCall": {"connecting": "connecting", "connected": "connected", "hold": "hold"},
    "OutboundCall": {"connecting": "Initiate", "connected": "CustAnswered", "hold": "Hold"},
}


def topics_of(events: list[dict[str, object]]) -> set[object]:
    return {e["topic"] for e in events if e["topic"] != "Agent"}


@pytest.fixture(params=TOPICS)
def topic(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_ringing_then_answer(live, topic):
    c = await live.connect()
    events = await ring(c)
    assert rows(events) == [
        (A, "connecting", "connecting", None, {"answer", "reject"}),
        (IN, "connected", "connected", None, F),
        ("SetAgentState", "PendingBusy", RINGING_AGENT),
    ]
    contact_id, agent_conn = call_ids(events[0])
    assert call_ids(events[1]) == (contact_id, contact_id)  # customer connectionId = contactId
    assert agent_conn != contact_id

    await live.advance(5)
    events = await ok(c, topic, "Answer")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", None, TWO_PARTY[1]),
        ("SetAgentState", "Busy", BUSY),
    ]
    # statusTimestamp = when the leg's status last changed (the ManualClock starts at 12:00:00)
    stamps = [e["message"]["call"]["ResponseActual"]["statusTimestamp"] for e in events[:2]]
    assert stamps == ["2020-04-09T12:00:05.000Z", "2020-04-09T12:00:00.000Z"]
    assert events[2]["message"]["data"]["stateChangeTime"] == "2020-04-09T12:00:05.000Z"
    # a queue-delivered call is an InboundCall whatever topic the request used (§3)
    assert topics_of(events) == {"InboundCall"}
    assert [e["subtopic"] for e in events[:2]] == ["InboundCallStateChange"] * 2
    assert [call_ids(e) for e in events[:2]] == [(contact_id, agent_conn), (contact_id, contact_id)]


async def test_reject(live, topic):
    c = await live.connect()
    await ring(c)
    events = await ok(c, topic, "Reject")
    assert rows(events) == [
        (A, "rejected", "disconnected", "connecting", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "MissedCallAgent", ENDED_AGENT),
    ]
    assert topics_of(events) == {"InboundCall"}


@pytest.mark.parametrize("subtopic", ["Hold", "SetHold"])
@pytest.mark.parametrize("with_id", [False, True], ids=["no-data", "contactId"])
async def test_hold_and_resume(live, topic, subtopic, with_id):
    c = await live.connect()
    events = await ring(c)
    contact_id, _ = call_ids(events[0])
    await ok(c, topic, "Answer")
    args = (contact_id,) if with_id else ()
    events = await ok(c, topic, subtopic, *args)
    assert rows(events) == [
        (A, "connected", "connected", "connecting", TWO_PARTY_HELD[0]),
        (IN, "hold", "hold", "connected", TWO_PARTY_HELD[1]),
    ]
    # Resume takes a connection id (the held leg by default)
    events = await ok(c, topic, "Resume", *args)
    assert rows(events) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", "hold", TWO_PARTY[1]),
    ]


async def test_disconnect_whole_call(live, topic):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "Disconnect")
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]


async def test_disconnect_customer_leg_ends_the_call(live, topic):
    c = await live.connect()
    events = await ring(c)
    contact_id, _ = call_ids(events[0])
    await ok(c, topic, "Answer")
    await consult(c)
    events = await ok(c, topic, "Disconnect", contact_id)  # the customer leg's connectionId
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "hold", F),
        (OUT, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]


async def test_disconnect_third_party_leg_only(live, topic):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "Consult", THIRD)
    third_id = call_ids(events[-1])[1]
    await sim(c, "ThirdPartyAnswer")
    events = await ok(c, topic, "Disconnect", third_id)
    assert rows(events) == [
        (A, "connected", "connected", "connecting", TWO_PARTY_HELD[0]),
        (OUT, "DROPPED", "disconnected", "connected", F),
    ]


@pytest.mark.parametrize(
    "target",
    [THIRD, {"phoneNumber": THIRD}, {"quickConnect": "Billing"}, "Supervisor"],
    ids=["phone", "phoneNumber", "quickConnect", "quick-connect-name"],
)
async def test_consult_then_third_party_answers(live, topic, target):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "Consult", target)
    assert rows(events) == [
        (A, "connected", "connected", "connecting", F),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
    ]
    expected_number = THIRD if target in (THIRD, {"phoneNumber": THIRD}) else None
    if expected_number is not None:
        assert events[2]["message"]["call"]["ResponseActual"]["phoneNumber"] == expected_number
    # the consulted party answers by itself after answerSeconds (3 s)
    await live.advance(2.9)
    assert await flush(c) == []
    await live.advance(0.1)
    events = await flush(c)
    assert rows(events) == [
        (
            A,
            "connected",
            "connected",
            "connecting",
            {"swap", "conference", "transfer", "numberpad"},
        ),
        (OUT, "connected", "connected", "connecting", {"disconnect", "hold"}),
    ]
    assert topics_of(events) == {"InboundCall"}


async def test_consult_from_held_customer(live, topic):
    c = await live.connect()
    await talk(c)
    await ok(c, topic, "Hold")
    events = await ok(c, topic, "Consult", THIRD)
    # the customer leg was already on hold with the same buttons: no event for it (§4.1)
    assert rows(events) == [
        (A, "connected", "connected", "connecting", F),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
    ]


async def test_external_consult(live, topic):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "ExternalConsult", "9154543543543")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", F),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
    ]
    assert events[2]["message"]["call"]["ResponseActual"]["phoneNumber"] == "9154543543543"


async def test_swap_back_and_forth(live, topic):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await ok(c, topic, "Swap")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", {"swap", "conference", "numberpad"}),
        (IN, "connected", "connected", "hold", {"disconnect", "hold"}),
        (OUT, "hold", "hold", "connected", {"disconnect", "resume"}),
    ]
    events = await ok(c, topic, "Swap")
    assert rows(events) == [
        (
            A,
            "connected",
            "connected",
            "connecting",
            {"swap", "conference", "transfer", "numberpad"},
        ),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
        (OUT, "connected", "connected", "hold", {"disconnect", "hold"}),
    ]


async def test_conference(live, topic):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await ok(c, topic, "Conference")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", {"transfer", "numberpad"}),
        (IN, "connected", "connected", "hold", {"disconnect", "hold"}),
    ]
    legs = statesync_legs(await query(c, "InboundCall", "StateSync"))
    assert [(role, status) for role, _, status, _ in legs] == [
        ("agent", "connected"), ("customer", "connected"), ("third", "connected"),
    ]  # fmt: skip


async def test_warm_transfer(live, topic):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await ok(c, topic, "Transfer")
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "hold", F),
        (OUT, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]


@pytest.mark.parametrize(
    "target", [THIRD, {"phoneNumber": THIRD}, {"quickConnect": "Supervisor"}, "Billing"]
)
async def test_blind_transfer(live, topic, target):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "Transfer", target)
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]


async def test_queue_transfer_blind(live, topic):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "QueueTransfer", {"queueName": "Sales", "isWarmTransfer": False})
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),
        (IN, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]


async def test_queue_transfer_warm_is_a_consult_to_the_queue(live, topic):
    c = await live.connect()
    await talk(c)
    events = await ok(c, topic, "QueueTransfer", {"queueName": "Support", "isWarmTransfer": True})
    assert rows(events) == [
        (A, "connected", "connected", "connecting", F),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
    ]


@pytest.mark.parametrize("subtopic", ["NumberPad", "SendDTMF", "SendDigits"])
async def test_number_pad(live, topic, subtopic):
    c = await live.connect()
    events = await ring(c)
    contact_id, _ = call_ids(events[0])
    await ok(c, topic, "Answer")
    events = await ok(c, topic, subtopic, "12#*,9")
    # one event for the agent connection, state unchanged (§3.1)
    assert rows(events) == [(A, "connected", "connected", "connecting", TWO_PARTY[0])]
    assert live.hub.backend.dtmf[contact_id] == ["12#*,9"]


async def test_number_pad_goes_to_the_consulted_party(live, topic):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await ok(c, topic, "SendDTMF", "5")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", {"swap", "conference", "transfer", "numberpad"})
    ]


async def test_consult_drop(live, topic):
    c = await live.connect()
    await talk(c)
    await consult(c, answered=False)
    events = await ok(c, topic, "ConsultDrop")
    assert rows(events) == [
        (A, "connected", "connected", "connecting", TWO_PARTY_HELD[0]),
        (OUT, "DROPPED", "disconnected", "connecting", F),
    ]


@pytest.mark.parametrize("subtopic", ["MakeCall", "SetMakeCall"])
@pytest.mark.parametrize("data", [CUSTOMER, {"phoneNumber": CUSTOMER}], ids=["string", "object"])
async def test_make_call(live, topic, subtopic, data):
    c = await live.connect()
    ev = CAMPAIGN[topic]
    events = await ok(c, topic, subtopic, data)
    assert rows(events) == [
        (A, ev["connecting"], "connecting", None, F),
        (OUT, ev["connecting"], "connecting", None, {"disconnect"}),
        ("SetAgentState", "CallingCustomer", RINGING_AGENT),
    ]
    # DNIS of an outbound call is the dialled number (§4.1)
    assert events[0]["message"]["call"]["CallVariables"] == {"ANI": "", "DNIS": CUSTOMER}
    # the contact takes the topic of the request that created it (§3)
    assert topics_of(events) == {topic}
    assert [e["subtopic"] for e in events[:2]] == [f"{topic}StateChange"] * 2
    assert events[1]["message"]["call"]["ResponseActual"]["phoneNumber"] == CUSTOMER
    await live.advance(3)
    events = await flush(c)
    assert rows(events) == [
        (A, ev["connected"], "connected", "connecting", TWO_PARTY[0]),
        (OUT, ev["connected"], "connected", "connecting", TWO_PARTY[1]),
        ("SetAgentState", "Busy", BUSY),
    ]
    assert topics_of(events) == {topic}
    # every later event of the contact keeps its topic, whatever topic the request uses
    other = "InboundCall" if topic == "OutboundCall" else "OutboundCall"
    events = await ok(c, other, "Hold")
    assert topics_of(events) == {topic}
    answer = await query(c, other, "StateSync")
    assert answer["topic"] == topic  # the answer, like the events, carries the contact's topic
    assert [leg[:3] for leg in statesync_legs(answer)] == [
        ("agent", "agent", "connected"), ("customer", "outbound", "hold"),
    ]  # fmt: skip


async def test_make_call_with_queue(live, topic):
    c = await live.connect()
    events = await ok(c, topic, "MakeCall", {"phoneNumber": CUSTOMER, "queue": "Sales"})
    media = events[0]["message"]["call"]["ResponseFields"]["MediaProperties"]
    assert media["queueName"] == "Sales"


async def test_dialled_call_hangs_up(live, topic):
    c = await live.connect()
    await dial(c, topic)
    events = await sim(c, "CustomerHangup")
    assert rows(events) == [
        (A, "ACW", "disconnected", "connected", {"clearContact"}),  # ACW in both vocabularies
        (OUT, "DROPPED", "disconnected", "connected", F),
        ("SetAgentState", "AfterCallWork", ENDED_AGENT),
    ]
    assert topics_of(events) == {topic}


async def test_preview_accept_with_make_call(live):
    c = await live.connect()
    events = await sim(c, "PreviewCall", {"phoneNumber": CUSTOMER, "campaign": "Spring"})
    # extension row "preview": no call buttons while the preview is offered
    assert rows(events) == [
        (A, "Preview", "connecting", None, F),  # the published campaign event
        ("SetAgentState", "CallingCustomer", RINGING_AGENT),
    ]
    assert topics_of(events) == {"OutboundCall"}
    assert events[0]["message"]["call"]["ResponseFields"]["Campaign"] == "Spring"
    events = await ok(c, "OutboundCall", "MakeCall")
    assert rows(events) == [
        (A, "Initiate", "connecting", None, F),
        (OUT, "Initiate", "connecting", None, {"disconnect"}),
    ]
    assert events[1]["message"]["call"]["ResponseActual"]["phoneNumber"] == CUSTOMER
    await live.advance(3)
    events = await flush(c)
    assert rows(events) == [
        (A, "CustAnswered", "connected", "connecting", TWO_PARTY[0]),
        (OUT, "CustAnswered", "connected", "connecting", TWO_PARTY[1]),
        ("SetAgentState", "Busy", BUSY),
    ]


async def test_preview_skip(live):
    c = await live.connect()
    await sim(c, "PreviewCall", {"phoneNumber": CUSTOMER})
    events = await ok(c, "OutboundCall", "Skip")
    assert rows(events) == [
        (A, "DROPPED", "disconnected", "connecting", F),
        ("SetAgentState", "Available", IDLE_AGENT),
    ]
    assert (await query(c, "OutboundCall", "StateSync"))["message"]["calls"] == []


async def test_call_statesync(live, topic):
    c = await live.connect()
    # with no contact the answer carries the requested topic (protocol.md is silent: an app that
    # only speaks OutboundCall must get an OutboundCall answer; InboundCall is only the on-connect
    # default, where there is no request)
    answer = await query(c, topic, "StateSync")
    assert answer == {
        "channel": "Amazon",
        "topic": topic,
        "subtopic": "StateSync",
        "message": {"attributes": [], "queueName": None, "queueTimestamp": None, "calls": []},
        "requestId": answer["requestId"],
    }
    events = await ring(c, queue="Support", dnis="+18005550199", attributes={"lang": "fr"})
    contact_id, agent_conn = call_ids(events[0])
    await ok(c, topic, "Answer")
    answer = await query(c, topic, "StateSync")
    assert answer["topic"] == "InboundCall"  # with a contact: the contact's topic
    message = answer["message"]
    assert message["attributes"] == [
        {"name": "ANI", "value": CUSTOMER},
        {"name": "DNIS", "value": "+18005550199"},
        {"name": "lang", "value": "fr"},
    ]
    assert message["queueName"] == "Support"
    assert [
        (c_["connectionId"], c_["contactId"], c_["phoneNumber"]) for c_ in message["calls"]
    ] == [
        (agent_conn, contact_id, None),
        (contact_id, contact_id, CUSTOMER),
    ]
    assert statesync_legs({"message": message}) == [
        ("agent", "agent", "connected", frozenset(TWO_PARTY[0])),
        ("customer", "inbound", "connected", frozenset(TWO_PARTY[1])),
    ]
