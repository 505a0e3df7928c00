"""The one error tree (ctibridge/errors.py): every error ctibridge raises on purpose has one base,
is filed under whose fault it is, and carries the protocol error type it is reported as."""

from __future__ import annotations

import pytest

from ctibridge import protocol as p
from ctibridge.auth import AuthError
from ctibridge.backends.connect.api import ConnectError
from ctibridge.backends.sim import SimulatorError
from ctibridge.engine import UnknownAgent
from ctibridge.engine.commands import Refused, StateNotFound
from ctibridge.errors import (
    BackendError,
    BackendTimeout,
    CtiBridgeError,
    InternalError,
    RequestError,
)
from ctibridge.hub.limits import LimitExceeded
from ctibridge.protocol.shapes import InvalidData

# error -> (whose fault, the protocol error type it is reported as; None = the subtopic's own)
TREE: list[tuple[CtiBridgeError, type[CtiBridgeError], str | None]] = [
    (p.ProtocolError("UNKNOWN_TOPIC", "Bogus"), RequestError, "UNKNOWN_TOPIC"),
    (InvalidData("data.label"), RequestError, "INVALID_DATA"),
    (Refused("not on a call"), RequestError, None),
    (StateNotFound("Lunch"), RequestError, "AGENT_STATE_NOT_FOUND"),
    (UnknownAgent("nobody"), RequestError, "UNKNOWN_AGENT"),
    (AuthError("expired"), RequestError, "UNAUTHORIZED"),
    (LimitExceeded(1013, "too many", "agent_limit"), RequestError, None),
    (SimulatorError("no live contact"), RequestError, "SIMULATOR_FAILED"),
    (BackendError("InvalidParameterException: x"), BackendError, None),
    (ConnectError("StopContact", "ResourceNotFoundException", "gone"), BackendError, None),
    (BackendTimeout(), BackendError, None),
    (InternalError.wrap(ZeroDivisionError()), InternalError, None),
]


@pytest.mark.parametrize(("error", "fault", "error_type"), TREE, ids=lambda v: type(v).__name__)
def test_every_error_has_one_base_a_fault_and_a_protocol_type(
    error: CtiBridgeError, fault: type[CtiBridgeError], error_type: str | None
) -> None:
    assert isinstance(error, CtiBridgeError)
    faults = [f for f in (RequestError, BackendError, InternalError) if isinstance(error, f)]
    assert faults == [fault]
    assert error.error_type == error_type
    assert error.error_type is None or error.error_type in p.ERROR_TEXT
    assert isinstance(error.code, str) and error.code


def test_throttling_is_a_property_of_the_backend_error_not_a_substring_hunt() -> None:
    assert ConnectError("Op", "ThrottlingException", "x", throttled=True).throttled
    assert not ConnectError("Op", "LimitExceededException", "429 calls").throttled
    assert not BackendTimeout().throttled
    # a backend that only has Connect's message (the bridge) reports what the message says
    assert BackendError("TooManyRequestsException: Rate exceeded").throttled


def test_an_internal_error_names_the_bug_not_its_message() -> None:
    err = InternalError.wrap(KeyError("secret detail"))
    assert err.code == "internal error: KeyError"


def test_an_unknown_agent_is_still_a_lookup_failure() -> None:
    with pytest.raises(KeyError):
        raise UnknownAgent("nobody")
