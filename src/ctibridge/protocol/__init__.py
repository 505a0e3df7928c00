"""The message API (docs/protocol.md): requests in, events and answers out, as msgspec types.

* ``decode_request`` turns one frame into a typed :class:`Request` or raises :class:`ProtocolError`.
* The render functions build wire :class:`Envelope` values from the model; ``encode`` makes bytes.
* ``json_schema`` documents every message, generated from the same types, and
  ``asyncapi_document`` the WebSocket API around them (AsyncAPI 3).

Sans-IO: no sockets, no clock, no logging.
"""

from .asyncapi import asyncapi_document
from .decode import MAX_FRAME_BYTES, decode_request
from .errors import ERROR_TEXT, ProtocolError, failure_for
from .render import (
    agent_info,
    agent_state_event,
    agent_statesync,
    call_event,
    call_statesync,
    ccp_agent_state,
    error_event,
    get_states,
    login_success,
    logout_success,
    protocol_error_event,
)
from .requests import Request
from .schema import json_schema
from .wire import (
    AGENT_BUTTONS,
    CALL_BUTTONS,
    AgentInfoMessage,
    Envelope,
    encode,
    iso,
    with_request_id,
    with_seq,
)

__all__ = [
    "AGENT_BUTTONS",
    "CALL_BUTTONS",
    "ERROR_TEXT",
    "MAX_FRAME_BYTES",
    "AgentInfoMessage",
    "Envelope",
    "ProtocolError",
    "Request",
    "agent_info",
    "agent_state_event",
    "agent_statesync",
    "asyncapi_document",
    "call_event",
    "call_statesync",
    "ccp_agent_state",
    "decode_request",
    "encode",
    "error_event",
    "failure_for",
    "get_states",
    "iso",
    "json_schema",
    "login_success",
    "logout_success",
    "protocol_error_event",
    "with_request_id",
    "with_seq",
]
