"""Helpers for the end-to-end suite: drive a live hub over real WebSockets and read what comes back.

Everything here reads the wire only (never the engine's tables): expectations live in the tests.

* ``req`` sends one request through ``Client.request`` (its StateSync barrier) and checks that the
  app received nothing but what the request caused.
* ``flush`` is the same barrier for events not caused by a request (timers, other agents): it
  returns every message received before the answer to a private ``Agent/StateSync``.
* ``row`` reduces an event to a comparable tuple; ``leg_buttons`` maps a call event to
  (connection type, enabled buttons) after checking the two button encodings agree.
* ``shape_errors`` compares a message with a published sample key for key (§2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ctibridge.client import Client, Result
from published_names import PUBLISHED_STATE
from support.buttons import AGENT_BUTTONS, CALL_BUTTONS

Message = dict[str, Any]

CALL_EVENT_SUBTOPICS = ("InboundCallStateChange", "OutboundCallStateChange")
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

CUSTOMER = "+15551234567"
THIRD = "+15557654321"
DEFAULT_FAILURE = "InternalServiceException: simulated failure"

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"


def sample(name: str) -> Message:
    """A published sample message (tests/fixtures/samples), fresh each time."""
    data = json.loads((SAMPLES / name).read_text())
    assert isinstance(data, dict)
    return data


# --- talking to the hub -----------------------------------------------------------------------


async def flush(client: Client) -> list[Message]:
    """Every message the app received (and nobody took) up to now, in order."""
    return await client.flush()


async def req(client: Client, topic: str, subtopic: str, *args: Any, strict: bool = True) -> Result:
    """Send a request, return what it caused; with ``strict`` the app must have received
    nothing before it (unread) and nothing but the request's own messages while it ran."""
    stale = client.drain()
    if strict:
        assert stale == [], f"unread before {topic}/{subtopic}: {[m['subtopic'] for m in stale]}"
    result = await client.request(topic, subtopic, *args)
    received = client.drain()
    if strict:
        assert received == result.events, "messages not caused by the request arrived"
    return result


async def ok(client: Client, topic: str, subtopic: str, *args: Any) -> list[Message]:
    """A request that must succeed; its events."""
    result = await req(client, topic, subtopic, *args)
    assert result.error is None, result.error
    return result.events


async def query(client: Client, topic: str, subtopic: str) -> Message:
    """A one-app answer (StateSync / GetStates / CcpAgentState): exactly one message, no seq."""
    events = await ok(client, topic, subtopic)
    assert len(events) == 1, events
    answer = events[0]
    assert "seq" not in answer
    assert answer["subtopic"] == subtopic or (subtopic, answer["subtopic"]) == (
        "GetAgentState", "GetStates"
    )  # fmt: skip
    return answer


async def sync_state(client: Client, topic: str = "InboundCall") -> tuple[Message, Message]:
    """The Agent and call StateSync answers, without requestId (for before/after comparisons)."""
    agent = await query(client, "Agent", "StateSync")
    call = await query(client, topic, "StateSync")
    return _strip(agent), _strip(call)


def _strip(message: Message) -> Message:
    return {k: v for k, v in message.items() if k not in ("requestId", "seq")}


async def sim(client: Client, subtopic: str, data: Any = None) -> list[Message]:
    args = () if data is None else (data,)
    return await ok(client, "Simulator", subtopic, *args)


async def fail_next(client: Client, subtopic: str, error: str | None = None) -> None:
    data: dict[str, Any] = {"subtopic": subtopic}
    if error is not None:
        data["error"] = error
    events = await sim(client, "FailNext", data)
    # the simulator answers a request that changes nothing with the agent's state, unchanged
    assert [m["subtopic"] for m in events] == ["SetAgentState"]


def state_events(events: list[Message]) -> Message:
    """The SetAgentState of a state change request: it is followed by CcpAgentState (§3.2)."""
    assert [m["subtopic"] for m in events] == ["SetAgentState", "CcpAgentState"], events
    set_state, ccp = events
    assert ccp["message"] == {
        "name": set_state["message"]["event"],
        "type": set_state["message"]["data"]["type"],
    }
    return set_state


# --- scenarios ---------------------------------------------------------------------------------


async def ring(client: Client, **extra: Any) -> list[Message]:
    """A customer call rings to the (Available) agent."""
    return await sim(client, "IncomingCall", {"phoneNumber": CUSTOMER, **extra})


async def talk(client: Client, topic: str = "InboundCall") -> None:
    """A connected 2-party inbound call."""
    await ring(client)
    await ok(client, topic, "Answer")


async def dial(client: Client, topic: str = "OutboundCall", number: str = CUSTOMER) -> None:
    """A connected 2-party call the agent placed."""
    await ok(client, topic, "MakeCall", number)
    await sim(client, "OutboundResult", {"result": "answer"})


