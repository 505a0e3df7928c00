"""Every kind of message the hub sends over the wire, compared key for key with the published
samples (docs/protocol.md §2; tests/fixtures/samples/README.md): the same keys at every level, the
same value types; ``seq``/``requestId`` ignored; a sample null matches anything; ``nextState`` is
the one [ext] key allowed.  Messages with no published sample (GetStates, errors, the logged-in
Agent/StateSync) are held to the literal shapes docs/protocol.md gives them."""

from __future__ import annotations

import copy
from typing import Any

from e2e_support import (
    CUSTOMER,
    THIRD,
    call_of,
    check_error,
    flush,
    req,
    sample,
    shape_errors,
)

from ctibridge.client import Client

Message = dict[str, Any]

# values the samples happen to show filled but docs/protocol.md makes null in some cases:
# previousStatus is null for a new connection (§4.1); queueName/queueTimestamp are null for a
# contact that came through no queue (§4.3 writes them null when there is none to show).
CALL_NULLABLE = ("previousStatus", "queueName", "queueTimestamp")
# CallVariables carries the contact's attributes besides ANI and DNIS (§4.1)
CALL_OPEN = ("CallVariables",)


# [ext] keys protocol.md allows beyond the samples': nextState (SetAgentState), routingProfile and
# queues (agentInfo)
EXT = ("nextState", "routingProfile", "queues")


def setagentstate_system_sample() -> Message:
    """agent-setagentstate-response-3.json (a system state) with the five agent buttons every
    SetAgentState but a Mute/Unmute event carries (README)."""
    shape = sample("agent-setagentstate-response-3.json")
    five = sample("agent-setagentstate-event.json")["message"]["rules"]["ButtonStates"]
    shape["message"]["rules"]["ButtonStates"] = five
    return shape


def logged_in_statesync_sample() -> Message:
    """§4.4: {loginState, agentInfo as LoginSuccess's, agentState as LogoutSuccess's (=
    rules.ResponseActual), rules = SetAgentState's rules}."""
    shape = sample("agent-statesync-response-loggedout.json")
    shape["message"] = {
        "loginState": "LoggedIn",
        "agentInfo": sample("agent-loginsuccess-response.json")["message"]["agentInfo"],
        "agentState": sample("agent-logoutsuccess-response.json")["message"]["agentState"],
        "rules": sample("agent-setagentstate-event.json")["message"]["rules"],
    }
    return shape


def outbound_call_sample(name: str) -> Message:
    """A call event sample with the outbound vocabulary's ``User`` (the agent's agentInfo)."""
    shape = sample(name)
    shape["message"]["call"]["User"] = sample("agent-loginsuccess-response.json")["message"][
        "agentInfo"
    ]
    return shape


def kind_of(m: Message) -> str:
    subtopic = m["subtopic"]
    if subtopic.endswith("StateChange"):
        return f"call event ({call_of(m)['ResponseActual']['type']})"
    if subtopic == "StateSync" and m["topic"] != "Agent":
        return "call StateSync" + (" (no call)" if not m["message"]["calls"] else "")
    if subtopic == "StateSync":
        return f"Agent/StateSync ({m['message']['loginState']})"
    if subtopic == "SetAgentState" and m["message"]["rules"]["ButtonStates"]["count"] == 2:
        return "SetAgentState (Mute/Unmute)"
    if subtopic == "SetAgentState":
        return f"SetAgentState ({m['message']['data']['type']})"
    return subtopic


