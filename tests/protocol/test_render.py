"""Rendered events and answers against the published samples (protocol.md §2: same keys, nesting
and value types; the [ext] key ``nextState`` allowed), and their values where the inputs match."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ctibridge import protocol as p
from ctibridge.model import (
    AgentInfo,
    AgentSnapshot,
    AgentState,
    Connection,
    Contact,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"
IGNORED = {"seq", "requestId"}  # compared nowhere (§2)
EXTENSIONS = {"nextState", "routingProfile", "queues"}  # [ext] keys we may add


def sample(name: str) -> dict[str, Any]:
    data = json.loads((SAMPLES / name).read_text())
    assert isinstance(data, dict)
    return data


def plain(env: p.Envelope) -> dict[str, Any]:
    """The envelope as an app receives it."""
    data = json.loads(p.encode(env))
    assert isinstance(data, dict)
    return data


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def shape_errors(actual: Any, expected: Any, path: str = "$") -> list[str]:
    """Where ``actual`` differs from ``expected`` in keys (and their order), nesting or value
    types.  A null in ``expected`` accepts anything."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected object, got {type(actual).__name__}"]
        ignored = IGNORED if path == "$" else set()
        extra = set(actual) - set(expected) - EXTENSIONS - ignored
        missing = set(expected) - set(actual) - ignored
        errors = [f"{path}: extra keys {sorted(extra)}"] if extra else []
        errors += [f"{path}: missing keys {sorted(missing)}"] if missing else []
        order = [k for k in actual if k in expected]
        if not missing and order != [k for k in expected if k in actual]:
            errors.append(f"{path}: key order {order} != {list(expected)}")
        for key in expected.keys() & actual.keys() - ignored:
            errors += shape_errors(actual[key], expected[key], f"{path}.{key}")
        return errors
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected array, got {type(actual).__name__}"]
        if not expected:
            return [] if not actual else [f"{path}: expected an empty array"]
        errors = []
        for i, item in enumerate(actual):
            model = expected[i] if i < len(expected) else expected[0]
            errors += shape_errors(item, model, f"{path}[{i}]")
        return errors
    if type(actual) is not type(expected):
        return [f"{path}: expected {type(expected).__name__}, got {type(actual).__name__}"]
    return []


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


# --- model values matching the samples -----------------------------------------------------------

AGENT1 = AgentInfo(login="agent1", name="Agent 1", extension="", softphone_enabled=True)
READY = AgentState("Ready", "Ready", "routable")
AVAILABLE = AgentState("Available", "Available", "routable")
NOT_READY = AgentState("Not Ready", "Not Ready", "not_routable")
BREAK = AgentState("Not Ready Bre@k", "Not Ready Bre@k", "not_routable")
BUSY = AgentState("Busy", "Busy", "system")
OFFLINE = AgentState("Offline", "Offline", "offline")


def snapshot(state: AgentState = READY, **kwargs: Any) -> AgentSnapshot:
    kwargs.setdefault("info", AGENT1)
    kwargs.setdefault("logged_in", True)
    return AgentSnapshot(state=state, state_since=0, **kwargs)


CLEARED_AT = ms("2020-04-09T12:52:16.344Z")
CLEARED = Contact(
    contact_id="bcdb2ec7-bca2-423a-bd64-1688c173d529",
    kind="inbound",
    topic="InboundCall",
    state="acw",
    since=CLEARED_AT,
    queue="InboundTest",
    queue_since=CLEARED_AT,
    ani="+161081111",
    dnis="+16013261548",
    connections=(
        Connection(
            connection_id="48a09a0b-b73d-4d03-a77d-7c36132de226",
            role="agent",
            type="agent",
            status="disconnected",
            since=CLEARED_AT,
            previous_status="connected",
        ),
        Connection(
            connection_id="bcdb2ec7-bca2-423a-bd64-1688c173d529",
            role="customer",
            type="inbound",
            status="disconnected",
            since=CLEARED_AT,
            phone_number="+161081111",
            previous_status="connected",
        ),
    ),
)

