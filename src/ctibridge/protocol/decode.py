"""One frame in, one typed :class:`Request` out, or a :class:`ProtocolError` (protocol.md §2-§5).

Checks run in the order of §5's error types, so each bad request gets the most basic fault: size
(before parsing), JSON object, envelope fields, topic, subtopic, data.  The frame is parsed once
into Python values (kept as ``Request.raw`` and echoed in errors); the envelope and each
subtopic's data are then validated with msgspec types whose decoding plans are built once.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import UNSET, Meta, UnsetType

from .errors import ProtocolError
from .registry import SUBTOPICS, unknown_subtopic, unknown_topic
from .requests import NoData, Request, Topic
from .shapes import InvalidData

MAX_FRAME_BYTES = 65536
MAX_REQUEST_ID = 64
# deeper JSON is refused: no request needs it, and the error (or failure) event that echoes a
# request nests it three levels further, past what the encoder can write (~1000 levels)
MAX_DEPTH = 32
# a \uD800-\uDFFF escape not part of a surrogate pair is no character: msgspec reports it as
# "Input data was truncated", which would send an app looking for a cut-off frame
_LONE_SURROGATE = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"  # a high one without its low one
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # a low one alone
)

Source = Annotated[str, Meta(min_length=1, max_length=64, description="the app that sends it")]
RequestId = Annotated[
    str,
    Meta(max_length=MAX_REQUEST_ID, description="echoed on every event the request causes"),
]


class RequestEnvelope(msgspec.Struct, frozen=True, rename="camel"):
    """The envelope of every request; ``data`` is validated per subtopic afterwards."""

    channel: Literal["Amazon"]
    topic: str
    subtopic: str
    source: Source
    request_id: RequestId | UnsetType = UNSET


_JSON = msgspec.json.Decoder()
_AT_RE = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING_RE = re.compile(r"missing required field `(?P<field>[^`]+)`")


def _fault(err: msgspec.ValidationError) -> str:
    """The field a msgspec validation error points at, as a dotted path (``source``,
    ``data.queueName``); empty for the root."""
    message = str(err)
    at = _AT_RE.search(message)
    path = at["path"] if at else ""
    missing = _MISSING_RE.search(message)
    if missing:
        path = f"{path}.{missing['field']}" if path else missing["field"]
    return path


def _data_fault(err: msgspec.ValidationError) -> str:
    path = _fault(err)
    return path.removeprefix("data.") if path.startswith("data.") else "data"


# what each envelope field must be (§2): the INVALID_MESSAGE code names the field and this
_ENVELOPE_EXPECTS: dict[str, str] = {
    "channel": '"Amazon"',
    "topic": "a string: InboundCall, OutboundCall or Agent",
    "subtopic": "a string naming a subtopic of the topic",
    "source": "a string of 1-64 characters naming the app",
    "requestId": f"a string of at most {MAX_REQUEST_ID} characters",
}


def _envelope_fault(err: msgspec.ValidationError) -> str:
    field = _fault(err)
    if field in _ENVELOPE_EXPECTS:
        return f"{field}: expected {_ENVELOPE_EXPECTS[field]}"
    return f"{field or 'message'}: expected an object with channel, topic, subtopic, source"


def _frame_size(frame: bytes | str) -> int:
    if isinstance(frame, str):
        # a character is 1-4 bytes of UTF-8: only encode when the bound does not decide
        if len(frame) > MAX_FRAME_BYTES:
            return len(frame)
        if len(frame) * 4 <= MAX_FRAME_BYTES:
            return len(frame)
        return len(frame.encode("utf-8", "surrogatepass"))
    return len(frame)


def _depth_exceeds(obj: Any, limit: int) -> bool:
    """Whether ``obj`` nests containers more than ``limit`` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _json_fault(frame: bytes | str, reason: str) -> str:
    """msgspec's reason, unless the frame's only fault is a lone surrogate escape."""
    data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
    if "truncated" in reason and _LONE_SURROGATE.search(data):
        return "invalid \\u escape: a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character"
    return reason


def decode_request(frame: bytes | str) -> Request:
    """The request ``frame`` carries; raises :class:`ProtocolError` for anything else."""
    size = _frame_size(frame)
    if size > MAX_FRAME_BYTES:
        raise ProtocolError("FRAME_TOO_LARGE", f"{size} bytes > {MAX_FRAME_BYTES}")
    try:
        obj = _JSON.decode(frame)
    except msgspec.DecodeError as err:
        raise ProtocolError("INVALID_JSON", _json_fault(frame, str(err))) from None
    except (RecursionError, UnicodeError):
        raise ProtocolError("INVALID_JSON", "JSON is malformed") from None
    if not isinstance(obj, dict):
        raise ProtocolError("INVALID_JSON", "not an object")
    if _depth_exceeds(obj, MAX_DEPTH):
        raise ProtocolError("INVALID_JSON", f"nested deeper than {MAX_DEPTH} levels")

    raw = cast(dict[str, Any], obj)
    topic_value = raw.get("topic")
    rid = raw.get("requestId")

    def fail(type_: str, code: str) -> ProtocolError:
        return ProtocolError(
            type_,
            code,
            topic=topic_value if isinstance(topic_value, str) else "System",
            request=raw,
            request_id=rid if isinstance(rid, str) and len(rid) <= MAX_REQUEST_ID else None,
        )

    try:
        env = msgspec.convert(raw, RequestEnvelope)
    except msgspec.ValidationError as err:
        raise fail("INVALID_MESSAGE", _envelope_fault(err)) from None
    table = SUBTOPICS.get(cast(Topic, env.topic))
    if table is None:
        raise fail("UNKNOWN_TOPIC", unknown_topic(env.topic))
    entry = table.get(env.subtopic.strip())
    if entry is None:
        raise fail("UNKNOWN_SUBTOPIC", unknown_subtopic(cast(Topic, env.topic), env.subtopic))
    canonical, shape = entry
    if shape is None:
        data: Any = NoData()
    else:
        try:
            data = shape.parse(raw)
        except msgspec.ValidationError as err:
            raise fail("INVALID_DATA", shape.fault(_data_fault(err))) from None
        except InvalidData as err:
            raise fail("INVALID_DATA", shape.fault(err.code)) from None
    return Request(
        topic=cast(Topic, env.topic),
        subtopic=canonical,
        source=env.source,
        data=data,
        request_id=env.request_id or None,
        raw=raw,
    )
