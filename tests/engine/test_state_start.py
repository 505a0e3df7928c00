"""A state's start is when the agent entered it (docs/protocol.md §3.3, revision 2), whatever time
the backend still carries for the chosen state: snapshots in, SetAgentState out, plain calls."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from ctibridge.engine import Broadcast, Engine
from ctibridge.model import AgentInfo, AgentSnapshot, AgentState, Connection, Contact, Directory

AVAILABLE = AgentState("Available", "Available", "routable")
INFO = AgentInfo(login="a", name="A")
T0, CALL, ACW, CLEAR = 1_000_000, 1_060_000, 1_120_000, 1_180_000


def idle(since: int) -> AgentSnapshot:
    # as a backend that keeps the time the state was chosen (Streams' agent state timestamp)
    return AgentSnapshot(info=INFO, logged_in=True, state=AVAILABLE, state_since=since)


def on_call(state: str) -> AgentSnapshot:
    status = "connected" if state == "live" else "disconnected"
    legs = (
        Connection("a1", "agent", "agent", status, CALL),  # type: ignore[arg-type]
        Connection("c1", "customer", "inbound", status, CALL),  # type: ignore[arg-type]
    )
    contact = Contact("c1", "inbound", "InboundCall", state, CALL, legs)  # type: ignore[arg-type]
    return msgspec.structs.replace(idle(T0), contacts=(contact,))


def state_events(outputs: Sequence[object]) -> list[tuple[str, str]]:
    out = []
    for o in outputs:
        if isinstance(o, Broadcast) and o.envelope.subtopic == "SetAgentState":
            message = msgspec.to_builtins(o.envelope.message)
            out.append((message["event"], message["data"]["stateChangeTime"]))
    return out


def test_back_from_a_call_the_state_starts_at_the_clear() -> None:
    engine = Engine()
    engine.add_agent("a", idle(T0), Directory(states=(AVAILABLE,)), T0)
    assert state_events(engine.on_snapshot("a", on_call("live"), CALL)) == [
        ("Busy", "1970-01-01T00:17:40.000Z")
    ]
    assert state_events(engine.on_snapshot("a", on_call("acw"), ACW)) == [
        ("AfterCallWork", "1970-01-01T00:18:40.000Z")
    ]
    # cleared: Available again, with the backend's time still T0 - entered now, not at T0
    assert state_events(engine.on_snapshot("a", idle(T0), CLEAR)) == [
        ("Available", "1970-01-01T00:19:40.000Z")
    ]


def test_a_chosen_state_keeps_the_backends_time() -> None:
    engine = Engine()
    engine.add_agent("a", idle(T0), Directory(states=(AVAILABLE,)), T0)
    # the backend says the state was chosen again later (a restart, the same state set again)
    assert state_events(engine.on_snapshot("a", idle(T0 + 5_000), CLEAR)) == [
        ("Available", "1970-01-01T00:16:45.000Z")
    ]