RING_AT = ms("2020-04-09T08:37:12.701Z")
RINGING = Contact(
    contact_id="d675473e-7dbc-4a9b-ad92-b78f26e70b3b",
    kind="inbound",
    topic="InboundCall",
    state="live",
    since=RING_AT,
    queue="InboundTest",
    queue_since=RING_AT,
    ani="+161081111",
    dnis="+16013261548",
    connections=(
        Connection(
            connection_id="4bbfa29b-d5a8-4876-9276-09872a748397",
            role="agent",
            type="agent",
            status="connecting",
            since=RING_AT,
        ),
        Connection(
            connection_id="d675473e-7dbc-4a9b-ad92-b78f26e70b3b",
            role="customer",
            type="inbound",
            status="connecting",
            since=RING_AT,
            phone_number="+161081111",
        ),
    ),
)

TALK_AT = ms("2020-04-09T14:00:02.485Z")
TALKING = Contact(
    contact_id="4f9d6eda-8df1-481b-a2e6-e4379b7401f4",
    kind="inbound",
    topic="InboundCall",
    state="live",
    since=TALK_AT,
    queue="InboundTest",
    queue_since=ms("2020-04-09T14:00:18.485Z"),
    ani="+161081111",
    dnis="+16013261548",
    connections=(
        Connection(
            connection_id="71707025-ca65-4693-84b0-d05d80bbccbc",
            role="agent",
            type="agent",
            status="connected",
            since=TALK_AT,
            previous_status="connecting",
        ),
        Connection(
            connection_id="4f9d6eda-8df1-481b-a2e6-e4379b7401f4",
            role="customer",
            type="inbound",
            status="connected",
            since=TALK_AT,
            phone_number="+161081111",
            previous_status="connecting",
        ),
    ),
)
TALKING_BUTTONS = {
    "71707025-ca65-4693-84b0-d05d80bbccbc": frozenset({"consult", "numberpad"}),
    "4f9d6eda-8df1-481b-a2e6-e4379b7401f4": frozenset({"disconnect", "hold"}),
}

F: frozenset[str] = frozenset()
ALL_AGENT_BUTTONS = frozenset({"NotReady", "Ready", "make_call", "mute"})
READY_BUTTONS = frozenset({"NotReady", "make_call", "mute"})


def clear_contact_agent() -> p.Envelope:
    return p.call_event(CLEARED, CLEARED.connections[0], "DROPPED", frozenset())


def clear_contact_inbound() -> p.Envelope:
    return p.call_event(CLEARED, CLEARED.connections[1], "DROPPED", frozenset())


def incoming_call_agent() -> p.Envelope:
    return p.call_event(
        RINGING, RINGING.connections[0], "connecting", frozenset({"answer", "reject"})
    )


def call_statesync() -> p.Envelope:
    return p.call_statesync("InboundCall", TALKING, TALKING_BUTTONS)


def set_agent_state_ready() -> p.Envelope:
    at = ms("2020-04-09T13:35:22.838Z")
    return p.agent_state_event(snapshot(READY), READY, at, READY_BUTTONS)


def set_agent_state_busy_muted() -> p.Envelope:
    at = ms("2020-04-09T13:45:37.151Z")
    snap = snapshot(READY, muted=True, contacts=(TALKING,))
    buttons = frozenset({"NotReady", "Ready", "unmute"})
    return p.agent_state_event(snap, BUSY, at, buttons, mute_only=True)


def statesync_logged_out() -> p.Envelope:
    return p.agent_statesync(snapshot(OFFLINE, logged_in=False), OFFLINE, 0, frozenset())


def login_success() -> p.Envelope:
    info = AgentInfo(login="agent1", name="Agent 1", extension="", softphone_enabled=False)
    return p.login_success(snapshot(READY, info=info))


def logout_success() -> p.Envelope:
    at = ms("2020-04-09T13:38:40.517Z")
    return p.logout_success(snapshot(BREAK), BREAK, at, ALL_AGENT_BUTTONS)


def ccp_agent_state() -> p.Envelope:
    return p.ccp_agent_state(AgentState("Meeting", "Meeting", "not_routable"))


