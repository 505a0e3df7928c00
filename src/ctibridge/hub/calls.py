"""The backend calls the engine asks for (``Execute``, ``Simulate``), each with the engine's
deadline: the hub arms a timer per call, and whichever comes first - the call's result or the
timer - tells the engine (``Engine.result`` or ``Engine.expire``).  A call past its deadline is
cancelled, as the app was told it failed; a late result is ignored by the engine."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ..backends.base import Simulates
from ..clock import Timer
from ..engine import Execute, Simulate
from ..errors import BackendError, BackendTimeout, CtiBridgeError, InternalError

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("ctibridge.hub")


class _Call:
    """A backend call in flight and the timer of its deadline."""

    __slots__ = ("out", "start", "task", "timer")

    def __init__(self, out: Execute | Simulate, task: asyncio.Task[None], start: float) -> None:
        self.out = out
        self.task = task
        self.start = start
        self.timer: Timer | None = None


class BackendCalls:
    def __init__(self, hub: Hub, tasks: set[asyncio.Task[None]]) -> None:
        self.hub = hub
        self._tasks = tasks  # the hub's: cancelled when it stops
        # per agent: its command's backend call in flight (one at a time, as the engine runs them)
        self._in_flight: dict[str, _Call] = {}

    def start(self, out: Execute | Simulate) -> None:
        """Start the backend call and arm the engine's deadline for it: whichever comes first,
        the call's result or the timer, tells the engine (Engine.result / Engine.expire)."""
        task = asyncio.get_running_loop().create_task(self._call_backend(out))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        call = _Call(out, task, time.perf_counter())
        self._in_flight[out.login] = call
        self._arm(call)

    def _arm(self, call: _Call) -> None:
        flight = self.hub.engine.in_flight(call.out.login)
        deadline = flight[1] if flight is not None else self.hub.clock.now_ms()
        delay = max(deadline - self.hub.clock.now_ms(), 0) / 1000
        call.timer = self.hub.clock.call_later(delay, lambda: self._expire(call))

    def _expire(self, call: _Call) -> None:
        out = call.out
        if self._in_flight.get(out.login) is not call:
            return  # its result came first
        outputs = self.hub.engine.expire(out.login, self.hub.clock.now_ms())
        flight = self.hub.engine.in_flight(out.login)
        if flight is not None and flight[0] == out.command_id:
            self._arm(call)  # the timer ran ahead of the engine's clock: wait the rest
            return
        del self._in_flight[out.login]
        call.task.cancel()  # the backend call is abandoned, as the app was told
        self._backend_metrics(call, BackendTimeout())
        self.hub.carry_out(outputs)

    async def _call_backend(self, out: Execute | Simulate) -> None:
        failure: CtiBridgeError | None = None
        try:
            if isinstance(out, Execute):
                await self.hub.backend.execute(out.login, out.action)
            elif isinstance(self.hub.backend, Simulates):
                self.hub.backend.simulate(out.login, out.subtopic, out.data)
            else:
                raise BackendError("the backend has no simulator")
        except CtiBridgeError as e:  # a refusal: Connect's, the simulator's
            failure = e
        except Exception as e:
            log.exception("backend failed", extra={"agent": out.login, "kind": "backend"})
            self.hub.count_error("BACKEND")
            failure = InternalError.wrap(e)
        call = self._in_flight.get(out.login)
        if call is None or call.out is not out:
            return  # the deadline came first
        del self._in_flight[out.login]
        if call.timer is not None:
            call.timer.cancel()
        self._backend_metrics(call, failure)
        self.hub.carry_out(
            self.hub.engine.result(out.login, out.command_id, failure, self.hub.clock.now_ms())
        )

    def _backend_metrics(self, call: _Call, failure: CtiBridgeError | None) -> None:
        if not isinstance(call.out, Execute):
            return
        throttled = isinstance(failure, BackendError) and failure.throttled
        outcome = "ok" if failure is None else "throttled" if throttled else (
            "timeout" if isinstance(failure, BackendTimeout) else "error"
        )  # fmt: skip
        self.hub.metrics.backend_calls.labels(type(call.out.action).__name__, outcome).inc()
        self.hub.metrics.backend_latency.observe(time.perf_counter() - call.start)
        if throttled:
            self.hub.metrics.backend_throttles.inc()
