"""The Agent topic (PROTOCOL.md §3.2-§3.3, §4.4) over a live hub: UpdateState / Update,
SetNotReady, GetStates / GetAgentState, Mute / Unmute, Login / Logout, CcpAgentState, StateSync."""

from __future__ import annotations

import pytest
from e2e_support import (
    ISO_MS,
    agent_buttons,
    error_of,
    ok,
    query,
    req,
    ring,
    rows,
    talk,
)

AVAILABLE = {"label": "Available", "code": "Available", "type": "routable"}
BREAK = {"label": "Break", "code": "Break", "type": "not_routable"}
LUNCH = {"label": "Lunch", "code": "Lunch", "type": "not_routable"}
NOT_READY = {"label": "Not Ready", "code": "Not Ready", "type": "not_routable"}
IDLE_NOT_ROUTABLE = {"Ready", "make_call"}
IDLE_ROUTABLE = {"NotReady", "make_call"}


def state_event(events: list[dict[str, object]]) -> dict[str, object]:
    assert [e["subtopic"] for e in events] == ["SetAgentState"], events
    assert events[0]["topic"] == "Agent"
    return events[0]


@pytest.mark.parametrize("subtopic", ["UpdateState", "Update"])
@pytest.mark.parametrize(
    "data",
    [
        {"label": "Break"},
        {"code": "Break"},
        {"label": "Break", "code": "Break", "type": "not_routable"},
        {"label": "Break", "type": "Not Routable"},  # published spelling of the type
        {"code": "break"},  # case-insensitive fallback
    ],
    ids=["label", "code", "all", "type-spelling", "casefold"],
)
async def test_update_state(live, subtopic, data):
    c = await live.connect()
    event = state_event(await ok(c, "Agent", subtopic, data))
    message = event["message"]
    assert message["event"] == "Break"
    assert message["source"] == "event"
    assert message["data"]["state"] == "Break"
    assert message["data"]["type"] == "not_routable"
    assert message["data"]["reasonCode"] == {"id": "Break"}
    assert message["data"]["nextState"] is None
    assert message["data"]["loginName"] == "agent1"
    assert message["data"]["name"] == "Agent 1"
    assert ISO_MS.match(message["data"]["stateChangeTime"])
    actual = message["rules"]["ResponseActual"]
    assert actual == {
        "agentStateARN": None,
        "type": "not_routable",
        "name": "Break",
        "startTimestamp": message["data"]["stateChangeTime"],
    }
    assert agent_buttons(event) == IDLE_NOT_ROUTABLE
    sync = (await query(c, "Agent", "StateSync"))["message"]
    assert sync["agentState"] == BREAK
    assert (await query(c, "Agent", "CcpAgentState"))["message"] == {
        "name": "Break",
        "type": "not_routable",
    }


async def test_back_to_available_has_no_reason_code(live):
    c = await live.connect()
    await ok(c, "Agent", "UpdateState", {"label": "Lunch"})
    await live.advance(60)
    event = state_event(await ok(c, "Agent", "UpdateState", {"label": "Available"}))
    data = event["message"]["data"]
    assert data["state"] == "Available" and data["type"] == "routable"
    assert "reasonCode" not in data  # published for not-routable and system states only
    assert data["stateChangeTime"] == "2020-04-09T12:01:00.000Z"  # the ManualClock's time
    assert agent_buttons(event) == IDLE_ROUTABLE


async def test_unchanged_state_is_still_answered(live):
    c = await live.connect()
    event = state_event(await ok(c, "Agent", "UpdateState", {"label": "Available"}))
    assert event["message"]["event"] == "Available"


async def test_unknown_state(live):
    c = await live.connect()
    error = error_of(await req(c, "Agent", "UpdateState", {"label": "Gone Fishing"}))
    assert error["message"]["type"] == "AGENT_STATE_NOT_FOUND"
    assert error["message"]["text"] == "Specified Agent State not found."


