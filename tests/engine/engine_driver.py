"""Drive the engine against the simulator with plain calls: no event loop, no sockets.

The simulator's ``execute`` is a coroutine that never suspends, so it is run to completion
with ``send(None)``; snapshots it reports go straight back into the engine, as the hub does.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Coroutine
from typing import Any

import msgspec

from ctibridge import protocol as p
from ctibridge.actions import BackendError
from ctibridge.backends.sim import SimBackend, SimulatorError
from ctibridge.clock import ManualClock
from ctibridge.engine import Broadcast, Engine, Execute, Finished, Output, Reply, Simulate
from ctibridge.errors import CtiBridgeError
from ctibridge.model import AgentSnapshot


def run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise AssertionError("the simulator suspended; the driver expects it never to")


class Sent(msgspec.Struct):
    """One message as an app would see it: to every app (``origin`` None) or to one app."""

    login: str
    origin: str | None
    message: dict[str, Any]


class Driver:
    def __init__(self, seed: int = 1, agents: int = 2) -> None:
        self.clock = ManualClock()
        self.sim = SimBackend(self.clock, seed=seed, agents=agents)
        self.engine = Engine()
        now = self.clock.now_ms()
        for login in self.sim.logins():
            self.engine.add_agent(login, self.sim.snapshot(login), self.sim.directory(login), now)
        self.sent: list[Sent] = []
        self.finished: list[Finished] = []
        self.previous: dict[str, AgentSnapshot] = {
            login: self.sim.snapshot(login) for login in self.sim.logins()
        }
        self.rids = itertools.count(1)
        run(self.sim.start(self._on_snapshot))

    def _on_snapshot(self, login: str, snapshot: AgentSnapshot) -> None:
        self.previous[login] = self.engine.session(login).snapshot
        self.process(self.engine.on_snapshot(login, snapshot, self.clock.now_ms()))

    def process(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Broadcast):
                self.sent.append(Sent(out.login, None, msgspec.to_builtins(out.envelope)))
            elif isinstance(out, Reply):
                self.sent.append(Sent(out.login, out.origin, msgspec.to_builtins(out.envelope)))
            elif isinstance(out, Finished):
                self.finished.append(out)
            elif isinstance(out, Execute):
                error: CtiBridgeError | None = None
                try:
                    run(self.sim.execute(out.login, out.action))
                except BackendError as e:
                    error = e
                self.process(self.engine.result(out.login, out.command_id, error, self.now))
            elif isinstance(out, Simulate):
                error = None
                try:
                    self.sim.simulate(out.login, out.subtopic, out.data)
                except SimulatorError as e:
                    error = e
                self.process(self.engine.result(out.login, out.command_id, error, self.now))

    def take_finished(self) -> list[Finished]:
        """The commands finished since the last call, in the order they finished."""
        done, self.finished = self.finished, []
        return done

    @property
    def now(self) -> int:
        return self.clock.now_ms()

    def send(
        self, login: str, topic: str, subtopic: str, data: Any = None, origin: str = "app"
    ) -> list[Sent]:
        """Send one request as app ``origin``; return everything sent because of it."""
        message: dict[str, Any] = {
            "channel": "Amazon",
            "topic": topic,
            "subtopic": subtopic,
            "source": origin,
            "requestId": f"r{next(self.rids)}",
        }
        if data is not None:
            message["data"] = data
        start = len(self.sent)
        try:
            request = p.decode_request(json.dumps(message))
        except p.ProtocolError as err:
            env = msgspec.to_builtins(p.protocol_error_event(err))
            self.sent.append(Sent(login, origin, env))
            return self.sent[start:]
        self.process(self.engine.submit(login, origin, request, self.now))
        return self.sent[start:]

    def advance(self, seconds: float) -> list[Sent]:
        start = len(self.sent)
        self.clock.advance(seconds)
        return self.sent[start:]
