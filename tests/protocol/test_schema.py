"""json_schema(): a well-formed JSON Schema that covers every request and event and agrees with
the decoder, the renderers and the published samples.

jsonschema is not a dependency, so a small validator for the keywords msgspec emits is below; it
refuses any keyword it does not know, so a schema it accepts is one it fully checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ctibridge import protocol as p
from ctibridge.model import AgentInfo, AgentSnapshot, AgentState, Connection, Contact
from ctibridge.protocol.registry import SUBTOPICS
from ctibridge.protocol.wire import EVENTS

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"
SCHEMA = p.json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]

ANNOTATIONS = {"title", "description", "default", "$schema", "$defs"}
JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean", "null"}


def resolve(ref: str) -> dict[str, Any]:
    assert ref.startswith("#/$defs/"), ref
    return DEFS[ref.removeprefix("#/$defs/")]  # type: ignore[no-any-return]


def is_type(value: Any, name: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[name]


def errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (the subset of JSON Schema 2020-12 msgspec emits)."""
    found: list[str] = []
    for key, rule in schema.items():
        if key in ANNOTATIONS:
            continue
        if key == "$ref":
            found += errors(value, resolve(rule), path)
        elif key == "anyOf":
            if all(errors(value, option, path) for option in rule):
                found.append(f"{path}: matches none of anyOf")
        elif key == "enum":
            if not any(value == e and type(value) is type(e) for e in rule):
                found.append(f"{path}: {value!r} not in {rule}")
        elif key == "type":
            names = rule if isinstance(rule, list) else [rule]
            if not any(is_type(value, n) for n in names):
                found.append(f"{path}: not {rule}")
        elif key == "properties":
            if isinstance(value, dict):
                for name, sub in rule.items():
                    if name in value:
                        found += errors(value[name], sub, f"{path}.{name}")
        elif key == "required":
            if isinstance(value, dict):
                found += [f"{path}: missing {name}" for name in rule if name not in value]
        elif key == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                for name, item in value.items():
                    if name in known:
                        continue
                    if rule is False:
                        found.append(f"{path}: unexpected {name}")
                    elif isinstance(rule, dict):
                        found += errors(item, rule, f"{path}[{name!r}]")
        elif key == "items":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    found += errors(item, rule, f"{path}[{i}]")
        elif key in ("minItems", "maxItems"):
            if isinstance(value, list) and not (
                len(value) >= rule if key == "minItems" else len(value) <= rule
            ):
                found.append(f"{path}: {key} {rule}")
        elif key in ("minLength", "maxLength"):
            if isinstance(value, str) and not (
                len(value) >= rule if key == "minLength" else len(value) <= rule
            ):
                found.append(f"{path}: {key} {rule}")
        elif key == "pattern":
            if isinstance(value, str) and not re.search(rule, value):
                found.append(f"{path}: does not match {rule}")
        elif key == "minimum":
            if is_type(value, "number") and value < rule:
                found.append(f"{path}: < {rule}")
        else:
            raise AssertionError(f"validator does not know keyword {key!r} at {path}")
    return found


def members(union: str) -> list[dict[str, Any]]:
    return [resolve(ref["$ref"]) for ref in DEFS[union]["anyOf"]]


def pinned(definition: dict[str, Any]) -> tuple[str, str]:
    props = definition["properties"]
    (topic,) = props["topic"]["enum"]
    (subtopic,) = props["subtopic"]["enum"]
    return topic, subtopic


REQUESTS = {pinned(d): d for d in members("Request")}
EVENT_DEFS = {pinned(d): d for d in members("Event")}


# --- well-formed ---------------------------------------------------------------------------------


