"""The backend calls the engine asks for (``Execute``, ``Simulate``), each with the engine's
deadline: the hub arms a timer per call, and whichever comes first - the call's result or the
timer - tells the engine (``Engine.result`` or ``Engine.expire``).  A call past its deadline is
cancelled, as the app was told it failed; a late result is ignored by the engine.

A backend that carries out actions synchronously (the simulator: ``ExecutesAtOnce``) and the
``Simulator`` topic are called inline instead: no task, no timer - nothing can come between
the call and its result; a call that itself took past the deadline is failed as a timer would
have failed it."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, cast

from ..backends.base import ExecutesAtOnce, Simulates
from ..clock import Timer
from ..engine import Execute, Output, Simulate
from ..errors import BackendError, BackendTimeout, CtiBridgeError, InternalError

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("ctibridge.hub")

# synchronous calls nested in one another (a result starts the agent's next queued command):
# beyond this the next one gets a task, so the stack stays shallow
MAX_DEPTH = 8


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
        self._depth = 0  # synchronous calls in progress (a result may start the next command)
        # decided once: a runtime Protocol check costs ~20 us, more than a simulator call
        backend = hub.backend
        self._at_once = isinstance(backend, ExecutesAtOnce) and backend.executes_at_once

    def start_all(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Execute | Simulate):
                self.start(out)

    def start(self, out: Execute | Simulate) -> None:
        """Start the backend call and arm the engine's deadline for it: whichever comes first,
        the call's result or the timer, tells the engine (Engine.result / Engine.expire).
        A synchronous call is made here and now, its result given to the engine at once."""
        if (self._at_once or isinstance(out, Simulate)) and self._depth < MAX_DEPTH:
            self._depth += 1
            try:
                self._call_now(out)
            finally:
                self._depth -= 1
            return
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
        self._backend_metrics(out, call.start, BackendTimeout())
        self.hub.carry_out(outputs)

    def _call_now(self, out: Execute | Simulate) -> None:
        start = time.perf_counter()
        failure: CtiBridgeError | None = None
        try:
            backend = self.hub.backend
            if isinstance(out, Execute):
                cast(ExecutesAtOnce, backend).execute_now(out.login, out.action)
            else:
                self._simulate(out)
        except CtiBridgeError as e:  # a refusal: the simulator's
            failure = e
        except Exception as e:
            failure = self._crashed(out, e)
        now = self.hub.clock.now_ms()
        flight = self.hub.engine.in_flight(out.login)
        if flight is not None and flight[0] == out.command_id and now >= flight[1]:
            # the call itself outlasted the deadline: the app hears "timeout", as from a timer
            self._backend_metrics(out, start, BackendTimeout())
            self.hub.carry_out(self.hub.engine.expire(out.login, now))
            return
        self._backend_metrics(out, start, failure)
        self._result(out, failure)

    async def _call_backend(self, out: Execute | Simulate) -> None:
        failure: CtiBridgeError | None = None
        try:
            if isinstance(out, Execute):
                await self.hub.backend.execute(out.login, out.action)
            else:
                self._simulate(out)
        except CtiBridgeError as e:  # a refusal: Connect's, the simulator's
            failure = e
        except Exception as e:
            failure = self._crashed(out, e)
        call = self._in_flight.get(out.login)
        if call is None or call.out is not out:
            return  # the deadline came first
        del self._in_flight[out.login]
        if call.timer is not None:
            call.timer.cancel()
        self._backend_metrics(out, call.start, failure)
        self._result(out, failure)

    def _simulate(self, out: Execute | Simulate) -> None:
        if not isinstance(out, Simulate) or not isinstance(self.hub.backend, Simulates):
            raise BackendError("the backend has no simulator")
        self.hub.backend.simulate(out.login, out.subtopic, out.data)

    def _crashed(self, out: Execute | Simulate, e: Exception) -> CtiBridgeError:
        log.exception("backend failed", extra={"agent": out.login, "kind": "backend"})
        self.hub.count_error("BACKEND")
        return InternalError.wrap(e)

    def _result(self, out: Execute | Simulate, failure: CtiBridgeError | None) -> None:
        now = self.hub.clock.now_ms()
        self.hub.carry_out(self.hub.engine.result(out.login, out.command_id, failure, now))

    def _backend_metrics(
        self, out: Execute | Simulate, start: float, failure: CtiBridgeError | None
    ) -> None:
        if not isinstance(out, Execute):
            return
        throttled = isinstance(failure, BackendError) and failure.throttled
        outcome = "ok" if failure is None else "throttled" if throttled else (
            "timeout" if isinstance(failure, BackendTimeout) else "error"
        )  # fmt: skip
        metrics = self.hub.metrics
        metrics.count(metrics.backend_calls, type(out.action).__name__, outcome)
        metrics.observe(metrics.backend_latency, time.perf_counter() - start)
        if throttled:
            self.hub.metrics.backend_throttles.inc()
