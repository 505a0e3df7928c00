"""Events and answers as they go on the wire (protocol.md §4, §5): one msgspec Struct per object.

Field names are the wire names (the published interface mixes ``PascalCase``, ``camelCase`` and
``snake_case``, so no ``rename`` rule fits) and field order is the samples' order, so an encoded
event reads like its sample.  Fields have no defaults - every key is always sent, so the JSON Schema
lists every key as required - except the optional ones, which are ``UNSET`` (omitted) unless given
(``kw_only`` lets them sit anywhere in the sample order).  The encoder is built once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from ..model import ConnectionStatus, ConnectionType, StateType

CALL_BUTTONS: tuple[str, ...] = (
    "answer",
    "reject",
    "disconnect",
    "hold",
    "resume",
    "clearContact",
    "consult",
    "numberpad",
    "swap",
    "transfer",
    "conference",
)
AGENT_BUTTONS: tuple[str, ...] = ("NotReady", "Ready", "make_call", "mute", "unmute")

ButtonState = Literal["Enable", "Hide"]
CallEventName = Literal[
    "connecting", "connected", "hold", "missed", "rejected", "ACW", "DROPPED",
    # the published campaign events of outbound contacts (§4.1)
    "Preview", "Initiate", "CustAnswered", "Hold", "Consult", "Conference", "Swapped",
]  # fmt: skip
# ``CallType`` of an outbound contact's connections (§4.1); inbound ones carry the connection type
OutboundCallType = Literal["Regular-Call", "Consult"]
# ``data.state`` of SetAgentState: the published normalised state (§4.4)
AgentStateName = Literal["Ready", "Not_Ready", "Offline"]


# --- call events (§4.1, §4.2) --------------------------------------------------------------------


class CallButtonItems(msgspec.Struct, frozen=True, kw_only=True):
    answer: ButtonState
    reject: ButtonState
    disconnect: ButtonState
    hold: ButtonState
    resume: ButtonState
    clearContact: ButtonState
    consult: ButtonState
    numberpad: ButtonState
    swap: ButtonState
    transfer: ButtonState
    conference: ButtonState


class CallButtonFlags(msgspec.Struct, frozen=True, kw_only=True):
    answer: bool
    reject: bool
    disconnect: bool
    hold: bool
    resume: bool
    clearContact: bool
    consult: bool
    numberpad: bool
    swap: bool
    transfer: bool
    conference: bool


class CallButtonStates(msgspec.Struct, frozen=True, kw_only=True):
    items: CallButtonItems
    count: Literal[11]


class CallResponseActual(msgspec.Struct, frozen=True, kw_only=True):
    connectionId: str
    contactId: str
    phoneNumber: str | None
    status: ConnectionStatus
    statusTimestamp: str
    type: ConnectionType
    buttonStates: CallButtonFlags
    previousStatus: ConnectionStatus | None


class MediaProperties(msgspec.Struct, frozen=True, kw_only=True):
    callType: ConnectionType
    queueName: str | None
    queueTimestamp: str | None


class CallResponseFields(msgspec.Struct, frozen=True, kw_only=True):
    Participants: tuple[()]
    MediaProperties: MediaProperties
    fromAddress: str | None
    CallState: CallEventName
    Type: ConnectionType
    CurrentStateTime: str
    Campaign: str
    DN: str


class AgentInfoMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``agentInfo`` of LoginSuccess and Agent/StateSync, ``User`` of outbound call events."""

    name: str
    extension: str
    loginName: str
    muted: bool
    softphoneEnabled: bool
    routingProfile: str  # [ext]
    queues: tuple[str, ...]  # [ext]


class Call(msgspec.Struct, frozen=True, kw_only=True):
    ButtonStates: CallButtonStates
    ActionsAllowed: None
    ResponseType: Literal[0]
    ResponseText: Literal["Success"]
    ResponseActual: CallResponseActual
    CallVariables: dict[str, str]
    ExtendedCallVariables: None
    ResponseFields: CallResponseFields
    id: str
    event: CallEventName
    CallType: ConnectionType | OutboundCallType
    User: AgentInfoMessage | UnsetType = UNSET  # outbound contacts only


class CallEventMessage(msgspec.Struct, frozen=True, kw_only=True):
    """``InboundCallStateChange`` / ``OutboundCallStateChange``."""

    call: Call
    source: Literal["event"]


# --- call StateSync answer (§4.3) ----------------------------------------------------------------


