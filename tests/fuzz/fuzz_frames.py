"""A seeded generator of bad frames for the fuzz suite: random bytes and text, broken and
adversarial JSON, and mutations of every valid request (each envelope field removed, retyped or
replaced, bad data per subtopic, another agent's ids).

Each frame comes with the §5 error the hub must answer it with - worked out by the protocol's own
decoder (which has its own tests) for malformed frames, and FORBIDDEN for requests naming
another agent's contact.  A mutation that happens to give a valid request is not a bad frame and
is drawn again, so every frame sent is bad.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import msgspec

from ctibridge import protocol as p
from ctibridge.protocol.registry import SUBTOPICS

Frame = str | bytes


class Expected(msgspec.Struct, frozen=True):
    """The error a bad frame must get: its type, topic and echoed requestId."""

    type: str
    topic: str
    request_id: str | None


# a plausible data value for each subtopic that takes data (mutations start from valid requests)
GOOD_DATA: dict[str, Any] = {
    "Hold": "c-1", "Resume": "cn-1", "Disconnect": "cn-1", "ClearContact": "c-1",
    "Consult": "+15557654321", "ExternalConsult": "+15557654321", "Transfer": "+15557654321",
    "QueueTransfer": {"queueName": "Sales", "isWarmTransfer": False},
    "NumberPad": "123#", "MakeCall": "+15551234567",
    "UpdateState": {"label": "Break"}, "SetNotReady": {"ReasonCodeId": "Break"},
    "IncomingCall": {"phoneNumber": "+15551234567"}, "CustomerHangup": {},
    "ThirdPartyAnswer": {}, "ThirdPartyHangup": {}, "OutboundResult": {"result": "busy"},
    "Configure": {"answerSeconds": 3}, "FailNext": {"subtopic": "Hold"},
    "PreviewCall": {"phoneNumber": "+15551234567"},
}  # fmt: skip
WEIRD: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**63, -(2**70), "", " ", "x" * 70, "\u0000", "\u202e",
    "😀", [], [1, "a"], {}, {"a": None}, "+1", "+123456789012345678", "12ab", "#" * 65,
]  # fmt: skip
TOPIC_TYPOS = ["Foo", "inboundcall", "Inbound", " Agent", "agent", "AGENT", "System", "Simulatorr"]


def _requests() -> list[dict[str, Any]]:
    out = []
    for topic, table in SUBTOPICS.items():
        for name, (canonical, _shape) in table.items():
            message: dict[str, Any] = {"channel": "Amazon", "topic": topic, "subtopic": name,
                                       "source": "fuzz"}  # fmt: skip
            if canonical in GOOD_DATA:
                message["data"] = GOOD_DATA[canonical]
            out.append(message)
    return out


REQUESTS = _requests()


def expected_error(frame: Frame) -> Expected | None:
    """The error the decoder gives ``frame``; None when it is a valid request."""
    try:
        p.decode_request(frame)
    except p.ProtocolError as err:
        return Expected(err.type, err.topic, err.request_id)
    return None


class BadFrames:
    """Bad frames from ``seed``; ``foreign`` holds ids of another agent's contact and legs."""

    def __init__(self, seed: int, foreign: dict[str, str] | None = None) -> None:
        self.rng = random.Random(seed)
        self.foreign = foreign or {}
        self.kinds: Counter[str] = Counter()
        self._makers = [
            (self._random_bytes, 6), (self._random_text, 6), (self._not_an_object, 5),
            (self._truncated, 8), (self._broken_syntax, 8), (self._deep, 3), (self._numbers, 4),
            (self._envelope, 25), (self._data, 20), (self._oversized, 0.3),
            (self._forbidden, 6 if self.foreign else 0),
        ]  # fmt: skip
        self._weights = [w for _, w in self._makers]

    def draw(self) -> tuple[str, Frame, Expected]:
        """The next bad frame: (kind, frame, the error it must get)."""
        while True:
            ((make, _),) = self.rng.choices(self._makers, self._weights)
            kind = make.__name__.lstrip("_")
            frame, forced = make()
            expected = forced or expected_error(frame)
            if expected is not None:
                self.kinds[kind] += 1
                return kind, frame, expected

    # --- raw -------------------------------------------------------------------------------------

    def _random_bytes(self) -> tuple[Frame, None]:
        return self.rng.randbytes(self.rng.randrange(0, 300)), None

    def _random_text(self) -> tuple[Frame, None]:
        alphabet = '{}[]":,0123456789eE.-+tfnul \\/\n\t\u00e9\u4e2d😀abcxyz'
        return "".join(self.rng.choices(alphabet, k=self.rng.randrange(0, 200))), None

    def _not_an_object(self) -> tuple[Frame, None]:
        value = self.rng.choice([*WEIRD, [REQUESTS[0]], "Amazon"])
        return json.dumps(value), None

    def _truncated(self) -> tuple[Frame, None]:
        text = json.dumps(self._request())
        return text[: self.rng.randrange(0, len(text))], None

    def _broken_syntax(self) -> tuple[Frame, None]:
        text = json.dumps(self._request())
        body = text[1:-1]
        return self.rng.choice([
            "", "   ", "\ufeff" + text, text + "x", text + text, "{" + body, body + "}",
            text.replace('":', '"', 1), text.replace(",", ",,", 1), text.replace('"', "'"),
            text.replace('"fuzz"', '"fu\\xzz"'), text.replace('"fuzz"', '"\\ud800"'),
            text.replace('"fuzz"', '"fu\nzz"'), "{" + body + ",}", "[" + text + "]",
            text.replace("Amazon", "Ama\\u0000zon"), text[:-1] + ',"channel":"Other"}',
        ]), None  # fmt: skip

    def _deep(self) -> tuple[Frame, None]:
        depth = self.rng.choice([33, 64, 500, 995, 996, 997, 998, 1500, 5000])
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        message = self._request()
        head = json.dumps(message)[:-1]
        return f'{head}, "data": {opener * depth}1{closer * depth}}}', None

    def _numbers(self) -> tuple[Frame, None]:
        message = json.dumps(self._request())[:-1]
        value = self.rng.choice(["1e999", "-1e999", "NaN", "Infinity", "1" * 400, "0x10", "01"])
        key = self.rng.choice(["data", "requestId", "source", "extra"])
        return f'{message}, "{key}": {value}}}', None

    def _oversized(self) -> tuple[Frame, None]:
        message = self._request()
        message["pad"] = "x" * self.rng.randrange(p.MAX_FRAME_BYTES, 3 * p.MAX_FRAME_BYTES)
        return json.dumps(message), None

    # --- mutations of valid requests -------------------------------------------------------------

    def _request(self) -> dict[str, Any]:
        message = dict(self.rng.choice(REQUESTS))
        if self.rng.random() < 0.5:
            message["requestId"] = f"rid-{self.rng.randrange(10**6)}"
        return message

    def _envelope(self) -> tuple[Frame, None]:
        message = self._request()
        key = self.rng.choice(["channel", "topic", "subtopic", "source", "requestId"])
        action = self.rng.random()
        if action < 0.2:
            message.pop(key, None)
        elif action < 0.6:
            message[key] = self.rng.choice(WEIRD)
        elif key == "topic":
            message[key] = self.rng.choice(TOPIC_TYPOS)
        elif key == "subtopic":
            other = self.rng.choice(REQUESTS)["subtopic"]
            message[key] = self.rng.choice(
                [other, other.lower(), other.upper(), other + "x", "", "Error", "StateChange"]
            )
        else:
            message[key] = self.rng.choice(["amazon", "Amazon ", "AMAZON", "x" * 65, ""])
        return json.dumps(message), None

    def _data(self) -> tuple[Frame, None]:
        message = dict(self.rng.choice([r for r in REQUESTS if "data" in r]))
        if self.rng.random() < 0.5:
            message["requestId"] = f"rid-{self.rng.randrange(10**6)}"
        data = message["data"]
        if isinstance(data, dict) and data and self.rng.random() < 0.6:
            data = dict(data)
            key = self.rng.choice(list(data))
            if self.rng.random() < 0.3:
                del data[key]
            else:
                data[key] = self.rng.choice(WEIRD)
            message["data"] = data
        else:
            message["data"] = self.rng.choice(WEIRD)
        return json.dumps(message), None

    def _forbidden(self) -> tuple[Frame, Expected]:
        subtopic, key = self.rng.choice(
            [("Hold", "contactId"), ("ClearContact", "contactId"), ("Resume", "connectionId"),
             ("Disconnect", "connectionId"), ("SetHold", "contactId")]
        )  # fmt: skip
        topic = self.rng.choice(["InboundCall", "OutboundCall"])
        message: dict[str, Any] = {"channel": "Amazon", "topic": topic, "subtopic": subtopic,
                                   "source": "fuzz", "data": self.foreign[key]}  # fmt: skip
        rid = None
        if self.rng.random() < 0.5:
            rid = message["requestId"] = f"rid-{self.rng.randrange(10**6)}"
        return json.dumps(message), Expected("FORBIDDEN", topic, rid)


def check_answer(answer: dict[str, Any], expected: Expected) -> str | None:
    """Why ``answer`` is not the §5 error ``expected`` (None when it is)."""
    wanted = {"channel": "Amazon", "topic": expected.topic, "subtopic": "Error"}
    if {k: answer.get(k) for k in wanted} != wanted:
        return f"envelope {answer}"
    if set(answer) - {"channel", "topic", "subtopic", "message", "requestId"}:
        return f"extra keys {sorted(answer)}"  # no seq: sent to this app only, not journaled
    if answer.get("requestId") != expected.request_id:
        return f"requestId {answer.get('requestId')!r} != {expected.request_id!r}"
    message = answer["message"]
    if set(message) != {"type", "code", "text", "request"}:
        return f"message keys {sorted(message)}"
    if message["type"] != expected.type or message["text"] != p.ERROR_TEXT[expected.type]:
        return f"type {message['type']!r} != {expected.type!r}"
    if not isinstance(message["code"], str):
        return "code"
    return None