# sample file -> (renderer, what must also be equal in value)
VALUES = "values"  # equal once seq/requestId/[ext] keys are dropped
SHAPE = "shape"
CASES: dict[str, tuple[Callable[[], p.Envelope], str]] = {
    "clear-contact-response-agent.json": (clear_contact_agent, VALUES),
    "clear-contact-response-inbound.json": (clear_contact_inbound, VALUES),
    "incoming-call-event-agent.json": (incoming_call_agent, SHAPE),  # see its own test
    "call-statesync-response.json": (call_statesync, VALUES),
    "agent-setagentstate-event.json": (set_agent_state_ready, VALUES),
    "agent-setagentstate-ready-event.json": (set_agent_state_ready, VALUES),
    "agent-setagentstate-response-3.json": (set_agent_state_busy_muted, VALUES),
    "agent-statesync-response-loggedout.json": (statesync_logged_out, VALUES),
    "agent-loginsuccess-response.json": (login_success, VALUES),
    "agent-logoutsuccess-response.json": (logout_success, VALUES),
    "agent-ccpagentstate-response.json": (ccp_agent_state, VALUES),
}


def test_every_published_event_is_covered() -> None:
    events = {f.name for f in SAMPLES.glob("*.json") if "message" in sample(f.name)}
    assert events == set(CASES)


def expected_shape(name: str) -> dict[str, Any]:
    data = sample(name)
    if name == "incoming-call-event-agent.json":
        # it lacks ResponseActual.previousStatus, which we always send: use clear-contact's keys
        # (previousStatus is null for a new connection)
        keys = sample("clear-contact-response-agent.json")
        keys["message"]["call"]["ResponseActual"]["previousStatus"] = None
        return keys
    return data


@pytest.mark.parametrize("name", sorted(CASES))
def test_shape_matches_sample(name: str) -> None:
    render, _ = CASES[name]
    assert shape_errors(plain(render()), expected_shape(name)) == []


@pytest.mark.parametrize("name", sorted(n for n, (_, how) in CASES.items() if how == VALUES))
def test_values_match_sample(name: str) -> None:
    render, _ = CASES[name]
    actual = plain(render())
    if actual["topic"] == "Agent" and actual["subtopic"] == "SetAgentState":
        assert actual["message"]["data"].pop("nextState") is None
    if actual["subtopic"] == "LoginSuccess":  # [ext] keys after the published ones
        assert actual["message"]["agentInfo"].pop("routingProfile") == "Basic Routing Profile"
        assert actual["message"]["agentInfo"].pop("queues") == []
    assert without(actual, *IGNORED) == sample(name)


def test_incoming_call_values() -> None:
    actual = plain(incoming_call_agent())
    assert actual["message"]["call"]["ResponseActual"].pop("previousStatus") is None
    expected = sample("incoming-call-event-agent.json")
    assert expected["message"]["call"]["ResponseFields"]["DN"] == " InboundTest"  # stray space
    expected["message"]["call"]["ResponseFields"]["DN"] = "InboundTest"
    assert actual == expected


def test_shape_check_can_fail() -> None:
    good = sample("clear-contact-response-agent.json")
    bad = json.loads(json.dumps(good))
    del bad["message"]["call"]["ResponseActual"]["previousStatus"]
    bad["message"]["call"]["ResponseType"] = "0"
    bad["message"]["call"]["extra"] = 1
    errors = shape_errors(bad, good)
    assert len(errors) == 3
    assert shape_errors(good, good) == []


# --- call events ---------------------------------------------------------------------------------


@pytest.mark.parametrize("button", p.CALL_BUTTONS)
def test_each_call_button_enables_only_itself(button: str) -> None:
    call = plain(p.call_event(TALKING, TALKING.connections[0], "connected", frozenset({button})))
    call = call["message"]["call"]
    assert call["ButtonStates"]["count"] == 11
    items = call["ButtonStates"]["items"]
    assert list(items) == list(p.CALL_BUTTONS)
    assert {k for k, v in items.items() if v == "Enable"} == {button}
    assert set(items.values()) <= {"Enable", "Hide"}
    flags = call["ResponseActual"]["buttonStates"]
    assert list(flags) == list(p.CALL_BUTTONS)
    assert {k for k, v in flags.items() if v} == {button}


