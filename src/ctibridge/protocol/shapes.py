"""The data shapes of requests: what a subtopic's ``data`` must be (docs/protocol.md §3, §7).

A shape is a msgspec wire type (what the app sends, which is also what the JSON Schema shows), a
``build`` function turning the validated wire value into the typed request value of
``requests.py``, and the sentence an app is told when its data does not fit (``expects``, §5).
Which subtopic takes which shape is one column of the subtopic registry (``registry.py``).

Deliberate choices where docs/protocol.md is silent:

* Consult / Transfer accept a plain string: a phone number (optional ``+`` then 7-15 digits)
  becomes a phone endpoint; any other name an ``agent`` endpoint (the engine resolves agent vs
  quick connect); a string made only of digits and phone punctuation that is not a valid number
  is refused (INVALID_DATA ``phoneNumber``) rather than taken for a name.
* An empty id string (Hold/Resume/Disconnect/ClearContact) means "no id", like absent data.
* Simulator ``attributes`` values that are scalars are stringified JSON-style (``true``, ``3``,
  ``1.5``); null becomes ``""``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ..errors import RequestError
from ..model import Endpoint, EndpointKind
from .requests import (
    Digits,
    MakeCallData,
    OptionalId,
    OutboundResultKind,
    QueueTransferData,
    RequestData,
    SimConfigure,
    SimContactRef,
    SimIncomingCall,
    SimOutboundResult,
    SimPreviewCall,
    StateRef,
    Target,
)

PHONE_PATTERN = r"^\+?[0-9]{7,15}$"
DIGITS_PATTERN = r"^[0-9*#,]{1,64}$"
STATE_TYPES = ("routable", "not_routable", "offline", "system", "error")

PhoneNumber = Annotated[
    str, Meta(pattern=PHONE_PATTERN, description="optional '+' then 7-15 digits")
]
Name = Annotated[str, Meta(min_length=1)]
Seconds = Annotated[float, Meta(ge=0)]
ContactIdText = Annotated[str, Meta(description="contact id; default: the current contact")]
ConnectionIdText = Annotated[str, Meta(description="connection id; default per subtopic")]
TargetText = Annotated[
    str,
    Meta(min_length=1, description="a phone number, or the name of an agent or quick connect"),
]
DigitText = Annotated[str, Meta(pattern=DIGITS_PATTERN, description="DTMF digits")]

_PHONE_RE = re.compile(PHONE_PATTERN)
# a string an app meant as a phone number (so not an agent name), even if malformed
_NUMBERISH_RE = re.compile(r"^[+0-9()\-. ]*[0-9][+0-9()\-. ]*$")
_STATE_TYPE_SEP_RE = re.compile(r"[\s_]+")


class InvalidData(RequestError):
    """Raised by a shape's ``build``: ``code`` names the field at fault (``data`` or a key of it);
    the decoder adds what the shape expects."""

    error_type = "INVALID_DATA"


# --- wire objects: `data` as apps send it --------------------------------------------------------


class TargetObject(msgspec.Struct, frozen=True, rename="camel"):
    """Exactly one of the three."""

    phone_number: PhoneNumber | None = None
    quick_connect: Name | None = None
    agent_name: Name | None = None


class MakeCallObject(msgspec.Struct, frozen=True, rename="camel"):
    phone_number: PhoneNumber
    queue: Name | None = None


class QueueTransferObject(msgspec.Struct, frozen=True, rename="camel"):
    queue_name: Name
    is_warm_transfer: bool = False


class StateObject(msgspec.Struct, frozen=True, rename="camel"):
    """At least ``label`` or ``code``; ``type`` in any case, with ``_`` or space."""

    label: str | None = None
    code: str | None = None
    type: str | None = None


class ReasonCodeObject(msgspec.Struct, frozen=True, rename="pascal"):
    reason_code_id: Name


class IncomingCallObject(msgspec.Struct, frozen=True, rename="camel"):
    phone_number: PhoneNumber
    dnis: str | None = None
    queue: str | None = None
    attributes: dict[str, str | int | float | bool | None] = {}
    ring_seconds: Seconds | None = None


class ContactRefObject(msgspec.Struct, frozen=True, rename="camel"):
    contact_id: str | None = None


class OutboundResultObject(msgspec.Struct, frozen=True, rename="camel"):
    result: OutboundResultKind
    contact_id: str | None = None


class ConfigureObject(msgspec.Struct, frozen=True, rename="camel"):
    answer_seconds: Seconds | None = None
    ring_seconds: Seconds | None = None


class FailNextObject(msgspec.Struct, frozen=True, rename="camel"):
    subtopic: Name
    error: str | None = None


class PreviewCallObject(msgspec.Struct, frozen=True, rename="camel"):
    phone_number: PhoneNumber
    campaign: str | None = None


# --- shapes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataShape:
    """What a subtopic's ``data`` must be.  ``holder`` (built once) validates a whole request
    object's ``data`` field against ``wire``; optional shapes accept absent or null data."""

    name: str
    wire: Any
    build: Callable[[Any], RequestData]
    required: bool = True
    expects: str = ""  # told to an app whose data does not fit (§5), after "expected"
    holder: type[msgspec.Struct] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        spec: tuple[str, Any] | tuple[str, Any, Any]
        spec = ("data", self.wire) if self.required else ("data", self.wire | None, None)
        holder = msgspec.defstruct(f"{self.name}Holder", [spec], frozen=True)
        object.__setattr__(self, "holder", holder)

    def fault(self, field: str) -> str:
        """The ``code`` of INVALID_DATA: the field at fault and what this shape expects."""
        path = "data" if field in ("", "data") else f"data.{field}"
        return f"{path}: expected {self.expects}"

    def parse(self, request: Mapping[str, Any]) -> RequestData:
        """The typed data of ``request``; ValidationError / InvalidData when it does not fit."""
        return self.build(msgspec.convert(request, self.holder).data)  # type: ignore[attr-defined]