def walk(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every schema object in the document (not the values of enum/default/required)."""
    if not isinstance(node, dict):
        return []
    found = [(path, node)]
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            found += walk(sub, f"{path}.{key}.{name}")
    for key in ("items", "additionalProperties"):
        found += walk(node.get(key), f"{path}.{key}")
    for i, sub in enumerate(node.get("anyOf", [])):
        found += walk(sub, f"{path}.anyOf[{i}]")
    return found


def test_schema_is_json_and_well_formed() -> None:
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert p.json_schema() == SCHEMA  # deterministic
    for path, node in walk(SCHEMA):
        if "$ref" in node:
            assert node["$ref"].removeprefix("#/$defs/") in DEFS, path
        if "type" in node:
            assert node["type"] in JSON_TYPES, path
        if "pattern" in node:
            re.compile(node["pattern"])
        if "required" in node:
            assert set(node["required"]) <= set(node["properties"]), path
        if "enum" in node:
            assert node["enum"], path
        errors(None, {k: v for k, v in node.items() if k not in ("$ref", "anyOf")})


def test_validator_can_fail() -> None:
    hold = REQUESTS["InboundCall", "Hold"]
    assert errors({"channel": "Amazon"}, hold)
    assert errors(sample("hold-request.json") | {"data": 5}, hold)
    with pytest.raises(AssertionError):
        errors(1, {"multipleOf": 2})


# --- requests ------------------------------------------------------------------------------------


def sample(name: str) -> dict[str, Any]:
    data = json.loads((SAMPLES / name).read_text())
    assert isinstance(data, dict)
    return data


def test_a_definition_for_every_subtopic_and_alias() -> None:
    table = {(topic, name) for topic, names in SUBTOPICS.items() for name in names}
    assert set(REQUESTS) == table
    for alias in ("SetHold", "SendDTMF", "SendDigits", "SetMakeCall"):
        assert ("InboundCall", alias) in REQUESTS
        assert ("OutboundCall", alias) in REQUESTS
    assert ("Agent", "Update") in REQUESTS
    assert ("Agent", "GetAgentState") in REQUESTS
    assert ("InboundCall", "Skip") not in REQUESTS


def test_envelope_rules() -> None:
    for (_topic, subtopic), d in REQUESTS.items():
        assert set(d["required"]) >= {"channel", "topic", "subtopic", "source"}, subtopic
        assert d["properties"]["channel"]["enum"] == ["Amazon"]
        assert d["properties"]["source"]["minLength"] == 1
        assert d["properties"]["source"]["maxLength"] == 64
        assert d["properties"]["requestId"]["maxLength"] == 64
        assert "requestId" not in d["required"]


def data_required(topic: str, subtopic: str) -> bool:
    return "data" in REQUESTS[topic, subtopic]["required"]


def test_data_requirement_matches_the_protocol() -> None:
    assert data_required("InboundCall", "Consult")
    assert data_required("InboundCall", "MakeCall")
    assert not data_required("OutboundCall", "MakeCall")  # accepts the preview
    assert not data_required("OutboundCall", "Transfer")
    assert not data_required("InboundCall", "Hold")
    assert data_required("InboundCall", "SendDTMF")
    assert "data" not in REQUESTS["InboundCall", "Answer"]["properties"]
    queue = resolve(REQUESTS["OutboundCall", "QueueTransfer"]["properties"]["data"]["$ref"])
    assert queue["required"] == ["queueName"]
    assert set(queue["properties"]) == {"queueName", "isWarmTransfer"}


REQUEST_SAMPLES = sorted(
    f.name for f in SAMPLES.glob("*.json") if "message" not in json.loads(f.read_text())
)


@pytest.mark.parametrize("name", REQUEST_SAMPLES)
def test_published_request_against_schema(name: str) -> None:
    msg = sample(name)
    found = errors(msg, REQUESTS[msg["topic"], msg["subtopic"]])
    decodes = True
    try:
        p.decode_request(json.dumps(msg))
    except p.ProtocolError:
        decodes = False
    # the schema and the decoder agree (SendDTMF is published without the digits we require)
    assert (found == []) is decodes
    assert decodes is (name != "inboundcall-senddtmf-request.json")


GOOD = [
    ("OutboundCall", "Consult", {"quickConnect": "QC"}),
    ("OutboundCall", "Consult", "+15551234567"),
    ("InboundCall", "SetMakeCall", {"phoneNumber": "+15551234567", "queue": "Sales"}),
    ("OutboundCall", "MakeCall", None),
    ("Agent", "Update", {"label": "Break", "type": "Not Routable"}),
    ("Agent", "SetNotReady", {"ReasonCodeId": "Lunch"}),
    ("Simulator", "IncomingCall", {"phoneNumber": "+15551234567", "attributes": {"a": 1}}),
    ("Simulator", "OutboundResult", {"result": "busy"}),
    ("Simulator", "FailNext", {"subtopic": "Hold", "error": "x"}),
]
BAD = [
    ("OutboundCall", "QueueTransfer", {"isWarmTransfer": True}),
    ("InboundCall", "NumberPad", "12a"),
    ("InboundCall", "SendDigits", None),
    ("InboundCall", "MakeCall", "bob"),
    ("OutboundCall", "ExternalConsult", "bob"),
    ("Simulator", "IncomingCall", {"phoneNumber": "+15551234567", "ringSeconds": -1}),
    ("Simulator", "OutboundResult", {"result": "maybe"}),
    ("Simulator", "Configure", {"answerSeconds": "3"}),
]


@pytest.mark.parametrize(("topic", "subtopic", "data"), GOOD + BAD)
def test_schema_and_decoder_agree(topic: str, subtopic: str, data: Any) -> None:
    msg = {"channel": "Amazon", "topic": topic, "subtopic": subtopic, "source": "a", "data": data}
    valid = errors(msg, REQUESTS[topic, subtopic]) == []
    assert valid is ((topic, subtopic, data) in GOOD)
    try:
        p.decode_request(json.dumps(msg))
    except p.ProtocolError as err:
        assert not valid and err.type == "INVALID_DATA"
    else:
        assert valid


@pytest.mark.parametrize(
    "change",
    [{"channel": "Azure"}, {"source": ""}, {"source": "s" * 65}, {"requestId": 5}, {"topic": 1}],
)
def test_bad_envelopes_are_refused_by_the_schema(change: dict[str, Any]) -> None:
    msg = sample("hold-request.json") | change
    assert errors(msg, REQUESTS["InboundCall", "Hold"])


# --- events --------------------------------------------------------------------------------------


def test_a_definition_for_every_event() -> None:
    assert set(EVENT_DEFS) == set(EVENTS)
    for name in ("InboundCallStateChange", "StateSync", "Error"):
        assert ("InboundCall", name) in EVENT_DEFS
    assert ("System", "Error") in EVENT_DEFS
    for name in ("SetAgentState", "StateSync", "LoginSuccess", "LogoutSuccess", "GetStates"):
        assert ("Agent", name) in EVENT_DEFS


# User: outbound call events only; NotReady, Ready, make_call: absent from Mute/Unmute events
OPTIONAL_EVENT_KEYS = {"seq", "requestId", "reasonCode", "User", "NotReady", "Ready", "make_call"}


def test_events_require_every_key() -> None:
    """We always send every key (§2); only the [ext] envelope keys and reasonCode are optional."""
    seen: set[str] = set()

    def visit(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            if name in seen:
                return
            seen.add(name)
            node = DEFS[name]
            path = name
        for option in node.get("anyOf", []):
            visit(option, path)
        if "properties" in node:
            optional = set(node["properties"]) - set(node["required"])
            assert optional <= OPTIONAL_EVENT_KEYS, (path, optional)
            for key, sub in node["properties"].items():
                visit(sub, f"{path}.{key}")
        if "items" in node:
            visit(node["items"], f"{path}[]")

    visit({"$ref": "#/$defs/Event"}, "Event")
    assert {"Call", "AgentStateData", "CallStateSyncMessage", "ErrorMessage"} <= seen


# published pages whose shape differs from ours on purpose (samples/README.md)
KNOWN_DIFFERENCES = {
    "incoming-call-event-agent.json": "$.message.call.ResponseActual: missing previousStatus",
    # nextState is [ext] and always sent
    "agent-setagentstate-response-3.json": "$.message.data: missing nextState",
    "agent-setagentstate-event.json": "$.message.data: missing nextState",
    "agent-setagentstate-ready-event.json": "$.message.data: missing nextState",
    "agent-loginsuccess-response.json": "$.message.agentInfo: missing",  # routingProfile, queues
}
EVENT_SAMPLES = sorted(
    f.name for f in SAMPLES.glob("*.json") if "message" in json.loads(f.read_text())
)


@pytest.mark.parametrize("name", EVENT_SAMPLES)
def test_published_event_against_schema(name: str) -> None:
    msg = sample(name)
    found = errors(msg, EVENT_DEFS[msg["topic"], msg["subtopic"]])
    if name in KNOWN_DIFFERENCES:
        assert any(e.startswith(KNOWN_DIFFERENCES[name]) for e in found), found
    else:
        assert found == []


AT = 1_586_436_736_344
INFO = AgentInfo(login="agent1", name="Agent 1", queues=("Sales",))
AVAILABLE = AgentState("Available", "Available", "routable")
BREAK = AgentState("Break", "Break", "not_routable")
BUSY = AgentState("Busy", "Busy", "system")
AGENT = AgentSnapshot(info=INFO, logged_in=True, state=AVAILABLE, state_since=AT)
CONTACT = Contact(
    contact_id="c1",
    kind="outbound",
    topic="OutboundCall",
    state="live",
    since=AT,
    connections=(
        Connection("a1", "agent", "agent", "connected", AT, previous_status="connecting"),
        Connection("c1", "customer", "outbound", "hold", AT, phone_number="+15551234567"),
    ),
    attributes=(("k", "v"),),
)
RENDERED = {
    "call event": p.call_event(
        CONTACT, CONTACT.connections[0], "CustAnswered", frozenset({"swap"}), p.agent_info(AGENT)
    ),
    "mute event": p.agent_state_event(AGENT, BUSY, AT, frozenset({"unmute"}), mute_only=True),
    "call statesync": p.call_statesync("OutboundCall", CONTACT, {"c1": frozenset({"resume"})}),
    "call statesync, no contact": p.call_statesync("InboundCall", None, {}),
    "set agent state": p.agent_state_event(
        AgentSnapshot(info=INFO, logged_in=True, state=AVAILABLE, state_since=AT, next_state=BREAK),
        BUSY,
        AT,
        frozenset({"mute"}),
    ),
    "agent statesync": p.agent_statesync(AGENT, AVAILABLE, AT, frozenset({"NotReady"})),
    "agent statesync, logged out": p.agent_statesync(
        AgentSnapshot(info=INFO, logged_in=False, state=AVAILABLE, state_since=AT),
        AVAILABLE,
        AT,
        frozenset(),
    ),
    "login": p.login_success(AGENT),
    "logout": p.logout_success(AGENT, BREAK, AT, frozenset()),
    "get states": p.get_states([AVAILABLE, BREAK]),
    "ccp": p.ccp_agent_state(BUSY),
    "error": p.with_seq(
        p.error_event("Agent", "MUTE_FAILED", "x", "Mute failed.", {"a": [1]}, "r"), 3
    ),
    "protocol error": p.protocol_error_event(p.ProtocolError("INVALID_JSON", "not an object")),
}


@pytest.mark.parametrize("what", sorted(RENDERED))
def test_rendered_events_against_schema(what: str) -> None:
    msg = json.loads(p.encode(RENDERED[what]))
    assert errors(msg, EVENT_DEFS[msg["topic"], msg["subtopic"]]) == []
    assert errors(msg, SCHEMA) == []
