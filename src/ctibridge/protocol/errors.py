"""Error types as data (protocol.md §3, §5): each type's sentence, and each subtopic's failure type.

A :class:`ProtocolError` is the client's fault (a bad frame or request); call-control failures are
the engine's business, which looks their type and text up with :func:`failure_for` (from the
subtopic's registry row).  Both are
rendered once, at the edge, by :func:`ctibridge.protocol.render.error_event`.
"""

from __future__ import annotations

from typing import Any

from ..errors import RequestError
from .registry import BY_NAME

ERROR_TEXT: dict[str, str] = {
    # call control (§3.1)
    "ANSWER_CALL_FAILED": "Answering call failed.",
    "REJECT_CALL_FAILED": "Rejecting call failed.",
    "HOLD_CALL_FAILED": "Call hold failed.",
    "RESUME_CALL_FAILED": "Resuming call failed.",
    "DISCONNECT_CALL_FAILED": "Disconnecting call failed.",
    "CLEAR_CONTACT_FAILED": "Clearing contact failed.",
    "CONSULT_CALL_FAILED": "Consult call failed.",
    "SWAP_CALL_FAILED": "Swap call failed.",
    "CONFERENCE_CALL_FAILED": "Conference call failed.",
    "TRANSFER_CALL_FAILED": "Call transfer failed.",
    "SEND_DTMF_FAILED": "Failed to send DTMF.",
    "CONSULT_DROP_FAILED": "Consult drop failed.",
    "SKIP_CONTACT_FAILED": "Skip contact failed.",
    "MAKE_CALL_FAILED": "Make call failed.",
    # agent (§3.2)
    "UPDATE_AGENT_STATE_FAILED": "Agent state change failed.",
    "AGENT_STATE_NOT_FOUND": "Specified Agent State not found.",
    "MUTE_FAILED": "Mute failed.",
    "LOGIN_FAILED": "Login failed.",
    "LOGOUT_FAILED": "Logout failed.",
    # protocol (§5) and simulator (§7) - the sentences are ours
    "INVALID_JSON": "The message is not a JSON object.",
    "INVALID_MESSAGE": "The message envelope is missing a field or has a field of the wrong type.",
    "UNKNOWN_TOPIC": "Unknown topic.",
    "UNKNOWN_SUBTOPIC": "Unknown subtopic for this topic.",
    "INVALID_DATA": "The message data has the wrong shape or value.",
    "FRAME_TOO_LARGE": "The message is larger than 64 KiB.",
    "RATE_LIMITED": "Too many messages; slow down.",
    "FORBIDDEN": "Not allowed for this agent.",
    "UNAUTHORIZED": "A valid token is required (Authorization: Bearer or ?token=).",
    "RESUME_GAP": "Events after the given seq are no longer available; state resynchronised.",
    "UNKNOWN_AGENT": "Unknown agent.",
    "SIMULATOR_FAILED": "Simulator command failed.",
    "SHUTTING_DOWN": "The hub is shutting down; reconnect and resume later.",
}


def failure_for(subtopic: str) -> tuple[str, str]:
    """The failure ``(type, text)`` of a canonical subtopic (its registry row); KeyError for
    answer-only ones."""
    row = BY_NAME.get(subtopic)
    if row is None or row.failure is None:
        raise KeyError(f"subtopic {subtopic!r} has no failure type")
    return row.failure, row.text or ERROR_TEXT[row.failure]


class ProtocolError(RequestError):
    """A request the hub cannot accept (docs/protocol.md §5, protocol errors): the client's fault.

    ``topic`` is the request's topic when it was a string, else ``"System"``; ``request`` the parsed
    request object (None when the frame was not a JSON object); ``request_id`` the request's
    ``requestId`` when it was a valid one.
    """

    def __init__(
        self,
        type: str,
        code: str,
        *,
        topic: str = "System",
        request: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(code)
        self.args = (f"{type}: {code}",)
        self.type = self.error_type = type
        self.text = ERROR_TEXT[type]
        self.topic = topic
        self.request = request
        self.request_id = request_id
