"""Staying within Amazon Connect's API quotas: a token bucket per API, retries on throttling.

Connect allows each API a steady rate with a burst (default 2 requests/s, burst 5) and answers
HTTP 429 beyond it.  Every request first takes a token from its API's bucket; a throttled
request is retried after a jittered, exponentially growing pause ("full jitter"), up to
``max_attempts`` tries.  Only refusals that mean "not carried out" are retried (throttling), so
a retry never duplicates a request; a request that must not run twice whatever happens carries
an idempotency token (StartOutboundVoiceContact's ``ClientToken``) that stays the same on retry.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

Now = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "Throttling",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
    }
)
# LimitExceededException is not in THROTTLING_CODES: Connect sends it when a service quota is
# reached (concurrent calls, contacts per queue ...); retrying cannot help and only uses the API
# rate.  It fails at once, with its own code.


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; ``take`` waits for one."""

    def __init__(
        self, rate: float, burst: int, now: Now = time.monotonic, sleep: Sleep = asyncio.sleep
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._now = now
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = now()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting for tokens, in total

    def _refill(self) -> None:
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self) -> None:
        async with self._lock:  # first come, first served
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self.waited += wait
                await self._sleep(wait)
                self._refill()
            self._tokens -= 1


class Backoff:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n))."""

    def __init__(self, base: float = 0.2, cap: float = 5.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def pause(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.cap, self.base * 2**attempt))


def is_throttling(code: str, status: int | None) -> bool:
    return status == 429 or code in THROTTLING_CODES
