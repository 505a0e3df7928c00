"""Backend actions: what the engine asks a backend to do, after it checked the preconditions.

Each action is one Amazon Connect verb at the level of the agent snapshot (the engine already
resolved which contact and connection it acts on).  A backend executes it (simulator, Streams
bridge, Connect server APIs) and reports the result as new snapshots; a refusal is raised as
:class:`BackendError` (ctibridge.errors) with Connect's own message as ``code``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# re-exported: the error a backend raises when it cannot carry an action out
from .errors import BackendError as BackendError
from .model import AgentState
from .model import Endpoint as Endpoint  # re-exported: where actions send a call


class Accept(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class Reject(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class Hold(msgspec.Struct, frozen=True, tag=True):
    contact_id: str
    connection_id: str


class Resume(msgspec.Struct, frozen=True, tag=True):
    contact_id: str
    connection_id: str


class Hangup(msgspec.Struct, frozen=True, tag=True):
    """Destroy one connection; the agent's own connection means the agent leaves the call."""

    contact_id: str
    connection_id: str


class Clear(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class AddParty(msgspec.Struct, frozen=True, tag=True):
    """Consult: put the active leg on hold and dial a third party."""

    contact_id: str
    endpoint: Endpoint


class Swap(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class Conference(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class Transfer(msgspec.Struct, frozen=True, tag=True):
    """Blind (with endpoint) or warm (the third party stays) transfer; the agent leaves."""

    contact_id: str
    endpoint: Endpoint | None = None


class SendDigits(msgspec.Struct, frozen=True, tag=True):
    contact_id: str
    connection_id: str
    digits: str


class SetState(msgspec.Struct, frozen=True, tag=True):
    """Change the agent's state; on a contact Connect enqueues it as the next state."""

    state: AgentState


class SetMute(msgspec.Struct, frozen=True, tag=True):
    muted: bool


class Login(msgspec.Struct, frozen=True, tag=True):
    pass


class Logout(msgspec.Struct, frozen=True, tag=True):
    pass


class Dial(msgspec.Struct, frozen=True, tag=True):
    """Outbound call (``topic`` is the topic the new contact is filed under)."""

    endpoint: Endpoint
    topic: Literal["InboundCall", "OutboundCall"]
    queue: str | None = None


class AcceptPreview(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


class SkipPreview(msgspec.Struct, frozen=True, tag=True):
    contact_id: str


Action = (
    Accept
    | Reject
    | Hold
    | Resume
    | Hangup
    | Clear
    | AddParty
    | Swap
    | Conference
    | Transfer
    | SendDigits
    | SetState
    | SetMute
    | Login
    | Logout
    | Dial
    | AcceptPreview
    | SkipPreview
)
