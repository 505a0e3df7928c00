"""Messages between the bridge page (static/bridge/bridge.js) and the hub, over ``/bridge/ws``.

Bridge -> hub: ``hello`` (once), ``snapshot`` (on every Streams agent refresh), ``directory``
(states, queues, quick connects), ``result`` (of one command, ``error`` = the Streams error),
``heartbeat``, ``bye`` (the page is closing).  Hub -> bridge: ``command`` (one
:mod:`ctibridge.actions` action, as msgspec encodes it, with an ``id`` the result echoes) and
``resync`` (send snapshot and directory now).

The snapshot keeps Streams' own names (``agentStateARN``, ``initial``, ``queueTimestamp`` ...) so
it reads like the published Streams snapshots; times are integer milliseconds since the epoch.
"""

from __future__ import annotations

import msgspec

from ...actions import Action


class StreamsState(msgspec.Struct, frozen=True):
    """``agent.getState()`` / ``getNextState()`` / one of ``getAgentStates()``."""

    name: str
    type: str
    agentStateARN: str | None = None
    startTimestamp: int | None = None


class Availability(msgspec.Struct, frozen=True):
    """``agent.getAvailabilityState()``: the state the agent chose, under any system state."""

    state: str
    timeStamp: int
    type: str | None = None
    agentStateARN: str | None = None


class TimedState(msgspec.Struct, frozen=True):
    type: str
    timestamp: int


class StreamsEndpoint(msgspec.Struct, frozen=True):
    type: str | None = None
    name: str | None = None
    phoneNumber: str | None = None


class StreamsConnection(msgspec.Struct, frozen=True):
    connectionId: str
    type: str  # agent | inbound | outbound | monitoring
    initial: bool
    state: TimedState
    endpoint: StreamsEndpoint | None = None


class StreamsQueue(msgspec.Struct, frozen=True):
    name: str | None = None
    queueARN: str | None = None


class StreamsAttribute(msgspec.Struct, frozen=True):
    name: str
    value: str


class StreamsContact(msgspec.Struct, frozen=True):
    contactId: str
    type: str  # voice | queue_callback | chat | task | email
    state: TimedState
    connections: list[StreamsConnection]
    initiationMethod: str | None = None
    queue: StreamsQueue | None = None
    queueTimestamp: int | None = None
    attributes: dict[str, StreamsAttribute] = {}
    systemEndpoint: StreamsEndpoint | None = None


class StreamsConfiguration(msgspec.Struct, frozen=True):
    name: str = ""
    username: str = ""
    agentARN: str | None = None
    extension: str = ""
    softphoneEnabled: bool = True
    routingProfile: str = ""


class StreamsSnapshot(msgspec.Struct, frozen=True):
    state: StreamsState
    availability: Availability
    contacts: list[StreamsContact]
    snapshotTimestamp: int
    configuration: StreamsConfiguration = StreamsConfiguration()
    nextState: StreamsState | None = None
    muted: bool = False


class Hello(msgspec.Struct, frozen=True, tag="hello"):
    agent: str
    ccpUrl: str = ""


class Snapshot(msgspec.Struct, frozen=True, tag="snapshot"):
    snapshot: StreamsSnapshot


class DirectoryEntry(msgspec.Struct, frozen=True):
    """A state, queue or quick connect as Streams lists it.  Real instances list entries with no
    name (the agent's personal queue has ``name: null``): such an entry is unusable and skipped,
    never the whole report."""

    name: str | None = None
    type: str | None = None


class DirectoryReport(msgspec.Struct, frozen=True, tag="directory"):
    states: list[DirectoryEntry]
    queues: list[DirectoryEntry]
    endpoints: list[DirectoryEntry]


class Result(msgspec.Struct, frozen=True, tag="result"):
    id: int
    error: str | None = None


class Heartbeat(msgspec.Struct, frozen=True, tag="heartbeat"):
    pass


class Bye(msgspec.Struct, frozen=True, tag="bye"):
    """The bridge page is closing (the agent closed it)."""


BridgeMessage = Hello | Snapshot | DirectoryReport | Result | Heartbeat | Bye


class Command(msgspec.Struct, frozen=True, tag="command"):
    id: int
    action: Action


class Resync(msgspec.Struct, frozen=True, tag="resync"):
    pass


HubMessage = Command | Resync

_decoder: msgspec.json.Decoder[BridgeMessage] = msgspec.json.Decoder(BridgeMessage)
_encoder = msgspec.json.Encoder()


def decode(frame: str | bytes) -> BridgeMessage:
    """One bridge message; ``msgspec.DecodeError``/``ValidationError`` when malformed."""
    return _decoder.decode(frame)


def encode(message: HubMessage) -> str:
    return _encoder.encode(message).decode()