async def test_update_state_on_a_call_is_enqueued(live):
    c = await live.connect()
    await talk(c)
    event = state_event(await ok(c, "Agent", "UpdateState", {"label": "Lunch"}))
    # the agent still shows Busy; the chosen state waits in nextState [ext]
    assert event["message"]["event"] == "Busy"
    assert event["message"]["data"]["type"] == "system"
    assert event["message"]["data"]["nextState"] == LUNCH
    # a second choice replaces the first
    event = state_event(await ok(c, "Agent", "Update", {"code": "Not Ready"}))
    assert event["message"]["data"]["nextState"] == NOT_READY
    events = await ok(c, "InboundCall", "Disconnect")
    assert events[-1]["message"]["event"] == "AfterCallWork"
    assert events[-1]["message"]["data"]["nextState"] == NOT_READY
    events = await ok(c, "InboundCall", "ClearContact")
    assert rows(events)[-1] == ("SetAgentState", "Not Ready", IDLE_NOT_ROUTABLE)
    assert events[-1]["message"]["data"]["nextState"] is None
    assert (await query(c, "Agent", "StateSync"))["message"]["agentState"] == NOT_READY


async def test_set_not_ready(live):
    c = await live.connect()
    event = state_event(await ok(c, "Agent", "SetNotReady", {"ReasonCodeId": "Not Ready"}))
    assert rows([event]) == [("SetAgentState", "Not Ready", IDLE_NOT_ROUTABLE)]
    assert event["message"]["data"]["reasonCode"] == {"id": "Not Ready"}


@pytest.mark.parametrize("subtopic", ["GetStates", "GetAgentState"])
async def test_get_states(live, subtopic):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    answer = await query(c, "Agent", subtopic)
    assert answer["topic"] == "Agent"
    assert answer["subtopic"] == "GetStates"
    assert answer["message"] == {
        "states": [
            AVAILABLE,
            NOT_READY,
            BREAK,
            LUNCH,
            {"label": "Offline", "code": "Offline", "type": "offline"},
        ]
    }
    assert other.drain() == []  # an answer goes to the requester only


async def test_mute_and_unmute(live):
    c = await live.connect()
    await talk(c)
    event = state_event(await ok(c, "Agent", "Mute"))
    assert event["message"]["data"]["muted"] is True
    assert event["message"]["event"] == "Busy"
    assert event["message"]["data"]["reasonCode"] == {"id": "Busy"}
    assert agent_buttons(event) == {"NotReady", "unmute"}
    event = state_event(await ok(c, "Agent", "Unmute"))
    assert event["message"]["data"]["muted"] is False
    assert agent_buttons(event) == {"NotReady", "mute"}


async def test_mute_buttons_hide_while_the_customer_is_held(live):
    c = await live.connect()
    await talk(c)
    await ok(c, "Agent", "Mute")
    # on hold the agent is still connected to the call: mute state stays visible
    events = await ok(c, "InboundCall", "Hold")
    assert [e["subtopic"] for e in events] == ["InboundCallStateChange"] * 2
    events = await ok(c, "InboundCall", "Disconnect")
    # ACW: not on a connected call any more, both hidden
    assert agent_buttons(events[-1]) == {"NotReady", "make_call"}


