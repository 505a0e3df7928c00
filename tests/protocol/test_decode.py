"""decode_request: published requests, every alias and data shape, every protocol error (§3, §5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctibridge import protocol as p
from ctibridge.model import Endpoint
from ctibridge.protocol.registry import SUBTOPICS
from ctibridge.protocol.requests import (
    Digits,
    MakeCallData,
    NoData,
    OptionalId,
    QueueTransferData,
    RequestData,
    SimConfigure,
    SimContactRef,
    SimFailNext,
    SimIncomingCall,
    SimOutboundResult,
    SimPreviewCall,
    StateRef,
    Target,
)

SAMPLES = Path(__file__).parents[1] / "fixtures" / "samples"
ID = "1233dc5f-6d09-4752-85a0-cfca6fc445e7"
ABSENT = object()  # no "data" key at all


def request(topic: Any, subtopic: Any, data: Any = ABSENT, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"channel": "Amazon", "topic": topic, "subtopic": subtopic}
    msg["source"] = "myapp"
    if data is not ABSENT:
        msg["data"] = data
    msg.update(extra)
    return msg


def frame(msg: Any) -> bytes:
    return json.dumps(msg).encode()


def error_of(data: bytes | str) -> p.ProtocolError:
    with pytest.raises(p.ProtocolError) as info:
        p.decode_request(data)
    return info.value


# --- the published requests ----------------------------------------------------------------------

PUBLISHED: dict[str, tuple[str, str, RequestData]] = {
    "agent-setnotready-request.json": ("Agent", "SetNotReady", StateRef(label="Not Ready")),
    "agent-statesync-request.json": ("Agent", "StateSync", NoData()),
    "answer-request.json": ("InboundCall", "Answer", NoData()),
    "call-statesync-request.json": ("InboundCall", "StateSync", NoData()),
    "clear-contact-request.json": ("InboundCall", "ClearContact", OptionalId(None)),
    "disconnect-request.json": ("InboundCall", "Disconnect", OptionalId(ID)),
    "external-consult-request.json": (
        "OutboundCall",
        "ExternalConsult",
        Target(Endpoint("phone", "9154543543543")),
    ),
    "hold-request.json": ("InboundCall", "Hold", OptionalId(ID)),
    "inboundcall-setmakecall-request-1.json": (
        "InboundCall",
        "MakeCall",
        MakeCallData("+16013261548"),
    ),
    "queue-transfer-request.json": (
        "OutboundCall",
        "QueueTransfer",
        QueueTransferData("DevQueue1", warm=False),
    ),
    "resume-request.json": ("InboundCall", "Resume", OptionalId(ID)),
    "transfer-request.json": ("OutboundCall", "Transfer", Target(Endpoint("agent", "AECAgent"))),
    "update-state-request.json": (
        "Agent",
        "UpdateState",
        StateRef("Available", "Available", "routable"),
    ),
}
# published without data, but we require the digits (samples/README.md)
REFUSED = {
    "inboundcall-senddtmf-request.json": ("INVALID_DATA", "data: expected digits 0-9 * # , (1-64)")
}


def test_every_published_request_is_covered() -> None:
    requests = {
        f.name for f in SAMPLES.glob("*.json") if "message" not in json.loads(f.read_text())
    }
    assert requests == set(PUBLISHED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_request(name: str) -> None:
    raw = (SAMPLES / name).read_bytes()
    req = p.decode_request(raw)
    topic, subtopic, data = PUBLISHED[name]
    assert (req.topic, req.subtopic, req.source, req.data) == (topic, subtopic, "myapp", data)
    assert req.request_id is None
    assert req.raw == json.loads(raw)
    # str frames decode the same
    assert p.decode_request(raw.decode()) == req


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_published_request(name: str) -> None:
    err = error_of((SAMPLES / name).read_bytes())
    assert (err.type, err.code) == REFUSED[name]


# --- aliases -------------------------------------------------------------------------------------

ALIASES = [
    (topic, alias, canonical, data)
    for topic in ("InboundCall", "OutboundCall")
    for alias, canonical, data in [
        ("SetHold", "Hold", ID),
        ("SendDTMF", "NumberPad", "123"),
        ("SendDigits", "NumberPad", "123"),
        ("SetMakeCall", "MakeCall", "+15551234567"),
    ]
] + [
    ("Agent", "Update", "UpdateState", {"label": "Available"}),
    ("Agent", "GetAgentState", "GetStates", ABSENT),
]


@pytest.mark.parametrize(("topic", "alias", "canonical", "data"), ALIASES)
def test_alias(topic: str, alias: str, canonical: str, data: Any) -> None:
    by_alias = p.decode_request(frame(request(topic, alias, data)))
    by_name = p.decode_request(frame(request(topic, canonical, data)))
    assert by_alias.subtopic == canonical
    assert by_alias.data == by_name.data


def test_table_aliases_are_exactly_the_documented_ones() -> None:
    aliases = {
        (topic, name, canonical)
        for topic, table in SUBTOPICS.items()
        for name, (canonical, _) in table.items()
        if name != canonical
    }
    assert aliases == {(t, a, c) for t, a, c, _ in ALIASES}


def test_subtopic_is_trimmed_and_case_sensitive() -> None:
    assert p.decode_request(frame(request("InboundCall", "  Hold\t"))).subtopic == "Hold"
    assert error_of(frame(request("InboundCall", "hold"))).type == "UNKNOWN_SUBTOPIC"


# --- data shapes ---------------------------------------------------------------------------------

VALID: list[tuple[str, str, Any, RequestData]] = [
    ("InboundCall", "Answer", ABSENT, NoData()),
    ("InboundCall", "Answer", {"ignored": [1, 2]}, NoData()),
    ("OutboundCall", "Reject", None, NoData()),
    ("InboundCall", "Hold", ABSENT, OptionalId(None)),
    ("InboundCall", "Hold", None, OptionalId(None)),
    ("InboundCall", "Hold", "", OptionalId(None)),
    ("InboundCall", "Hold", "c-1", OptionalId("c-1")),
    ("OutboundCall", "Resume", "k-2", OptionalId("k-2")),
    ("InboundCall", "Disconnect", ABSENT, OptionalId(None)),
    ("InboundCall", "ClearContact", "c-1", OptionalId("c-1")),
    ("InboundCall", "Consult", "+15551234567", Target(Endpoint("phone", "+15551234567"))),
    ("InboundCall", "Consult", "5551234", Target(Endpoint("phone", "5551234"))),
    ("InboundCall", "Consult", "Bob Smith", Target(Endpoint("agent", "Bob Smith"))),
    (
        "InboundCall",
        "Consult",
        {"phoneNumber": "5551234567"},
        Target(Endpoint("phone", "5551234567")),
    ),
    (
        "InboundCall",
        "Consult",
        {"quickConnect": "Sales QC"},
        Target(Endpoint("quick_connect", "Sales QC")),
    ),
    ("OutboundCall", "Consult", {"agentName": "bob"}, Target(Endpoint("agent", "bob"))),
    ("OutboundCall", "ExternalConsult", "+4412345678", Target(Endpoint("phone", "+4412345678"))),
    ("OutboundCall", "Transfer", ABSENT, Target(None)),
    ("OutboundCall", "Transfer", None, Target(None)),
    ("InboundCall", "Transfer", {"quickConnect": "QC"}, Target(Endpoint("quick_connect", "QC"))),
    ("InboundCall", "Transfer", "+15551234567", Target(Endpoint("phone", "+15551234567"))),
    ("InboundCall", "QueueTransfer", {"queueName": "Q"}, QueueTransferData("Q", False)),
    (
        "InboundCall",
        "QueueTransfer",
        {"queueName": "Q", "isWarmTransfer": True},
        QueueTransferData("Q", True),
    ),
    ("InboundCall", "NumberPad", "0123456789*#,", Digits("0123456789*#,")),
    ("InboundCall", "NumberPad", "1" * 64, Digits("1" * 64)),
    ("InboundCall", "Swap", ABSENT, NoData()),
    ("InboundCall", "Conference", ABSENT, NoData()),
    ("InboundCall", "ConsultDrop", ABSENT, NoData()),
    ("InboundCall", "AcceptWarmTransfer", ABSENT, NoData()),
    ("OutboundCall", "Skip", ABSENT, NoData()),
    ("InboundCall", "MakeCall", "+15551234567", MakeCallData("+15551234567")),
    (
        "OutboundCall",
        "MakeCall",
        {"phoneNumber": "+15551234567", "queue": "Sales"},
        MakeCallData("+15551234567", "Sales"),
    ),
    ("OutboundCall", "MakeCall", ABSENT, MakeCallData(None)),
    ("OutboundCall", "SetMakeCall", None, MakeCallData(None)),
    ("OutboundCall", "StateSync", ABSENT, NoData()),
    ("Agent", "UpdateState", {"label": "Break"}, StateRef("Break")),
    ("Agent", "UpdateState", {"code": "brk"}, StateRef(code="brk")),
    ("Agent", "UpdateState", {"label": "x", "type": "Routable"}, StateRef("x", type="routable")),
    (
        "Agent",
        "UpdateState",
        {"label": "x", "type": "Not Routable"},
        StateRef("x", type="not_routable"),
    ),
    (
        "Agent",
        "UpdateState",
        {"label": "x", "type": "NOT_ROUTABLE"},
        StateRef("x", type="not_routable"),
    ),
    ("Agent", "UpdateState", {"label": "x", "type": " offline "}, StateRef("x", type="offline")),
    ("Agent", "UpdateState", {"label": "x", "type": "System"}, StateRef("x", type="system")),
    ("Agent", "SetNotReady", {"ReasonCodeId": "Lunch"}, StateRef("Lunch")),
    ("Agent", "Mute", ABSENT, NoData()),
    ("Agent", "Unmute", ABSENT, NoData()),
    ("Agent", "Login", ABSENT, NoData()),
    ("Agent", "Logout", ABSENT, NoData()),
    ("Agent", "CcpAgentState", ABSENT, NoData()),
    ("Agent", "GetStates", ABSENT, NoData()),
    ("Agent", "StateSync", {"ignored": True}, NoData()),
    (
        "Simulator",
        "IncomingCall",
        {"phoneNumber": "+15551234567"},
        SimIncomingCall("+15551234567"),
    ),
    (
        "Simulator",
        "IncomingCall",
        {
            "phoneNumber": "+15551234567",
            "dnis": "+18005550100",
            "queue": "Sales",
            "attributes": {"lang": "fr", "vip": True, "n": 3, "score": 1.5, "none": None},
            "ringSeconds": 5,
        },
        SimIncomingCall(
            "+15551234567",
            "+18005550100",
            "Sales",
            (("lang", "fr"), ("vip", "true"), ("n", "3"), ("score", "1.5"), ("none", "")),
            5.0,
        ),
    ),
    ("Simulator", "CustomerHangup", ABSENT, SimContactRef()),
    ("Simulator", "ThirdPartyAnswer", {}, SimContactRef()),
    ("Simulator", "ThirdPartyHangup", {"contactId": "c-9"}, SimContactRef("c-9")),
    ("Simulator", "OutboundResult", {"result": "noAnswer"}, SimOutboundResult("noAnswer")),
    (
        "Simulator",
        "OutboundResult",
        {"result": "busy", "contactId": "c"},
        SimOutboundResult("busy", "c"),
    ),
    ("Simulator", "Configure", ABSENT, SimConfigure()),
    ("Simulator", "Configure", {"answerSeconds": 0, "ringSeconds": 2.5}, SimConfigure(0, 2.5)),
    ("Simulator", "FailNext", {"subtopic": "SetHold"}, SimFailNext("Hold")),
    (
        "Simulator",
        "FailNext",
        {"subtopic": "Update", "error": "boom"},
        SimFailNext("UpdateState", "boom"),
    ),
    ("Simulator", "FailNext", {"subtopic": "Skip"}, SimFailNext("Skip")),
    (
        "Simulator",
        "PreviewCall",
        {"phoneNumber": "+15551234567", "campaign": "Spring"},
        SimPreviewCall("+15551234567", "Spring"),
    ),
    ("Simulator", "Reset", ABSENT, NoData()),
]


@pytest.mark.parametrize(("topic", "subtopic", "data", "expected"), VALID)
def test_valid_data(topic: str, subtopic: str, data: Any, expected: RequestData) -> None:
    req = p.decode_request(frame(request(topic, subtopic, data)))
    assert req.data == expected


def family(topic: str) -> str:
    return "call" if topic in ("InboundCall", "OutboundCall") else topic


def test_every_subtopic_has_a_valid_case() -> None:
    cases = [(t, s) for t, s, _, _ in VALID] + [(t, a) for t, a, _, _ in ALIASES]
    covered = {(family(t), s) for t, s in cases}
    assert {(family(t), s) for t, table in SUBTOPICS.items() for s in table} <= covered


@pytest.mark.parametrize(
    ("topic", "subtopic", "data", "expected"),
    # absent/null data differs for MakeCall (accept the preview: OutboundCall only)
    [case for case in VALID if family(case[0]) == "call" and case[2] not in (ABSENT, None)],
)
def test_call_data_is_the_same_under_both_call_topics(
    topic: str, subtopic: str, data: Any, expected: RequestData
) -> None:
    for other in ("InboundCall", "OutboundCall"):
        if subtopic in SUBTOPICS[other]:
            assert p.decode_request(frame(request(other, subtopic, data))).data == expected


INVALID: list[tuple[str, str, Any, str]] = [
    ("InboundCall", "Hold", 5, "data"),
    ("InboundCall", "Resume", {"connectionId": "x"}, "data"),
    ("InboundCall", "Consult", ABSENT, "data"),
    ("InboundCall", "Consult", None, "data"),
    ("InboundCall", "Consult", 5551234567, "data"),
    ("InboundCall", "Consult", "", "data"),
    ("InboundCall", "Consult", "   ", "data"),
    ("InboundCall", "Consult", "12-34", "phoneNumber"),
    ("InboundCall", "Consult", "+1234567890123456", "phoneNumber"),
    ("InboundCall", "Consult", {"phoneNumber": "123"}, "phoneNumber"),
    ("InboundCall", "Consult", {"agentName": ""}, "agentName"),
    ("InboundCall", "Consult", {}, "exactly one of phoneNumber, quickConnect, agentName"),
    (
        "InboundCall",
        "Consult",
        {"phoneNumber": "+15551234567", "agentName": "bob"},
        "exactly one of phoneNumber, quickConnect, agentName",
    ),
    ("OutboundCall", "ExternalConsult", "bob", "data"),
    ("OutboundCall", "ExternalConsult", {"phoneNumber": "+15551234567"}, "data"),
    ("OutboundCall", "ExternalConsult", ABSENT, "data"),
    ("OutboundCall", "Transfer", 42, "data"),
    ("OutboundCall", "QueueTransfer", ABSENT, "data"),
    ("OutboundCall", "QueueTransfer", "DevQueue1", "data"),
    ("OutboundCall", "QueueTransfer", {}, "queueName"),
    ("OutboundCall", "QueueTransfer", {"queueName": ""}, "queueName"),
    (
        "OutboundCall",
        "QueueTransfer",
        {"queueName": "Q", "isWarmTransfer": "yes"},
        "isWarmTransfer",
    ),
    ("InboundCall", "NumberPad", ABSENT, "data"),
    ("InboundCall", "SendDTMF", "", "data"),
    ("InboundCall", "SendDigits", "12a", "data"),
    ("InboundCall", "NumberPad", "1" * 65, "data"),
    ("InboundCall", "NumberPad", 123, "data"),
    ("InboundCall", "MakeCall", ABSENT, "data"),
    ("InboundCall", "SetMakeCall", None, "data"),
    ("InboundCall", "MakeCall", "bob", "data"),
    ("OutboundCall", "MakeCall", {"queue": "Sales"}, "phoneNumber"),
    ("OutboundCall", "MakeCall", {"phoneNumber": "+15551234567", "queue": 1}, "queue"),
    ("Agent", "UpdateState", ABSENT, "data"),
    ("Agent", "UpdateState", "Available", "data"),
    ("Agent", "UpdateState", {}, "label"),
    ("Agent", "UpdateState", {"label": "", "code": ""}, "label"),
    ("Agent", "UpdateState", {"label": 3}, "label"),
    ("Agent", "Update", {"label": "x", "type": "busy"}, "type"),
    ("Agent", "SetNotReady", ABSENT, "data"),
    ("Agent", "SetNotReady", {"reasonCodeId": "Lunch"}, "ReasonCodeId"),
    ("Simulator", "IncomingCall", ABSENT, "data"),
    ("Simulator", "IncomingCall", {}, "phoneNumber"),
    (
        "Simulator",
        "IncomingCall",
        {"phoneNumber": "+15551234567", "ringSeconds": -1},
        "ringSeconds",
    ),
    (
        "Simulator",
        "IncomingCall",
        {"phoneNumber": "+15551234567", "ringSeconds": True},
        "ringSeconds",
    ),
    ("Simulator", "IncomingCall", {"phoneNumber": "+15551234567", "attributes": []}, "attributes"),
    (
        "Simulator",
        "IncomingCall",
        {"phoneNumber": "+15551234567", "attributes": {"a": {"b": 1}}},
        "attributes[...]",
    ),
    ("Simulator", "CustomerHangup", "c-1", "data"),
    ("Simulator", "ThirdPartyHangup", {"contactId": 1}, "contactId"),
    ("Simulator", "OutboundResult", ABSENT, "data"),
    ("Simulator", "OutboundResult", {}, "result"),
    ("Simulator", "OutboundResult", {"result": "maybe"}, "result"),
    ("Simulator", "Configure", {"answerSeconds": "3"}, "answerSeconds"),
    ("Simulator", "Configure", {"ringSeconds": -0.5}, "ringSeconds"),
    ("Simulator", "FailNext", {}, "subtopic"),
    ("Simulator", "FailNext", {"subtopic": "Nope"}, "subtopic"),
    ("Simulator", "FailNext", {"subtopic": "IncomingCall"}, "subtopic"),
    ("Simulator", "FailNext", {"subtopic": "hold"}, "subtopic"),
    ("Simulator", "PreviewCall", {"campaign": "x"}, "phoneNumber"),
]
INVALID = [(t, s, d, "data" if c.startswith("exactly one of") else c) for t, s, d, c in INVALID]


@pytest.mark.parametrize(("topic", "subtopic", "data", "code"), INVALID)
def test_invalid_data(topic: str, subtopic: str, data: Any, code: str) -> None:
    msg = request(topic, subtopic, data, requestId="r-9")
    err = error_of(frame(msg))
    # the code names the field at fault and what the subtopic's data must be (§5)
    shape = SUBTOPICS[topic][subtopic][1]  # type: ignore[index]
    assert shape is not None
    path = "data" if code == "data" else f"data.{code}"
    assert (err.type, err.code) == ("INVALID_DATA", f"{path}: expected {shape.expects}")
    assert (err.topic, err.request, err.request_id) == (topic, msg, "r-9")
    assert err.text == p.ERROR_TEXT["INVALID_DATA"]


# --- envelope errors -----------------------------------------------------------------------------


def test_frame_size_limit_is_checked_before_parsing() -> None:
    msg = frame(request("Agent", "StateSync"))
    padded = msg + b" " * (p.MAX_FRAME_BYTES - len(msg))
    assert p.decode_request(padded).subtopic == "StateSync"
    err = error_of(padded + b" ")
    assert (err.type, err.topic, err.request) == ("FRAME_TOO_LARGE", "System", None)
    # not even valid JSON: the size is what is reported
    assert error_of(b"{" * (p.MAX_FRAME_BYTES + 1)).type == "FRAME_TOO_LARGE"


def test_frame_size_of_text_counts_utf8_bytes() -> None:
    small = request("Agent", "StateSync", source="é" * 64)
    assert p.decode_request(json.dumps(small, ensure_ascii=False)).source == "é" * 64
    # 30000 characters, 60000+ bytes: fits
    fits = json.dumps(request("Agent", "StateSync", pad="é" * 30000), ensure_ascii=False)
    assert len(fits.encode()) <= p.MAX_FRAME_BYTES
    assert p.decode_request(fits).subtopic == "StateSync"
    # 40000 characters, 80000+ bytes: too large though shorter than the limit in characters
    big = json.dumps(request("Agent", "StateSync", pad="é" * 40000), ensure_ascii=False)
    assert len(big) < p.MAX_FRAME_BYTES < len(big.encode())
    assert error_of(big).type == "FRAME_TOO_LARGE"
    assert error_of("x" * (p.MAX_FRAME_BYTES + 1)).type == "FRAME_TOO_LARGE"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"{",
        b"nope",
        b'{"channel": "Amazon",}',
        b"[]",
        b"1",
        b'"Amazon"',
        b"null",
        b"\xff\xfe{}",
        b'{"a": "\xff"}',
        b"[" * 60000,
        '{"a": "\ud800"}',
    ],
)
def test_invalid_json(data: bytes | str) -> None:
    err = error_of(data)
    assert (err.type, err.topic, err.request, err.request_id) == (
        "INVALID_JSON",
        "System",
        None,
        None,
    )
    assert err.code


BASE = request("InboundCall", "Hold")


def mutated(**changes: Any) -> dict[str, Any]:
    msg = dict(BASE)
    for key, value in changes.items():
        if value is ABSENT:
            del msg[key]
        else:
            msg[key] = value
    return msg


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (mutated(channel=ABSENT), "channel"),
        (mutated(channel="Azure"), "channel"),
        (mutated(channel="amazon"), "channel"),
        (mutated(channel=None), "channel"),
        (mutated(topic=ABSENT), "topic"),
        (mutated(topic=1), "topic"),
        (mutated(subtopic=ABSENT), "subtopic"),
        (mutated(subtopic=["Hold"]), "subtopic"),
        (mutated(source=ABSENT), "source"),
        (mutated(source=""), "source"),
        (mutated(source="s" * 65), "source"),
        (mutated(source=7), "source"),
        (mutated(requestId=5), "requestId"),
        (mutated(requestId=None), "requestId"),
        (mutated(requestId="r" * 65), "requestId"),
    ],
)
def test_invalid_message(msg: dict[str, Any], code: str) -> None:
    err = error_of(frame(msg))
    assert err.type == "INVALID_MESSAGE"
    assert err.code.startswith(f"{code}: expected "), err.code  # the field and its shape
    assert err.request == msg
    assert err.topic == (msg["topic"] if isinstance(msg.get("topic"), str) else "System")


def test_request_id_is_kept_when_valid_even_if_the_rest_is_not() -> None:
    assert error_of(frame(mutated(source="", requestId="r-1"))).request_id == "r-1"
    assert error_of(frame(mutated(topic=3, requestId="r-2"))).request_id == "r-2"
    assert error_of(frame(mutated(requestId="r" * 65))).request_id is None
    assert error_of(frame(mutated(requestId=5))).request_id is None


def test_request_id_and_limits_accepted() -> None:
    req = p.decode_request(frame(mutated(requestId="r" * 64, source="s" * 64, extra={"x": 1})))
    assert (req.request_id, req.source) == ("r" * 64, "s" * 64)
    assert req.raw is not None and req.raw["extra"] == {"x": 1}
    assert p.decode_request(frame(mutated(requestId=""))).request_id is None


@pytest.mark.parametrize("topic", ["Foo", "inboundcall", "System", ""])
def test_unknown_topic(topic: str) -> None:
    msg = mutated(topic=topic, requestId="r")
    err = error_of(frame(msg))
    assert (err.type, err.topic, err.request_id) == ("UNKNOWN_TOPIC", topic, "r")
    assert err.code.startswith(f"topic {topic}: ")
    hint = "did you mean InboundCall?" if topic == "inboundcall" else "expected one of"
    assert hint in err.code
    assert err.text == p.ERROR_TEXT["UNKNOWN_TOPIC"]


@pytest.mark.parametrize(
    ("topic", "subtopic"),
    [
        ("InboundCall", "Skip"),  # OutboundCall only
        ("InboundCall", "SetAgentState"),
        ("Agent", "Answer"),
        ("Agent", "mute"),
        ("OutboundCall", "IncomingCall"),
        ("Simulator", "Hold"),
        ("InboundCall", ""),
    ],
)
def test_unknown_subtopic(topic: str, subtopic: str) -> None:
    err = error_of(frame(request(topic, subtopic)))
    assert (err.type, err.topic) == ("UNKNOWN_SUBTOPIC", topic)
    assert err.code.startswith(f"{subtopic}: ")
    if subtopic == "mute":
        assert err.code == "mute: did you mean Mute?"


def test_envelope_errors_come_before_topic_errors() -> None:
    err = error_of(frame({"channel": "Amazon", "topic": "Foo", "subtopic": "x"}))
    assert (err.type, err.topic) == ("INVALID_MESSAGE", "Foo")
    assert err.code == "source: expected a string of 1-64 characters naming the app"


# --- error table ---------------------------------------------------------------------------------


def test_failure_for() -> None:
    assert p.failure_for("Hold") == ("HOLD_CALL_FAILED", "Call hold failed.")
    assert p.failure_for("Consult") == ("CONSULT_CALL_FAILED", "Consult call failed.")
    assert p.failure_for("ExternalConsult") == ("CONSULT_CALL_FAILED", "External consult failed.")
    assert p.failure_for("AcceptWarmTransfer") == ("ANSWER_CALL_FAILED", "Answering call failed.")
    assert p.failure_for("NumberPad") == ("SEND_DTMF_FAILED", "Failed to send DTMF.")
    assert p.failure_for("UpdateState") == (
        "UPDATE_AGENT_STATE_FAILED",
        "Agent state change failed.",
    )
    with pytest.raises(KeyError):
        p.failure_for("StateSync")
    with pytest.raises(KeyError):
        p.failure_for("SetHold")  # canonical names only


ANSWER_ONLY = {"StateSync", "GetStates", "CcpAgentState"}


def test_every_command_has_a_failure_with_a_known_text() -> None:
    for table in SUBTOPICS.values():
        for canonical, _ in table.values():
            if canonical in ANSWER_ONLY:
                continue
            type_, text = p.failure_for(canonical)
            assert type_ in p.ERROR_TEXT
            assert text.endswith(".")


def test_error_text_covers_every_type() -> None:
    protocol_types = {
        "INVALID_JSON",
        "INVALID_MESSAGE",
        "UNKNOWN_TOPIC",
        "UNKNOWN_SUBTOPIC",
        "INVALID_DATA",
        "FRAME_TOO_LARGE",
        "RATE_LIMITED",
        "FORBIDDEN",
        "RESUME_GAP",
        "UNKNOWN_AGENT",
        "SIMULATOR_FAILED",
        "AGENT_STATE_NOT_FOUND",
    }
    assert protocol_types <= set(p.ERROR_TEXT)
    assert p.ERROR_TEXT["AGENT_STATE_NOT_FOUND"] == "Specified Agent State not found."
    assert all(text.strip() for text in p.ERROR_TEXT.values())


# --- anything in, only ProtocolError out ---------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
topics = st.sampled_from([*SUBTOPICS, "Foo"]) | json_values
subtopics = (
    st.sampled_from(sorted({s for table in SUBTOPICS.values() for s in table})) | json_values
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.just("Amazon") | json_values,
        "topic": topics,
        "subtopic": subtopics,
        "source": st.just("app") | json_values,
        "requestId": st.text(max_size=70) | json_values,
        "data": json_values,
    },
)


def check(data: bytes | str) -> None:
    try:
        req = p.decode_request(data)
    except p.ProtocolError as err:
        assert err.type in p.ERROR_TEXT
        assert err.text == p.ERROR_TEXT[err.type]
        assert err.request_id is None or len(err.request_id) <= 64
        return
    assert req.subtopic in {canonical for canonical, _ in SUBTOPICS[req.topic].values()}
    assert req.raw is not None


@settings(max_examples=300)
@given(json_values)
def test_any_json_value(value: Any) -> None:
    check(json.dumps(value))


@settings(max_examples=500)
@given(envelopes)
def test_any_envelope(msg: dict[str, Any]) -> None:
    check(frame(msg))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=300)
@given(st.text(max_size=200))
def test_any_text(data: str) -> None:
    check(data)


@pytest.mark.parametrize(
    "frame",
    [
        b'"\\ud800"',
        b'{"channel": "Amazon", "source": "\\ud800"}',
        b'{"a": "\\udc00 x"}',
        b'{"a": "\\uD83D"}',
    ],
)
def test_a_lone_surrogate_escape_gets_a_clear_invalid_json_code(frame: bytes) -> None:
    """msgspec calls it "Input data was truncated": an app would look for a cut-off frame."""
    err = error_of(frame)
    assert err.type == "INVALID_JSON"
    assert "surrogate" in err.code and "truncated" not in err.code


def test_a_real_truncation_and_a_surrogate_pair_are_not_called_lone_surrogates() -> None:
    assert error_of(b'{"source": "\\ud83d\\ude00').code == "Input data was truncated"
    assert error_of(b'{"a": 1').code == "Input data was truncated"
