"""The Agent topic (docs/protocol.md §3.2-§3.3, §4.4) over a live hub: UpdateState / Update,
SetNotReady, GetStates / GetAgentState, Mute / Unmute, Login / Logout, CcpAgentState, StateSync."""

from __future__ import annotations

from typing import Any

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
    state_events,
    talk,
)

from published_names import DIAL_ERROR_STATES

AVAILABLE = {"label": "Available", "code": "Available", "type": "routable"}
BREAK = {"label": "Break", "code": "Break", "type": "not_routable"}
LUNCH = {"label": "Lunch", "code": "Lunch", "type": "not_routable"}
NOT_READY = {"label": "Not Ready", "code": "Not Ready", "type": "not_routable"}
# the published agent buttons (§4.4): Set Not Ready sample, Get Agent States sample
IDLE_NOT_ROUTABLE = {"NotReady", "Ready", "make_call", "mute"}
IDLE_ROUTABLE = {"NotReady", "make_call", "mute"}
ON_A_CALL = {"NotReady", "Ready", "mute"}  # a system state is not routable


def state_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The SetAgentState answering a state change; CcpAgentState follows it (§3.2)."""
    event = state_events(events)
    assert event["topic"] == "Agent"
    return event


def mute_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    """A Mute/Unmute answer: one SetAgentState with only mute and unmute (count 2)."""
    assert [e["subtopic"] for e in events] == ["SetAgentState"], events
    assert events[0]["message"]["rules"]["ButtonStates"]["count"] == 2
    return events[0]


def actual(name: str, type_: str, at: str) -> dict[str, object]:
    return {"agentStateARN": None, "type": type_, "name": name, "startTimestamp": at}


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
    assert message["data"]["state"] == "Not_Ready"  # the published name; Break in reasonCode
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
    assert sync["agentState"] == actual  # LoginSuccess's agentState shape (§4.4)
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
    assert data["state"] == "Ready" and data["type"] == "routable"
    assert event["message"]["event"] == "Available"
    assert "reasonCode" not in data  # Ready: no reasonCode (§4.4)
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
    assert events[-2]["message"]["event"] == "AfterCallWork"
    assert events[-2]["message"]["data"]["nextState"] == NOT_READY
    events = await ok(c, "InboundCall", "ClearContact")
    assert rows(events)[-1] == ("SetAgentState", "Not Ready", IDLE_NOT_ROUTABLE)
    assert events[-2]["message"]["data"]["nextState"] is None
    assert events[-1]["message"] == {"name": "Not Ready", "type": "not_routable"}  # Ccp
    agent_state = (await query(c, "Agent", "StateSync"))["message"]["agentState"]
    assert (agent_state["name"], agent_state["type"]) == ("Not Ready", "not_routable")


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
    event = mute_event(await ok(c, "Agent", "Mute"))
    assert event["message"]["data"]["muted"] is True
    assert event["message"]["event"] == "Busy"
    assert event["message"]["data"]["state"] == "Not_Ready"
    assert event["message"]["data"]["reasonCode"] == {"id": "Busy"}
    assert event["message"]["rules"]["ButtonStates"]["items"] == {
        "mute": "Hide",
        "unmute": "Enable",
    }
    event = mute_event(await ok(c, "Agent", "Unmute"))
    assert event["message"]["data"]["muted"] is False
    assert agent_buttons(event) == {"mute"}


async def test_mute_ends_with_the_call(live):
    c = await live.connect()
    await talk(c)
    await ok(c, "Agent", "Mute")
    await ok(c, "InboundCall", "Disconnect")
    await ok(c, "InboundCall", "ClearContact")
    await talk(c)  # the next call starts unmuted: Unmute is not needed, Mute works
    sync = (await query(c, "Agent", "StateSync"))["message"]
    assert sync["agentInfo"]["muted"] is False
    assert mute_event(await ok(c, "Agent", "Mute"))["message"]["data"]["muted"] is True


async def test_mute_buttons_hide_while_the_customer_is_held(live):
    c = await live.connect()
    await talk(c)
    await ok(c, "Agent", "Mute")
    # on hold the agent is still connected to the call: mute state stays visible
    events = await ok(c, "InboundCall", "Hold")
    assert [e["subtopic"] for e in events] == ["InboundCallStateChange"] * 2
    events = await ok(c, "InboundCall", "Disconnect")
    # ACW: the call is over, mute ended with it
    assert agent_buttons(events[-2]) == {"NotReady", "Ready", "make_call", "mute"}
    assert events[-2]["message"]["data"]["muted"] is False


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
    # the state and rules the agent had when it logged out (published LogoutSuccess)
    assert message["agentState"]["type"] == "not_routable"
    assert message["agentState"]["name"] == "Lunch"
    assert message["rules"]["ButtonStates"]["items"] == {
        "NotReady": "Enable", "Ready": "Enable", "make_call": "Enable", "mute": "Enable",
        "unmute": "Hide",
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
    # as the published LoginSuccess (agentState, rules null); the state follows
    assert [e["subtopic"] for e in events] == ["LoginSuccess", "SetAgentState", "CcpAgentState"]
    message = events[0]["message"]
    assert message["loginState"] == "LoggedIn"
    assert (message["agentState"], message["rules"]) == (None, None)
    assert rows(events[1:]) == [("SetAgentState", "Lunch", IDLE_NOT_ROUTABLE)]
    agent_state = (await query(c, "Agent", "StateSync"))["message"]["agentState"]
    assert (agent_state["name"], agent_state["type"]) == ("Lunch", "not_routable")


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
        ("SetAgentState", "Available"),
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
        ("missed", {"name": "MissedCallAgent", "type": "error"}),
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
    # LoginSuccess's agentInfo (then [ext] keys) and agentState = rules.ResponseActual (§4.4)
    assert message["agentInfo"] == {
        "name": "Agent 1",
        "extension": "",
        "loginName": "agent1",
        "muted": False,
        "softphoneEnabled": True,
        "routingProfile": "Basic Routing Profile",
        "queues": ["InboundTest", "Sales", "Support"],
    }
    assert message["agentState"] == message["rules"]["ResponseActual"]
    assert message["agentState"]["name"] == "Available"
    assert agent_buttons({"message": message}) == IDLE_ROUTABLE
    # the on-connect answer is the same
    assert c.sync[0]["message"] == message
    await talk(c)
    message = (await query(c, "Agent", "StateSync"))["message"]
    assert (message["agentState"]["name"], message["agentState"]["type"]) == ("Busy", "system")


async def test_update_state_to_offline_stays_logged_in(live):
    c = await live.connect()
    event = state_event(await ok(c, "Agent", "UpdateState", {"label": "Offline"}))
    assert event["message"]["data"]["state"] == "Offline"
    assert "reasonCode" not in event["message"]["data"]
    assert agent_buttons(event) == IDLE_NOT_ROUTABLE
    assert (await query(c, "Agent", "StateSync"))["message"]["loginState"] == "LoggedIn"
    # an Offline agent may dial (Amazon Connect allows it)
    events = await ok(c, "OutboundCall", "MakeCall", "+15551234567")
    assert rows(events)[-1][:2] == ("SetAgentState", "CallingCustomer")


async def test_state_start_after_a_call_is_the_clear(live):
    c = await live.connect()
    await talk(c)
    await live.advance(30)
    await ok(c, "InboundCall", "Disconnect")
    await live.advance(30)
    events = await ok(c, "InboundCall", "ClearContact")
    data = events[-2]["message"]["data"]
    assert (events[-2]["message"]["event"], data["stateChangeTime"]) == (
        "Available",
        "2020-04-09T12:01:00.000Z",  # the ManualClock's time of the clear, not the call's start
    )


@pytest.mark.parametrize(("result", "state"), DIAL_ERROR_STATES)
async def test_failed_dial_leaves_an_error_state(live, result, state):
    c = await live.connect()
    await ok(c, "OutboundCall", "MakeCall", "+15551234567")
    events = await ok(c, "Simulator", "OutboundResult", {"result": result})
    assert rows(events)[-1][:2] == ("SetAgentState", state)
    assert events[-2]["message"]["data"]["type"] == "error"
    assert events[-1]["message"] == {"name": state, "type": "error"}
    assert rows(events)[0][:2] == ("agent", "ACW")  # outbound vocabulary; then ClearContact
    assert rows(await ok(c, "OutboundCall", "ClearContact"))[-1][:2] == (
        "SetAgentState",
        "Available",
    )