def test_unknown_button_or_event_is_a_bug() -> None:
    with pytest.raises(ValueError):
        p.call_event(TALKING, TALKING.connections[0], "connected", frozenset({"Answer"}))
    with pytest.raises(ValueError):
        p.call_event(TALKING, TALKING.connections[0], "Connected", frozenset())
    with pytest.raises(ValueError):
        p.agent_state_event(snapshot(), READY, 0, frozenset({"ready"}))


def test_call_event_fields_follow_the_model() -> None:
    contact = msgspec.structs.replace(
        TALKING,
        topic="OutboundCall",
        queue=None,
        queue_since=None,
        dnis="+15550001111",
        attributes=(("account", "42"), ("tier", "gold")),
        campaign="Spring",
    )
    third = Connection(
        connection_id="c3",
        role="third_party",
        type="outbound",
        status="hold",
        since=ms("2021-01-02T03:04:05.006Z"),
        phone_number="+15557654321",
        previous_status="connected",
    )
    with pytest.raises(ValueError):  # an outbound contact's event names its agent (User)
        p.call_event(contact, third, "Hold", frozenset({"disconnect", "resume"}))
    user = p.agent_info(snapshot(READY))
    env = p.call_event(contact, third, "Hold", frozenset({"disconnect", "resume"}), user)
    assert (env.topic, env.subtopic) == ("OutboundCall", "OutboundCallStateChange")
    call = plain(env)["message"]["call"]
    assert call["id"] == "c3"
    assert call["event"] == call["ResponseFields"]["CallState"] == "Hold"
    # the published outbound vocabulary: CallType of a third party is Consult, then User
    assert call["CallType"] == "Consult"
    assert list(call)[-2:] == ["CallType", "User"]
    assert call["User"] == {
        "name": "Agent 1",
        "extension": "",
        "loginName": "agent1",
        "muted": False,
        "softphoneEnabled": True,
        "routingProfile": "Basic Routing Profile",
        "queues": [],
    }
    assert call["ResponseFields"]["Type"] == call["ResponseActual"]["type"] == "outbound"
    agent_leg = plain(p.call_event(contact, contact.connections[0], "CustAnswered", F, user))
    assert agent_leg["message"]["call"]["CallType"] == "Regular-Call"
    inbound = plain(p.call_event(TALKING, TALKING.connections[0], "connected", F, user))
    assert "User" not in inbound["message"]["call"]
    assert inbound["message"]["call"]["CallType"] == "agent"
    assert call["ResponseFields"]["MediaProperties"] == {
        "callType": "outbound",
        "queueName": None,
        "queueTimestamp": None,
    }
    assert call["ResponseFields"]["fromAddress"] == "+15557654321"
    assert call["ResponseFields"]["CurrentStateTime"] == "2021-01-02T03:04:05.006Z"
    assert call["ResponseFields"]["Campaign"] == "Spring"
    assert call["ResponseFields"]["DN"] == "+15550001111"  # no queue: the dialled number
    assert call["ResponseActual"]["statusTimestamp"] == "2021-01-02T03:04:05.006Z"
    assert call["ResponseActual"]["status"] == "hold"
    assert call["ResponseActual"]["previousStatus"] == "connected"
    assert call["ResponseActual"]["contactId"] == contact.contact_id
    assert call["CallVariables"] == {
        "ANI": "+161081111",
        "DNIS": "+15550001111",
        "account": "42",
        "tier": "gold",
    }


def test_call_variables_default_to_empty_strings() -> None:
    contact = msgspec.structs.replace(TALKING, ani=None, dnis=None, queue=None)
    call = plain(p.call_event(contact, contact.connections[0], "connected", frozenset()))
    call = call["message"]["call"]
    assert call["CallVariables"] == {"ANI": "", "DNIS": ""}
    assert call["ResponseFields"]["DN"] == ""


def test_call_statesync_without_contact() -> None:
    env = p.call_statesync("OutboundCall", None, {})
    assert plain(env) == {
        "channel": "Amazon",
        "topic": "OutboundCall",
        "subtopic": "StateSync",
        "message": {"attributes": [], "queueName": None, "queueTimestamp": None, "calls": []},
    }