async def test_logout_and_login_return_to_the_previous_state(live):
    c = await live.connect()
    await ok(c, "Agent", "SetNotReady", {"ReasonCodeId": "Lunch"})
    events = await ok(c, "Agent", "Logout")
    assert [e["subtopic"] for e in events] == ["LogoutSuccess"]
    message = events[0]["message"]
    assert message["loginState"] == "LoggedOut"
    assert message["agentInfo"] == {
        "muted": False,
        "name": "Agent 1",
        "extension": "",
        "loginName": "agent1",
        "softphoneEnabled": True,
    }
    assert message["agentState"]["type"] == "offline"
    assert message["agentState"]["name"] == "Offline"
    assert message["rules"]["ButtonStates"]["items"] == {
        "NotReady": "Hide", "Ready": "Hide", "make_call": "Hide", "mute": "Hide", "unmute": "Hide",
    }  # fmt: skip
    sync = await query(c, "Agent", "StateSync")
    assert sync["message"] == {
        "loginState": "LoggedOut",
        "agentInfo": None,
        "agentState": None,
        "rules": "",
    }
    assert (await query(c, "Agent", "CcpAgentState"))["message"] == {
        "name": "Offline",
        "type": "offline",
    }
    events = await ok(c, "Agent", "Login")
    assert [e["subtopic"] for e in events] == ["LoginSuccess"]
    message = events[0]["message"]
    assert message["loginState"] == "LoggedIn"
    assert message["agentState"]["name"] == "Lunch"
    assert message["agentState"]["type"] == "not_routable"
    assert message["rules"]["ResponseActual"]["name"] == "Lunch"
    assert agent_buttons({"message": message}) == IDLE_NOT_ROUTABLE
    assert (await query(c, "Agent", "StateSync"))["message"]["agentState"] == LUNCH


async def test_logout_refused_on_a_call(live):
    c = await live.connect()
    await ring(c)
    error = error_of(await req(c, "Agent", "Logout"))
    assert error["message"]["type"] == "LOGOUT_FAILED"
    assert error["message"]["text"] == "Logout failed."


async def test_logged_out_agent_gets_no_calls_until_login(live):
    c = await live.connect()
    await ok(c, "Agent", "Logout")
    events = await ok(c, "Simulator", "IncomingCall", {"phoneNumber": "+15551234567"})
    # answered with the (unchanged) agent state: nothing rang
    assert [r[:2] for r in rows(events)] == [("SetAgentState", "Offline")]
    events = await ok(c, "Agent", "Login")
    # back to Available: the waiting call is delivered at once
    assert [r[:2] for r in rows(events)] == [
        ("LoginSuccess",),
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]


@pytest.mark.parametrize(
    ("situation", "expected"),
    [
        ("idle", {"name": "Available", "type": "routable"}),
        ("ringing", {"name": "PendingBusy", "type": "system"}),
        ("talking", {"name": "Busy", "type": "system"}),
        ("dialling", {"name": "CallingCustomer", "type": "system"}),
        ("acw", {"name": "AfterCallWork", "type": "system"}),
        ("missed", {"name": "MissedCallAgent", "type": "system"}),
    ],
)
async def test_ccp_agent_state(live, situation, expected):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    if situation in ("ringing", "talking", "acw", "missed"):
        await ring(c)
    if situation in ("talking", "acw"):
        await ok(c, "InboundCall", "Answer")
    if situation == "acw":
        await ok(c, "InboundCall", "Disconnect")
    if situation == "missed":
        await ok(c, "InboundCall", "Reject")
    if situation == "dialling":
        await ok(c, "OutboundCall", "MakeCall", "+15551234567")
    other.drain()
    answer = await query(c, "Agent", "CcpAgentState")
    assert answer["message"] == expected
    assert answer["topic"] == "Agent"
    assert other.drain() == []


async def test_agent_statesync_logged_in(live):
    c = await live.connect()
    answer = await query(c, "Agent", "StateSync")
    assert answer["topic"] == "Agent"
    message = answer["message"]
    assert message["loginState"] == "LoggedIn"
    assert message["agentInfo"] == {
        "name": "Agent 1",
        "loginName": "agent1",
        "extension": "",
        "softphoneEnabled": True,
        "routingProfile": "Basic Routing Profile",
        "queues": ["InboundTest", "Sales", "Support"],
    }
    assert message["agentState"] == AVAILABLE
    assert message["rules"]["ResponseActual"]["name"] == "Available"
    assert agent_buttons({"message": message}) == IDLE_ROUTABLE
    # the on-connect answer is the same
    assert c.sync[0]["message"] == message
    await talk(c)
    message = (await query(c, "Agent", "StateSync"))["message"]
    assert message["agentState"] == {"label": "Busy", "code": "Busy", "type": "system"}
