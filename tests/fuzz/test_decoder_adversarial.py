"""Adversarial input at the protocol decoder (hypothesis): whatever comes in, the decoder gives a
Request or a ProtocolError - never another exception - and the answer the hub would send for it
(the §5 error echoing the request, or a failure event echoing it) can always be encoded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fuzz_frames import REQUESTS, WEIRD, BadFrames, expected_error
from hypothesis import given, settings
from hypothesis import strategies as st

from ctibridge import protocol as p
from ctibridge.protocol.decode import MAX_DEPTH

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


def answerable(frame: str | bytes) -> p.Request | p.ProtocolError:
    """Decode ``frame`` and encode what the hub would answer; fails on any other exception."""
    try:
        request = p.decode_request(frame)
    except p.ProtocolError as err:
        assert err.type in p.ERROR_TEXT and err.text == p.ERROR_TEXT[err.type]
        answer = json.loads(p.encode(p.protocol_error_event(err)))
        assert answer["message"]["type"] == err.type
        if err.request is not None:
            assert answer["message"]["request"] == err.request
        return err
    # a call-control failure echoes the request to every app
    failure = p.error_event(request.topic, "HOLD_CALL_FAILED", "x", "y", request.raw, None)
    assert json.loads(p.encode(failure))["message"]["request"] == request.raw
    return request


@pytest.mark.parametrize("container", ["list", "dict"])
def test_nesting_at_every_depth_is_answerable(container: str) -> None:
    # every depth: where the JSON decoder's own limit falls depends on the call stack
    opener, closer = ("[", "]") if container == "list" else ('{"a":', "}")
    for depth in [*range(1, 1010), 5000]:
        nested = f"{opener * depth}1{closer * depth}"
        for head, key in (("InboundCall", "Consult"), ("Agent", "GetStates")):
            for extra in ("data", "x"):
                frame = (
                    f'{{"channel":"Amazon","topic":"{head}","subtopic":"{key}","source":"s",'
                    f'"{extra}":{nested}}}'
                )
                outcome = answerable(frame)
                if depth + 1 > MAX_DEPTH:
                    assert isinstance(outcome, p.ProtocolError), depth
                    assert outcome.type == "INVALID_JSON", depth


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_requests(data: st.DataObject) -> None:
    message: dict[str, Any] = dict(data.draw(st.sampled_from(REQUESTS)))
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from([*message, "requestId", "data", "extra"]))
        if data.draw(st.booleans()):
            message.pop(key, None)
        else:
            message[key] = data.draw(json_values | st.sampled_from(WEIRD))
    answerable(json.dumps(message))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet='{}[]":,01eE.-+tfnul \\/u"abc', max_size=400))
def test_json_shaped_noise(frame: str | bytes) -> None:
    answerable(frame)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32))
def test_the_fuzzer_frames_are_bad_and_answerable(seed: int) -> None:
    kind, frame, expected = BadFrames(seed, {"contactId": "c", "connectionId": "n"}).draw()
    outcome = answerable(frame)
    if kind != "forbidden":
        assert isinstance(outcome, p.ProtocolError) and outcome.type == expected.type
        assert expected_error(frame) == expected