def test_call_statesync_attributes_and_missing_buttons() -> None:
    contact = msgspec.structs.replace(TALKING, attributes=(("lang", "fr"),))
    message = plain(p.call_statesync("InboundCall", contact, {}))["message"]
    assert message["attributes"][2] == {"name": "lang", "value": "fr"}
    assert all(not any(c["buttonStates"].values()) for c in message["calls"])


# --- agent messages ------------------------------------------------------------------------------


MISSED = AgentState("MissedCallAgent", "MissedCallAgent", "error")


@pytest.mark.parametrize(
    ("state", "published"),
    [(READY, "Ready"), (AVAILABLE, "Ready"), (OFFLINE, "Offline"), (NOT_READY, "Not_Ready"),
     (BREAK, "Not_Ready"), (BUSY, "Not_Ready"), (MISSED, "Not_Ready")],
)  # fmt: skip
def test_data_state_is_the_published_name(state: AgentState, published: str) -> None:
    message = plain(p.agent_state_event(snapshot(state), state, 0, frozenset()))["message"]
    data = message["data"]
    assert data["state"] == published
    assert message["event"] == message["rules"]["ResponseActual"]["name"] == state.label
    assert data["type"] == state.type
    assert ("reasonCode" in data) is (published == "Not_Ready")
    if published == "Not_Ready":  # the Connect state's name
        assert data["reasonCode"] == {"id": state.label}
        assert list(data)[6:8] == ["reasonCode", "stateChangeTime"]


def test_set_agent_state_follows_the_model() -> None:
    snap = snapshot(AVAILABLE, next_state=BREAK, muted=True, contacts=(TALKING,))
    at = ms("2022-05-06T07:08:09.010Z")
    message = plain(p.agent_state_event(snap, BUSY, at, frozenset({"unmute"})))["message"]
    assert message["event"] == "Busy"
    assert message["source"] == "event"
    assert message["data"]["state"] == "Not_Ready"
    assert message["data"]["reasonCode"] == {"id": "Busy"}
    assert message["data"]["type"] == "system"
    assert message["data"]["muted"] is True
    assert message["data"]["stateChangeTime"] == "2022-05-06T07:08:09.010Z"
    assert message["data"]["nextState"] == {
        "label": "Not Ready Bre@k",
        "code": "Not Ready Bre@k",
        "type": "not_routable",
    }
    assert message["rules"]["ResponseActual"] == {
        "agentStateARN": None,
        "type": "system",
        "name": "Busy",
        "startTimestamp": "2022-05-06T07:08:09.010Z",
    }
    assert message["rules"]["ButtonStates"] == {
        "items": {
            "NotReady": "Hide",
            "Ready": "Hide",
            "make_call": "Hide",
            "mute": "Hide",
            "unmute": "Enable",
        },
        "count": 5,
    }


def test_agent_statesync_logged_in() -> None:
    info = AgentInfo(
        login="agent7",
        name="Agent 7",
        extension="107",
        softphone_enabled=False,
        routing_profile="Sales",
        queues=("Sales", "Support"),
    )
    snap = snapshot(NOT_READY, info=info)
    env = p.agent_statesync(snap, NOT_READY, ms("2020-04-09T13:35:22.838Z"), ALL_AGENT_BUTTONS)
    message = plain(env)["message"]
    assert message["loginState"] == "LoggedIn"
    # LoginSuccess's agentInfo (then the [ext] keys) and agentState = rules.ResponseActual
    assert message["agentInfo"] == {
        "name": "Agent 7",
        "extension": "107",
        "loginName": "agent7",
        "muted": False,
        "softphoneEnabled": False,
        "routingProfile": "Sales",
        "queues": ["Sales", "Support"],
    }
    login_info = sample("agent-loginsuccess-response.json")["message"]["agentInfo"]
    assert shape_errors(message["agentInfo"], login_info) == []
    assert message["agentState"] == {
        "agentStateARN": None,
        "type": "not_routable",
        "name": "Not Ready",
        "startTimestamp": "2020-04-09T13:35:22.838Z",
    }
    assert message["agentState"] == message["rules"]["ResponseActual"]
    logout_state = sample("agent-logoutsuccess-response.json")["message"]["agentState"]
    assert shape_errors(message["agentState"], logout_state) == []
    # rules: the same object as SetAgentState's
    rules = plain(
        p.agent_state_event(snap, NOT_READY, ms("2020-04-09T13:35:22.838Z"), ALL_AGENT_BUTTONS)
    )
    assert message["rules"] == rules["message"]["rules"]
    expected_rules = sample("agent-setagentstate-event.json")["message"]["rules"]
    assert shape_errors(message["rules"], expected_rules) == []


