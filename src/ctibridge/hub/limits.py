"""Per-connection and per-agent budgets: a token bucket, and the refusal a full hub gives."""

from __future__ import annotations

from ..errors import RequestError


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one message costs one token.

    Time is passed in (monotonic seconds), so tests drive it and the hub uses a real clock even
    when the simulator runs on a manual one.
    """

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; False when the budget is used up."""
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class LimitExceeded(RequestError):
    """A connection the hub will not take: close with ``close_code`` (1013: try again later)."""

    def __init__(self, close_code: int, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason
        self.kind = kind
