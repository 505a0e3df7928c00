"""The one error tree of ctibridge, split by whose fault it is (as h11's ``ProtocolError`` is
split into Local and Remote):

* :class:`RequestError` — the app's request: a bad frame, data of the wrong shape, a command
  whose preconditions do not hold, a token that does not authenticate, a connection over a limit;
* :class:`BackendError` — the backend or Amazon Connect refused, failed or did not answer in time;
* :class:`InternalError` — our own bug (an exception nobody meant to raise), reported as a
  failure so the app still gets its answer.

Every error carries ``code`` (the detail apps get in the error's ``code`` field) and
``error_type``, the protocol error type it is reported as (docs/protocol.md §3, §5); None means
"the failure type of the request's subtopic" (``protocol.failure_for``).  Sans-IO: this module
imports nothing, so the engine and the protocol can raise and take these types.
"""

from __future__ import annotations

from typing import ClassVar


class CtiBridgeError(Exception):
    """Base of every error ctibridge raises on purpose."""

    error_type: str | None = None

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class RequestError(CtiBridgeError):
    """The app's fault: what it asked for cannot be accepted or carried out as asked."""


class BackendError(CtiBridgeError):
    """Amazon Connect (or the bridge or simulator standing in for it) refused or could not carry
    out an action.  ``throttled``: it refused because of its request quotas."""

    # how Connect names throttling in the messages it passes on (ThrottlingException,
    # TooManyRequestsException, HTTP 429) when the backend only has the message
    _THROTTLE_MARKERS: ClassVar[tuple[str, ...]] = ("Throttl", "TooManyRequests", "429")

    def __init__(self, code: str, *, throttled: bool | None = None) -> None:
        super().__init__(code)
        self.throttled = (
            any(m in code for m in self._THROTTLE_MARKERS) if throttled is None else throttled
        )


class BackendTimeout(BackendError):
    """No result from the backend by the command's deadline (the engine's, see Engine.expire)."""

    def __init__(self) -> None:
        super().__init__("timeout", throttled=False)


class InternalError(CtiBridgeError):
    """Our bug: an unexpected exception, reported to the app as its request's failure."""

    @classmethod
    def wrap(cls, e: BaseException) -> InternalError:
        return cls(f"internal error: {type(e).__name__}")