async def consult(client: Client, topic: str = "InboundCall", *, answered: bool = True) -> None:
    """Customer on hold, third party connecting (or connected)."""
    await ok(client, topic, "Consult", THIRD)
    if answered:
        await sim(client, "ThirdPartyAnswer")


async def acw(client: Client) -> None:
    await talk(client)
    await ok(client, "InboundCall", "Disconnect")


# --- reading events ----------------------------------------------------------------------------

# (connection type, is the customer leg) -> CallType of an outbound contact's connection (§4.1)
OUTBOUND_CALL_TYPE = {
    ("agent", False): "Regular-Call",
    ("outbound", True): "Regular-Call",
    ("outbound", False): "Consult",
}


def call_of(event: Message) -> Message:
    assert event["subtopic"] in CALL_EVENT_SUBTOPICS, event["subtopic"]
    call = event["message"]["call"]
    assert isinstance(call, dict)
    return call


def leg_buttons(event: Message) -> tuple[str, frozenset[str]]:
    """(connection type, enabled buttons) of a call event; checks ``ButtonStates.items`` (all
    eleven, Enable/Hide, count 11) and ``ResponseActual.buttonStates`` say the same."""
    call = call_of(event)
    states = call["ButtonStates"]
    assert states["count"] == 11
    items = states["items"]
    assert tuple(items) == CALL_BUTTONS
    assert set(items.values()) <= {"Enable", "Hide"}
    flags = call["ResponseActual"]["buttonStates"]
    assert flags == {b: items[b] == "Enable" for b in CALL_BUTTONS}
    return call["ResponseActual"]["type"], frozenset(b for b in CALL_BUTTONS if flags[b])


def agent_buttons(event: Message) -> frozenset[str]:
    """The enabled agent buttons: all five, or mute/unmute only in a Mute/Unmute event."""
    states = event["message"]["rules"]["ButtonStates"]
    items = states["items"]
    assert states["count"] == len(items)
    assert list(items) in (list(AGENT_BUTTONS), ["mute", "unmute"])
    assert set(items.values()) <= {"Enable", "Hide"}
    return frozenset(b for b, v in items.items() if v == "Enable")


def row(event: Message) -> tuple[Any, ...]:
    """A call event as (type, event, status, previousStatus, enabled buttons); SetAgentState as
    ("SetAgentState", state, enabled agent buttons); an error as ("Error", type); others by name.

    Also checks what every call event must satisfy (§4.1): the mirrored fields agree."""
    subtopic = event["subtopic"]
    if subtopic in CALL_EVENT_SUBTOPICS:
        call = call_of(event)
        actual = call["ResponseActual"]
        fields = call["ResponseFields"]
        type_, buttons = leg_buttons(event)
        assert subtopic == f"{event['topic']}StateChange"
        assert call["id"] == actual["connectionId"]
        assert type_ == fields["Type"] == fields["MediaProperties"]["callType"]
        # outbound contacts: the published CallType (Regular-Call / Consult) and the User
        outbound = event["topic"] == "OutboundCall"
        assert call["CallType"] == (
            OUTBOUND_CALL_TYPE[type_, actual["connectionId"] == actual["contactId"]]
            if outbound
            else type_
        )
        assert ("User" in call) is outbound
        assert fields["CallState"] == call["event"]
        assert fields["fromAddress"] == actual["phoneNumber"]
        assert fields["CurrentStateTime"] == actual["statusTimestamp"]
        assert ISO_MS.match(actual["statusTimestamp"]), actual["statusTimestamp"]
        assert call["ResponseType"] == 0 and call["ResponseText"] == "Success"
        assert event["message"]["source"] == "event"
        return (type_, call["event"], actual["status"], actual["previousStatus"], buttons)
    if subtopic == "SetAgentState":
        message = event["message"]
        data = message["data"]
        assert message["event"] == message["rules"]["ResponseActual"]["name"]
        assert data["state"] == PUBLISHED_STATE[data["type"]]
        assert data.get("reasonCode", {"id": message["event"]}) == {"id": message["event"]}
        return ("SetAgentState", message["event"], agent_buttons(event))
    if subtopic == "Error":
        return ("Error", event["message"]["type"])
    return (subtopic,)


def rows(events: Iterable[Message]) -> list[tuple[Any, ...]]:
    """The rows of ``events``; a CcpAgentState must repeat the SetAgentState right before it
    (§3.2: every state change is followed by one) and is folded into that row."""
    out: list[tuple[Any, ...]] = []
    previous: Message | None = None
    for e in events:
        if e["subtopic"] == "CcpAgentState" and "seq" in e:
            assert previous is not None and previous["subtopic"] == "SetAgentState", e
            assert e["message"] == {
                "name": previous["message"]["event"],
                "type": previous["message"]["data"]["type"],
            }
        else:
            out.append(row(e))
        previous = e
    return out


