"""The engine owns its deadlines (docs/protocol.md §6): the hub arms a timer per backend call
that calls Engine.expire - one path for Connect's verbs and the Simulator topic alike."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from ctibridge.actions import Action
from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub
from ctibridge.hub.connection import AppConnection
from ctibridge.settings import AuthSettings, Settings
from support.hub import outbox_messages

DEADLINE_MS = 5_000


def frame(topic: str, subtopic: str, rid: str, data: object = None) -> str:
    message: dict[str, Any] = {
        "channel": "Amazon", "topic": topic, "subtopic": subtopic, "source": "app",
        "requestId": rid,
    }  # fmt: skip
    if data is not None:
        message["data"] = data
    return json.dumps(message)


async def drain(conn: AppConnection) -> list[dict[str, Any]]:
    await asyncio.sleep(0)  # let the backend tasks run
    return outbox_messages(conn)


async def started(backend: SimBackend, clock: ManualClock) -> tuple[Hub, AppConnection]:
    settings = Settings(auth=AuthSettings(insecure=True), command_deadline_ms=DEADLINE_MS)
    hub = Hub(backend, clock, settings)
    await hub.start()
    conn = hub.attach("agent1", app="test")
    assert [m["subtopic"] for m in await drain(conn)] == ["StateSync", "StateSync"]
    return hub, conn


async def test_a_backend_call_past_its_deadline_fails_with_timeout_then_the_next_runs() -> None:
    clock = ManualClock()
    backend = SimBackend(clock, seed=3, agents=1)
    cancelled = asyncio.Event()
    hang = True
    execute = backend.execute

    async def hanging(login: str, action: Action) -> None:
        if not hang:
            return await execute(login, action)
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    backend.execute = hanging  # type: ignore[method-assign]
    # a backend whose calls take time: not one the hub may call inline (ExecutesAtOnce)
    backend.executes_at_once = False
    hub, conn = await started(backend, clock)
    try:
        hub.receive("agent1", conn.id, frame("Agent", "UpdateState", "r1", {"label": "Break"}))
        hub.receive("agent1", conn.id, frame("Agent", "UpdateState", "r2", {"label": "Break"}))
        assert await drain(conn) == []
        clock.advance(DEADLINE_MS / 1000 - 0.001)
        assert await drain(conn) == []  # not yet
        hang = False
        clock.advance(0.001)  # the deadline: r1 fails with "timeout", r2 starts and succeeds
        answers = await drain(conn)
        answers += await drain(conn)
        failure = answers[0]
        assert (failure["subtopic"], failure["requestId"]) == ("Error", "r1")
        assert failure["message"]["type"] == "UPDATE_AGENT_STATE_FAILED"
        assert failure["message"]["code"] == "timeout"
        assert [m["requestId"] for m in answers[1:]] == ["r2", "r2"]
        assert [m["subtopic"] for m in answers[1:]] == ["SetAgentState", "CcpAgentState"]
        assert cancelled.is_set()  # the abandoned backend call was cancelled
        assert clock.pending == 0  # r2's result disarmed its timer
        timeouts = hub.metrics.backend_calls.labels("SetState", "timeout")._value.get()
        assert timeouts == 1
    finally:
        await hub.stop()


async def test_a_simulator_command_gets_a_deadline_too() -> None:
    """The simulator answers at once, so the hub calls it inline (no task, no timer); a call
    that still outlasts the deadline fails with "timeout" as a timer would have failed it."""
    clock = ManualClock()
    backend = SimBackend(clock, seed=3, agents=1)
    hub, conn = await started(backend, clock)
    simulate = backend.simulate

    def slow_simulate(login: str, subtopic: str, data: object) -> None:
        clock.advance(DEADLINE_MS / 1000)  # the call takes the whole deadline
        simulate(login, subtopic, data)

    try:
        pending = clock.pending
        hub.receive("agent1", conn.id, frame("Simulator", "FailNext", "s1", {"subtopic": "Hold"}))
        answers = await drain(conn)
        assert [m["requestId"] for m in answers] == ["s1"]
        assert answers[0]["subtopic"] != "Error"
        assert clock.pending == pending  # no timer left behind
        backend.simulate = slow_simulate  # type: ignore[method-assign]
        hub.receive("agent1", conn.id, frame("Simulator", "FailNext", "s2", {"subtopic": "Hold"}))
        answers = await drain(conn)
        assert [(m["requestId"], m["subtopic"]) for m in answers] == [("s2", "Error")]
        assert answers[0]["message"]["code"] == "timeout"
        assert clock.pending == pending
    finally:
        await hub.stop()