def errors_for(m: Message) -> list[str]:
    kind = kind_of(m)
    if kind.startswith("call event"):
        # the agent leg: the agent sample; customer and third-party legs: the inbound sample
        name = f"clear-contact-response-{'agent' if kind == 'call event (agent)' else 'inbound'}"
        load = outbound_call_sample if m["topic"] == "OutboundCall" else sample
        errors = shape_errors(
            m, load(f"{name}.json"), nullable=CALL_NULLABLE, open_objects=CALL_OPEN, extra=EXT
        )
        return errors + (_ringing_errors(m) if kind == "call event (agent)" else [])
    if kind == "call StateSync":
        return _call_statesync_errors(m)
    if kind == "call StateSync (no call)":
        expected: dict[str, object] = {
            "attributes": [], "queueName": None, "queueTimestamp": None, "calls": [],
        }  # fmt: skip
        return [] if m["message"] == expected else [f"empty StateSync: {m['message']}"]
    if kind == "Agent/StateSync (LoggedOut)":
        errors = shape_errors(m, sample("agent-statesync-response-loggedout.json"))
        # the published nulls, exactly
        if m["message"] != sample("agent-statesync-response-loggedout.json")["message"]:
            errors.append(f"logged-out StateSync values: {m['message']}")
        return errors
    if kind == "Agent/StateSync (LoggedIn)":
        return shape_errors(m, logged_in_statesync_sample(), extra=EXT)
    if kind == "SetAgentState (Mute/Unmute)":
        return shape_errors(m, sample("agent-setagentstate-response-3.json"))
    if kind == "SetAgentState (routable)":
        errors = shape_errors(m, sample("agent-setagentstate-event.json"))
        if "reasonCode" in m["message"]["data"]:
            errors.append("reasonCode on a routable state")
        return errors
    if kind.startswith("SetAgentState"):
        return shape_errors(m, setagentstate_system_sample())
    if kind == "LoginSuccess":  # agentState and rules null, as published
        errors = shape_errors(m, sample("agent-loginsuccess-response.json"), extra=EXT)
        if (m["message"]["agentState"], m["message"]["rules"]) != (None, None):
            errors.append("LoginSuccess: agentState and rules are published null")
        return errors
    if kind == "LogoutSuccess":
        return shape_errors(m, sample("agent-logoutsuccess-response.json"))
    if kind == "CcpAgentState":
        return shape_errors(m, sample("agent-ccpagentstate-response.json"))
    if kind == "GetStates":
        shape = {
            "channel": "Amazon",
            "topic": "Agent",
            "subtopic": "GetStates",
            "message": {"states": [{"label": "", "code": "", "type": ""}]},
        }
        return shape_errors(m, shape)
    if kind == "Error":
        shape = {
            "channel": "Amazon",
            "topic": "",
            "subtopic": "Error",
            "message": {"type": "", "code": "", "text": "", "request": None},
        }
        return shape_errors(m, shape)
    return [f"no sample for {kind}"]


def _ringing_errors(m: Message) -> list[str]:
    """incoming-call-event-agent.json: the same keys except previousStatus, which it omits and
    we always send (README)."""
    if call_of(m)["event"] != "connecting":
        return []
    return shape_errors(
        m,
        sample("incoming-call-event-agent.json"),
        extra=("nextState", "previousStatus"),
        nullable=CALL_NULLABLE,
        open_objects=CALL_OPEN,
    )


def _call_statesync_errors(m: Message) -> list[str]:
    published = sample("call-statesync-response.json")
    without_calls = copy.deepcopy(published)
    without_calls["message"]["calls"] = []
    actual = copy.deepcopy(m)
    calls = actual["message"]["calls"]
    actual["message"]["calls"] = []
    errors = shape_errors(actual, without_calls, nullable=("queueName", "queueTimestamp"))
    # attributes: [{name, value}] strings
    for attribute in m["message"]["attributes"]:
        errors += shape_errors(attribute, published["message"]["attributes"][0], path="attribute")
    agent_call, customer_call = published["message"]["calls"]
    for call in calls:
        shape = agent_call if call["type"] == "agent" else customer_call
        errors += shape_errors(call, shape, path=f"calls[{call['type']}]")
    return errors


async def record(c: Client, topic: str, subtopic: str, *args: Any) -> list[Message]:
    return (await req(c, topic, subtopic, *args)).events