def seqs(events: Iterable[Message]) -> list[int]:
    return [e["seq"] for e in events]


def call_ids(event: Message) -> tuple[str, str]:
    """(contactId, connectionId) of a call event."""
    actual = call_of(event)["ResponseActual"]
    return actual["contactId"], actual["connectionId"]


def statesync_legs(answer: Message) -> list[tuple[str, str, str, frozenset[str]]]:
    """A call StateSync answer's connections as (role, type, status, enabled buttons); the role
    from the published conventions: the agent leg has type agent, the customer leg's
    connectionId is the contactId, any other leg is a third party."""
    out = []
    for call in answer["message"]["calls"]:
        flags = call["buttonStates"]
        assert tuple(flags) == CALL_BUTTONS
        if call["type"] == "agent":
            role = "agent"
        elif call["connectionId"] == call["contactId"]:
            role = "customer"
        else:
            role = "third"
        out.append(
            (role, call["type"], call["status"], frozenset(b for b in CALL_BUTTONS if flags[b]))
        )
    return out


def error_of(result: Result) -> Message:
    assert result.error is not None, f"expected a failure, got {result.events}"
    assert result.events == [result.error], result.events
    return result.error


def check_error(
    error: Message,
    *,
    topic: str,
    type_: str,
    text: str,
    request: Message | None,
    code: str | None = None,
    request_id: str | None = None,
) -> None:
    """The §5 error shape, exactly."""
    allowed = {"channel", "topic", "subtopic", "message", "requestId", "seq"}
    assert set(error) <= allowed, error
    assert error["channel"] == "Amazon"
    assert error["topic"] == topic
    assert error["subtopic"] == "Error"
    message = error["message"]
    assert set(message) == {"type", "code", "text", "request"}
    assert message["type"] == type_
    assert isinstance(message["code"], str) and message["code"]
    if code is not None:
        assert message["code"] == code
    assert message["text"] == text
    assert message["request"] == request
    if request_id is None:
        assert "requestId" not in error
    else:
        assert error["requestId"] == request_id


def sent_request(client: Client, topic: str, subtopic: str, data: Any, request_id: str) -> Message:
    """The request object ``Client.request`` sends (echoed in errors)."""
    message: Message = {
        "channel": "Amazon",
        "topic": topic,
        "subtopic": subtopic,
        "source": client.source,
        "requestId": request_id,
    }
    if data is not None:
        message["data"] = data
    return message


# --- shapes ------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value))


def shape_errors(
    actual: Any,
    sample: Any,
    *,
    extra: Sequence[str] = ("nextState",),
    open_objects: Sequence[str] = (),
    nullable: Sequence[str] = (),
    path: str = "",
) -> list[str]:
    """Differences in keys and value types between ``actual`` and ``sample`` (§2).

    A sample null matches anything; keys named in ``extra`` may be added anywhere; objects whose
    key is in ``open_objects`` may carry more keys (with string values, e.g. CallVariables);
    keys in ``nullable`` may be null where the sample has a value; ``seq``/``requestId`` are
    ignored at the top level."""
    if sample is None:
        return []
    where = path or "$"
    key = path.rsplit(".", 1)[-1]
    if actual is None and key in nullable:
        return []
    if _type_name(actual) != _type_name(sample):
        return [f"{where}: {_type_name(actual)} where the sample has {_type_name(sample)}"]
    errors: list[str] = []
    if isinstance(sample, dict):
        ignored = {"seq", "requestId"} if not path else set()
        missing = set(sample) - set(actual)
        added = set(actual) - set(sample) - set(extra) - ignored
        errors += [f"{where}.{k}: missing" for k in sorted(missing)]
        if key in open_objects:
            errors += [
                f"{where}.{k}: not a string" for k in added if not isinstance(actual[k], str)
            ]
        else:
            errors += [f"{where}.{k}: not in the sample" for k in sorted(added)]
        for k in sample:
            if k in actual:
                errors += shape_errors(
                    actual[k], sample[k], extra=extra, open_objects=open_objects,
                    nullable=nullable, path=f"{path}.{k}" if path else k,
                )  # fmt: skip
    elif isinstance(sample, list) and sample:
        for i, item in enumerate(actual):
            errors += shape_errors(
                item, sample[0], extra=extra, open_objects=open_objects, nullable=nullable,
                path=f"{path}[{i}]",
            )  # fmt: skip
    return errors


def dump(messages: Iterable[Message]) -> str:
    return "\n".join(json.dumps(m) for m in messages)
