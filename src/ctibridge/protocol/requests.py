"""Typed requests: what a decoded app message means.

``decode_request`` (in ``decode.py``) turns one frame into a :class:`Request` whose ``data`` is one
of the typed values below, as the subtopic's data shape (``shapes.py``, chosen in
``registry.py``) builds it.  Aliases are resolved: ``Request.subtopic`` is always the canonical
name (``Hold``, never ``SetHold``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ..model import Endpoint

Topic = Literal["InboundCall", "OutboundCall", "Agent", "Simulator"]


class NoData(msgspec.Struct, frozen=True):
    """The subtopic takes no data (any ``data`` sent is ignored)."""


class OptionalId(msgspec.Struct, frozen=True):
    """Hold (contactId), Resume / Disconnect (connectionId), ClearContact (contactId)."""

    id: str | None = None


class Target(msgspec.Struct, frozen=True):
    """Consult / ExternalConsult / Transfer target; ``endpoint`` None = no target given."""

    endpoint: Endpoint | None = None


class QueueTransferData(msgspec.Struct, frozen=True):
    queue_name: str
    warm: bool = False


class Digits(msgspec.Struct, frozen=True):
    digits: str


class MakeCallData(msgspec.Struct, frozen=True):
    """``phone_number`` None: accept the offered preview (OutboundCall/MakeCall without data)."""

    phone_number: str | None = None
    queue: str | None = None


class StateRef(msgspec.Struct, frozen=True):
    """UpdateState / SetNotReady: names one of the agent's states (at least label or code)."""

    label: str | None = None
    code: str | None = None
    type: str | None = None


# --- Simulator topic (protocol.md §7) ---------------------------------------------------------


class SimIncomingCall(msgspec.Struct, frozen=True):
    phone_number: str
    dnis: str | None = None
    queue: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    ring_seconds: float | None = None


class SimContactRef(msgspec.Struct, frozen=True):
    """CustomerHangup / ThirdPartyAnswer / ThirdPartyHangup."""

    contact_id: str | None = None


OutboundResultKind = Literal["answer", "busy", "noAnswer", "failed"]


class SimOutboundResult(msgspec.Struct, frozen=True):
    result: OutboundResultKind
    contact_id: str | None = None


class SimConfigure(msgspec.Struct, frozen=True):
    answer_seconds: float | None = None
    ring_seconds: float | None = None


class SimFailNext(msgspec.Struct, frozen=True):
    subtopic: str  # canonical subtopic name (aliases resolved)
    error: str | None = None


class SimPreviewCall(msgspec.Struct, frozen=True):
    phone_number: str
    campaign: str | None = None


RequestData = (
    NoData
    | OptionalId
    | Target
    | QueueTransferData
    | Digits
    | MakeCallData
    | StateRef
    | SimIncomingCall
    | SimContactRef
    | SimOutboundResult
    | SimConfigure
    | SimFailNext
    | SimPreviewCall
)


class Request(msgspec.Struct, frozen=True):
    topic: Topic
    subtopic: str  # canonical name
    source: str
    data: RequestData
    request_id: str | None = None
    # the request as received (a JSON object), echoed in error messages' ``request``
    raw: dict[str, Any] | None = None