async def test_every_message_kind_matches_its_sample(live):
    c = await live.connect()
    seen: list[Message] = list(c.sync)
    seen += await record(
        c, "Simulator", "IncomingCall",
        {"phoneNumber": CUSTOMER, "attributes": {"account": "A-17"}, "queue": "Sales"},
    )  # fmt: skip
    steps: list[tuple[Any, ...]] = [
        ("InboundCall", "Answer"),
        ("InboundCall", "StateSync"),
        ("Agent", "Mute"),
        ("InboundCall", "Consult", THIRD),
        ("Simulator", "ThirdPartyAnswer"),
        ("InboundCall", "StateSync"),
        ("InboundCall", "Disconnect"),
        ("InboundCall", "ClearContact"),
        ("InboundCall", "ClearContact"),  # fails: nothing to clear
        ("Agent", "UpdateState", {"label": "Break"}),
        ("Agent", "GetStates"),
        ("Agent", "CcpAgentState"),
        ("Agent", "StateSync"),
        ("OutboundCall", "MakeCall", CUSTOMER),  # no queue
        ("Simulator", "OutboundResult", {"result": "answer"}),
        ("OutboundCall", "StateSync"),
        ("OutboundCall", "Disconnect"),
        ("OutboundCall", "ClearContact"),
        ("OutboundCall", "StateSync"),
        ("Agent", "Logout"),
        ("Agent", "StateSync"),
        ("Agent", "Login"),
        ("Agent", "UpdateState", {"label": "Available"}),
    ]
    for step in steps:
        seen += await record(c, *step)
    await live.advance(1)
    seen += await record(c, "Simulator", "PreviewCall", {"phoneNumber": CUSTOMER})
    await c.send_raw("{not json")
    seen += await flush(c)

    kinds: dict[str, int] = {}
    problems: list[str] = []
    for m in seen:
        kind = kind_of(m)
        kinds[kind] = kinds.get(kind, 0) + 1
        problems += [f"{kind}: {e}" for e in errors_for(m)]
    assert problems == []
    assert set(kinds) == {
        "Agent/StateSync (LoggedIn)",
        "Agent/StateSync (LoggedOut)",
        "call StateSync",
        "call StateSync (no call)",
        "call event (agent)",
        "call event (inbound)",
        "call event (outbound)",
        "SetAgentState (routable)",
        "SetAgentState (not_routable)",
        "SetAgentState (system)",
        "SetAgentState (Mute/Unmute)",
        "LoginSuccess",
        "LogoutSuccess",
        "CcpAgentState",
        "GetStates",
        "Error",
    }
    # both call topics were on the wire
    assert {m["subtopic"] for m in seen if m["subtopic"].endswith("StateChange")} == {
        "InboundCallStateChange",
        "OutboundCallStateChange",
    }
    errors = [m for m in seen if m["subtopic"] == "Error"]
    assert [e["message"]["type"] for e in errors] == ["CLEAR_CONTACT_FAILED", "INVALID_JSON"]
    check_error(
        errors[1],
        topic="System",
        type_="INVALID_JSON",
        text="The message is not a JSON object.",
        request=None,
    )


def test_the_comparison_can_fail():
    """shape_errors finds a missing key, an extra key, a wrong type, and passes nulls."""
    published = sample("clear-contact-response-agent.json")
    broken = copy.deepcopy(published)
    del broken["message"]["call"]["ResponseActual"]["previousStatus"]
    broken["message"]["call"]["Extra"] = 1
    broken["message"]["call"]["ResponseType"] = "0"
    broken["seq"] = 3
    broken["requestId"] = "r"
    assert sorted(shape_errors(broken, published)) == [
        "message.call.Extra: not in the sample",
        "message.call.ResponseActual.previousStatus: missing",
        "message.call.ResponseType: string where the sample has number",
    ]
    nulls = copy.deepcopy(published)
    nulls["message"]["call"]["ExtendedCallVariables"] = {"anything": [1]}
    assert shape_errors(nulls, published) == []
    nulls["message"]["call"]["ResponseActual"]["previousStatus"] = None
    assert shape_errors(nulls, published) == [
        "message.call.ResponseActual.previousStatus: null where the sample has string"
    ]
    assert shape_errors(nulls, published, nullable=CALL_NULLABLE) == []