def _endpoint(text: str) -> Endpoint:
    text = text.strip()
    if _PHONE_RE.match(text):
        return Endpoint("phone", text)
    if _NUMBERISH_RE.match(text):
        raise InvalidData("phoneNumber")
    if not text:
        raise InvalidData("data")
    return Endpoint("agent", text)


def _target(value: str | TargetObject | None) -> Target:
    if value is None:
        return Target(None)
    if isinstance(value, str):
        return Target(_endpoint(value))
    candidates: tuple[tuple[EndpointKind, str | None], ...] = (
        ("phone", value.phone_number),
        ("quick_connect", value.quick_connect),
        ("agent", value.agent_name),
    )
    given = [Endpoint(kind, v) for kind, v in candidates if v is not None]
    if len(given) != 1:
        raise InvalidData("data")
    return Target(given[0])


def _optional_id(value: str | None) -> OptionalId:
    return OptionalId((value.strip() or None) if value is not None else None)


def _make_call(value: str | MakeCallObject | None) -> MakeCallData:
    if value is None:
        return MakeCallData(None)
    if isinstance(value, str):
        return MakeCallData(value)
    return MakeCallData(value.phone_number, value.queue)


def _state_ref(value: StateObject) -> StateRef:
    label = value.label or None
    code = value.code or None
    if label is None and code is None:
        raise InvalidData("label")
    type_ = None
    if value.type is not None:
        type_ = _STATE_TYPE_SEP_RE.sub("_", value.type.strip().lower())
        if type_ not in STATE_TYPES:
            raise InvalidData("type")
    return StateRef(label, code, type_)


def _stringify(value: str | int | float | bool | None) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return msgspec.json.encode(value).decode()


def _incoming_call(value: IncomingCallObject) -> SimIncomingCall:
    return SimIncomingCall(
        phone_number=value.phone_number,
        dnis=value.dnis,
        queue=value.queue,
        attributes=tuple((k, _stringify(v)) for k, v in value.attributes.items()),
        ring_seconds=value.ring_seconds,
    )


PHONE_TEXT = "a phone number string (optional '+' then 7-15 digits)"
TARGETS = "a phone number string or one of {phoneNumber} {quickConnect} {agentName}"
PHONE_OR_MAKE_CALL = "a phone number string or {phoneNumber, queue?}"
ID_OF_CALL = "an id of the call: the contactId or a connectionId (string)"
CONTACT_ID = DataShape("ContactId", ContactIdText, _optional_id, required=False, expects=ID_OF_CALL)
CONNECTION_ID = DataShape(
    "ConnectionId", ConnectionIdText, _optional_id, required=False, expects=ID_OF_CALL
)
CONSULT_TARGET = DataShape("ConsultTarget", TargetText | TargetObject, _target, expects=TARGETS)
EXTERNAL_TARGET = DataShape(
    "ExternalTarget", PhoneNumber, lambda v: Target(Endpoint("phone", v)), expects=PHONE_TEXT
)
TRANSFER_TARGET = DataShape(
    "TransferTarget", TargetText | TargetObject, _target, required=False, expects=TARGETS
)
QUEUE_TRANSFER = DataShape(
    "QueueTransfer",
    QueueTransferObject,
    lambda v: QueueTransferData(v.queue_name, v.is_warm_transfer),
    expects="{queueName, isWarmTransfer?}",
)
DIGITS = DataShape("Digits", DigitText, Digits, expects="digits 0-9 * # , (1-64)")
MAKE_CALL = DataShape(
    "MakeCall", PhoneNumber | MakeCallObject, _make_call, expects=PHONE_OR_MAKE_CALL
)
# OutboundCall/MakeCall without data accepts the offered preview
MAKE_CALL_OR_PREVIEW = DataShape(
    "MakeCallOrPreview",
    PhoneNumber | MakeCallObject,
    _make_call,
    required=False,
    expects=PHONE_OR_MAKE_CALL + " (none: accept the offered preview)",
)
STATE = DataShape(
    "State",
    StateObject,
    _state_ref,
    expects=(
        "{label} or {code} naming one of the agent's states (Agent/GetStates lists them), "
        "type? one of " + ", ".join(STATE_TYPES)
    ),
)
REASON_CODE = DataShape(
    "ReasonCode",
    ReasonCodeObject,
    lambda v: StateRef(v.reason_code_id),
    expects="{ReasonCodeId} naming one of the agent's not-routable states",
)
INCOMING_CALL = DataShape(
    "IncomingCall",
    IncomingCallObject,
    _incoming_call,
    expects="{phoneNumber, dnis?, queue?, attributes?, ringSeconds?}",
)
CONTACT_REF = DataShape(
    "ContactRef",
    ContactRefObject,
    lambda v: SimContactRef(v.contact_id if v else None),
    required=False,
    expects="{contactId?}",
)
OUTBOUND_RESULT = DataShape(
    "OutboundResult",
    OutboundResultObject,
    lambda v: SimOutboundResult(v.result, v.contact_id),
    expects='{result: "answer" | "busy" | "noAnswer" | "failed", contactId?}',
)
CONFIGURE = DataShape(
    "Configure",
    ConfigureObject,
    lambda v: SimConfigure(v.answer_seconds, v.ring_seconds) if v else SimConfigure(),
    required=False,
    expects="{answerSeconds?, ringSeconds?} (seconds >= 0)",
)
PREVIEW_CALL = DataShape(
    "PreviewCall",
    PreviewCallObject,
    lambda v: SimPreviewCall(v.phone_number, v.campaign),
    expects="{phoneNumber, campaign?}",
)
