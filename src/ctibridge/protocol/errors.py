"""Error types as data (PROTOCOL.md §3, §5): each type's sentence, and each subtopic's failure type.

A :class:`ProtocolError` is the client's fault (a bad frame or request); call-control failures are
the engine's business, which looks their type and text up with :func:`failure_for`.  Both are
rendered once, at the edge, by :func:`ctibridge.protocol.render.error_event`.
"""

from __future__ import annotations

from typing import Any

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

# canonical subtopic -> its failure type.  The answer-only subtopics (StateSync, GetStates,
# CcpAgentState) have none in §3 and are deliberately absent.
_FAILURE_TYPE: dict[str, str] = {
    "Answer": "ANSWER_CALL_FAILED",
    "AcceptWarmTransfer": "ANSWER_CALL_FAILED",
    "Reject": "REJECT_CALL_FAILED",
    "Hold": "HOLD_CALL_FAILED",
    "Resume": "RESUME_CALL_FAILED",
    "Disconnect": "DISCONNECT_CALL_FAILED",
    "ClearContact": "CLEAR_CONTACT_FAILED",
    "Consult": "CONSULT_CALL_FAILED",
    "ExternalConsult": "CONSULT_CALL_FAILED",
    "Swap": "SWAP_CALL_FAILED",
    "Conference": "CONFERENCE_CALL_FAILED",
    "Transfer": "TRANSFER_CALL_FAILED",
    "QueueTransfer": "TRANSFER_CALL_FAILED",
    "NumberPad": "SEND_DTMF_FAILED",
    "ConsultDrop": "CONSULT_DROP_FAILED",
    "Skip": "SKIP_CONTACT_FAILED",
    "MakeCall": "MAKE_CALL_FAILED",
    "UpdateState": "UPDATE_AGENT_STATE_FAILED",
    "SetNotReady": "UPDATE_AGENT_STATE_FAILED",
    "Mute": "MUTE_FAILED",
    "Unmute": "MUTE_FAILED",
    "Login": "LOGIN_FAILED",
    "Logout": "LOGOUT_FAILED",
    "IncomingCall": "SIMULATOR_FAILED",
    "CustomerHangup": "SIMULATOR_FAILED",
    "ThirdPartyAnswer": "SIMULATOR_FAILED",
    "ThirdPartyHangup": "SIMULATOR_FAILED",
    "OutboundResult": "SIMULATOR_FAILED",
    "Configure": "SIMULATOR_FAILED",
    "FailNext": "SIMULATOR_FAILED",
    "PreviewCall": "SIMULATOR_FAILED",
    "Reset": "SIMULATOR_FAILED",
}

# where a subtopic's sentence is not its type's: ExternalConsult shares Consult's type (§3.1)
_FAILURE_TEXT: dict[str, str] = {"ExternalConsult": "External consult failed."}


def failure_for(subtopic: str) -> tuple[str, str]:
    """The failure ``(type, text)`` of a canonical subtopic; KeyError for answer-only ones."""
    try:
        type_ = _FAILURE_TYPE[subtopic]
    except KeyError:
        raise KeyError(f"subtopic {subtopic!r} has no failure type") from None
    return type_, _FAILURE_TEXT.get(subtopic, ERROR_TEXT[type_])


class ProtocolError(Exception):
    """A request the hub cannot accept (PROTOCOL.md §5, protocol errors): the client's fault.

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
        super().__init__(f"{type}: {code}")
        self.type = type
        self.code = code
        self.text = ERROR_TEXT[type]
        self.topic = topic
        self.request = request
        self.request_id = request_id