def test_mute_event_carries_only_mute_and_unmute() -> None:
    snap = snapshot(READY, muted=False, contacts=(TALKING,))
    buttons = frozenset({"NotReady", "Ready", "mute"})
    rules = plain(p.agent_state_event(snap, BUSY, 0, buttons, mute_only=True))["message"]["rules"]
    assert rules["ButtonStates"] == {"items": {"mute": "Enable", "unmute": "Hide"}, "count": 2}
    full = plain(p.agent_state_event(snap, BUSY, 0, buttons))["message"]["rules"]["ButtonStates"]
    assert full["count"] == 5 and list(full["items"]) == list(p.AGENT_BUTTONS)


def test_get_states() -> None:
    env = p.get_states([AVAILABLE, NOT_READY, OFFLINE])
    assert plain(env) == {
        "channel": "Amazon",
        "topic": "Agent",
        "subtopic": "GetStates",
        "message": {
            "states": [
                {"label": "Available", "code": "Available", "type": "routable"},
                {"label": "Not Ready", "code": "Not Ready", "type": "not_routable"},
                {"label": "Offline", "code": "Offline", "type": "offline"},
            ]
        },
    }


# --- errors and envelope -------------------------------------------------------------------------


def test_error_event_shape() -> None:
    request = {"channel": "Amazon", "topic": "InboundCall", "subtopic": "Hold", "source": "a"}
    env = p.error_event(
        "InboundCall", "HOLD_CALL_FAILED", "timeout", "Call hold failed.", request, "r-1"
    )
    assert plain(env) == {
        "channel": "Amazon",
        "topic": "InboundCall",
        "subtopic": "Error",
        "message": {
            "type": "HOLD_CALL_FAILED",
            "code": "timeout",
            "text": "Call hold failed.",
            "request": request,
        },
        "requestId": "r-1",
    }
    bare = plain(p.error_event("System", "RESUME_GAP", "x", "y", None, None))
    assert "requestId" not in bare
    assert bare["message"]["request"] is None


def test_protocol_error_event() -> None:
    err = p.ProtocolError(
        "UNKNOWN_SUBTOPIC",
        "hld: did you mean Hold?",
        topic="Agent",
        request={"a": 1},
        request_id="q",
    )
    assert plain(p.protocol_error_event(err)) == {
        "channel": "Amazon",
        "topic": "Agent",
        "subtopic": "Error",
        "message": {
            "type": "UNKNOWN_SUBTOPIC",
            "code": "hld: did you mean Hold?",
            "text": p.ERROR_TEXT["UNKNOWN_SUBTOPIC"],
            "request": {"a": 1},
        },
        "requestId": "q",
    }


def test_seq_and_request_id_are_added_last_and_only_when_set() -> None:
    env = ccp_agent_state()
    assert list(plain(env)) == ["channel", "topic", "subtopic", "message"]
    assert p.with_request_id(env, None) is env
    tagged = p.with_request_id(p.with_seq(env, 7), "abc")
    assert list(plain(tagged)) == ["channel", "topic", "subtopic", "message", "seq", "requestId"]
    assert (plain(tagged)["seq"], plain(tagged)["requestId"]) == (7, "abc")
    assert plain(env) == without(plain(tagged), "seq", "requestId")  # the original is unchanged


@pytest.mark.parametrize(
    ("millis", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (CLEARED_AT, "2020-04-09T12:52:16.344Z"),
        (ms("2020-04-09T14:00:18.005Z"), "2020-04-09T14:00:18.005Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ],
)
def test_iso(millis: int, text: str) -> None:
    assert p.iso(millis) == text
    assert datetime.fromisoformat(text.replace("Z", "+00:00")) == datetime.fromtimestamp(
        millis / 1000, UTC
    )
