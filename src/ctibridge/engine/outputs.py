"""The engine's outputs: what the adapter carries out, in the order the engine returns them."""

from __future__ import annotations

from typing import Literal

import msgspec

from .. import protocol as p
from ..actions import Action
from ..protocol.requests import Request


class Broadcast(msgspec.Struct, frozen=True):
    """Journal, then send to every app of ``login`` (``envelope`` carries its ``seq``)."""

    login: str
    envelope: p.Envelope


class Reply(msgspec.Struct, frozen=True):
    """Send to the app ``origin`` only; not journaled, no ``seq``."""

    login: str
    origin: str
    envelope: p.Envelope


class Execute(msgspec.Struct, frozen=True):
    login: str
    command_id: int
    action: Action


class Simulate(msgspec.Struct, frozen=True):
    login: str
    command_id: int
    subtopic: str
    data: object


Outcome = Literal["ok", "refused", "failed", "timeout", "forbidden"]


class Finished(msgspec.Struct, frozen=True):
    """A command the engine is done with - for the adapter's audit log and metrics, never sent;
    it follows the command's answers in the same list of outputs.

    ``outcome``: ``ok`` (answered or carried out), ``refused`` (a precondition failed, nothing was
    tried), ``failed`` (the backend refused it), ``timeout`` (no backend result by the deadline),
    ``forbidden`` (it named another agent's contact).  ``error_type``/``code`` are those of the
    error event apps got, if any.
    """

    login: str
    origin: str
    request: Request
    outcome: Outcome
    error_type: str | None = None
    code: str | None = None
    # the agent's voice contact when the command started (what it acted on), if any
    contact_id: str | None = None


Output = Broadcast | Reply | Execute | Simulate | Finished