class CallAttribute(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: str


class CallSummary(msgspec.Struct, frozen=True, kw_only=True):
    connectionId: str
    contactId: str
    phoneNumber: str | None
    status: ConnectionStatus
    statusTimestamp: str
    type: ConnectionType
    buttonStates: CallButtonFlags


class CallStateSyncMessage(msgspec.Struct, frozen=True, kw_only=True):
    attributes: tuple[CallAttribute, ...]
    queueName: str | None
    queueTimestamp: str | None
    calls: tuple[CallSummary, ...]


# --- agent messages (§4.4) -----------------------------------------------------------------------


class AgentButtonItems(msgspec.Struct, frozen=True, kw_only=True):
    """All five, or only ``mute`` and ``unmute`` in a Mute/Unmute event (published Mute sample)."""

    NotReady: ButtonState | UnsetType = UNSET
    Ready: ButtonState | UnsetType = UNSET
    make_call: ButtonState | UnsetType = UNSET
    mute: ButtonState
    unmute: ButtonState


class AgentButtonStates(msgspec.Struct, frozen=True, kw_only=True):
    items: AgentButtonItems
    count: Literal[5, 2]


class AgentStateActual(msgspec.Struct, frozen=True, kw_only=True):
    """``rules.ResponseActual``, and ``agentState`` of the Login/Logout answers."""

    agentStateARN: str | None
    type: StateType
    name: str
    startTimestamp: str


class AgentRules(msgspec.Struct, frozen=True, kw_only=True):
    ButtonStates: AgentButtonStates
    ResponseActual: AgentStateActual


class ReasonCode(msgspec.Struct, frozen=True, kw_only=True):
    id: str


class StateLabel(msgspec.Struct, frozen=True, kw_only=True):
    """An agent state as apps name it (GetStates, nextState): ``{label, code, type}``."""

    label: str
    code: str
    type: StateType


class AgentStateData(msgspec.Struct, frozen=True, kw_only=True):
    muted: bool
    name: str
    extension: str
    loginName: str
    softphoneEnabled: bool
    state: AgentStateName
    # the Connect state's name, for every state but Ready and Offline (as published)
    reasonCode: ReasonCode | UnsetType = UNSET
    stateChangeTime: str
    type: StateType
    nextState: StateLabel | None  # [ext]


class SetAgentStateMessage(msgspec.Struct, frozen=True, kw_only=True):
    rules: AgentRules
    data: AgentStateData
    event: str
    source: Literal["event"]


class AgentStateSyncMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Logged in: LoginSuccess's ``agentInfo`` and ``agentState`` (= ``rules.ResponseActual``)
    shapes; logged out: ``agentInfo``, ``agentState`` null and ``rules`` "", as published."""

    loginState: Literal["LoggedIn", "LoggedOut"]
    agentInfo: AgentInfoMessage | None
    agentState: AgentStateActual | None
    rules: AgentRules | Literal[""]


class LogoutAgentInfo(msgspec.Struct, frozen=True, kw_only=True):
    muted: bool
    name: str
    extension: str
    loginName: str
    softphoneEnabled: bool


class LoginSuccessMessage(msgspec.Struct, frozen=True, kw_only=True):
    """As the published LoginSuccess sample: ``agentState`` and ``rules`` null - the state the
    agent returns to follows as SetAgentState and CcpAgentState events."""

    loginState: Literal["LoggedIn"]
    agentInfo: AgentInfoMessage
    agentState: None
    rules: None


class LogoutSuccessMessage(msgspec.Struct, frozen=True, kw_only=True):
    loginState: Literal["LoggedOut"]
    agentInfo: LogoutAgentInfo
    agentState: AgentStateActual
    rules: AgentRules


class GetStatesMessage(msgspec.Struct, frozen=True, kw_only=True):
    states: tuple[StateLabel, ...]


class CcpAgentStateMessage(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: StateType


# --- errors (§5) ---------------------------------------------------------------------------------


class ErrorMessage(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    code: str
    text: str
    request: dict[str, Any] | None


Message = (
    CallEventMessage
    | CallStateSyncMessage
    | SetAgentStateMessage
    | AgentStateSyncMessage
    | LoginSuccessMessage
    | LogoutSuccessMessage
    | GetStatesMessage
    | CcpAgentStateMessage
    | ErrorMessage
)

# (topic, subtopic) -> message type of every event and answer; the JSON Schema is built from it.
EVENTS: dict[tuple[str, str], type[Message]] = {
    ("InboundCall", "InboundCallStateChange"): CallEventMessage,
    ("OutboundCall", "OutboundCallStateChange"): CallEventMessage,
    ("InboundCall", "StateSync"): CallStateSyncMessage,
    ("OutboundCall", "StateSync"): CallStateSyncMessage,
    ("Agent", "SetAgentState"): SetAgentStateMessage,
    ("Agent", "StateSync"): AgentStateSyncMessage,
    ("Agent", "LoginSuccess"): LoginSuccessMessage,
    ("Agent", "LogoutSuccess"): LogoutSuccessMessage,
    ("Agent", "GetStates"): GetStatesMessage,
    ("Agent", "CcpAgentState"): CcpAgentStateMessage,
    **{
        (topic, "Error"): ErrorMessage
        for topic in ("InboundCall", "OutboundCall", "Agent", "Simulator", "System")
    },
}


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One event or answer.  ``seq`` [ext] is set for journaled broadcasts, ``requestId`` [ext]
    when the event answers a request; both are omitted when unset."""

    channel: Literal["Amazon"] = "Amazon"
    topic: str
    subtopic: str
    message: Message
    seq: int | UnsetType = UNSET
    requestId: str | UnsetType = UNSET


_ENCODER = msgspec.json.Encoder()


def encode(env: Envelope) -> bytes:
    """The JSON text of ``env``, as sent on the wire."""
    return _ENCODER.encode(env)


def with_seq(env: Envelope, seq: int) -> Envelope:
    return msgspec.structs.replace(env, seq=seq)


def with_request_id(env: Envelope, rid: str | None) -> Envelope:
    """``env`` answering request ``rid`` (unchanged when ``rid`` is None)."""
    return env if rid is None else msgspec.structs.replace(env, requestId=rid)


def iso(ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds, e.g. ``2020-04-09T12:52:16.344Z``."""
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_seconds(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    # formatting a datetime was a tenth of the hub's CPU (every event carries 2-4 timestamps,
    # mostly of the same few seconds): format each second once
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}"
