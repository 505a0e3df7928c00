"""Command deadlines with time as an input (docs/protocol.md §6): a command without a backend result
by its deadline fails with code ``timeout``; a late result is ignored; the next command runs."""

from __future__ import annotations

import json

import msgspec

from ctibridge import protocol as p
from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.engine import Broadcast, Engine, Execute, Finished, Reply


def request(subtopic: str, rid: str, data: object = None) -> p.Request:
    message: dict[str, object] = {
        "channel": "Amazon", "topic": "Agent", "subtopic": subtopic, "source": "app",
        "requestId": rid,
    }  # fmt: skip
    if data is not None:
        message["data"] = data
    return p.decode_request(json.dumps(message))


def test_a_command_without_result_times_out_and_the_next_one_runs() -> None:
    sim = SimBackend(ManualClock(), seed=1, agents=1)
    engine = Engine(deadline_ms=10_000)
    engine.add_agent("agent1", sim.snapshot("agent1"), sim.directory("agent1"), now=0)
    first = engine.submit("agent1", "app", request("UpdateState", "r1", {"label": "Break"}), 0)
    assert [type(o) for o in first] == [Execute]
    # a second command waits behind the first, which the backend never answers
    assert engine.submit("agent1", "app", request("Mute", "r2"), 1) == []
    assert engine.expire("agent1", 9_999) == []  # not yet
    outs = engine.expire("agent1", 10_000)
    failure = msgspec.to_builtins(outs[0])
    assert isinstance(outs[0], Broadcast)
    assert failure["envelope"]["message"]["type"] == "UPDATE_AGENT_STATE_FAILED"
    assert failure["envelope"]["message"]["code"] == "timeout"
    assert failure["envelope"]["requestId"] == "r1"
    # the queued Mute starts at once (refused: not on a call) and the late result is ignored
    rest = [msgspec.to_builtins(o) for o in outs[1:] if not isinstance(o, Finished)]
    assert [m["envelope"]["message"]["type"] for m in rest] == ["MUTE_FAILED"]
    assert isinstance(first[0], Execute)
    assert engine.result("agent1", first[0].command_id, None, 10_001) == []


def test_finished_is_an_output_that_follows_the_commands_answers() -> None:
    sim = SimBackend(ManualClock(), seed=1, agents=1)
    engine = Engine(deadline_ms=10_000)
    engine.add_agent("agent1", sim.snapshot("agent1"), sim.directory("agent1"), now=0)
    # refused at once (not on a call): its error event, then its Finished
    outs = engine.submit("agent1", "app", request("Mute", "r1"), 0)
    assert [type(o) for o in outs] == [Broadcast, Finished]
    done = outs[1]
    assert isinstance(done, Finished)
    assert (done.request.request_id, done.outcome, done.error_type) == (
        "r1",
        "refused",
        "MUTE_FAILED",
    )
    # a query: its answer to the sender, then its Finished
    outs = engine.submit("agent1", "app", request("GetStates", "r2"), 1)
    assert [type(o) for o in outs] == [Reply, Finished]
    # a command that times out: its failure, then its Finished with outcome "timeout"
    first = engine.submit("agent1", "app", request("UpdateState", "r3", {"label": "Break"}), 2)
    assert [type(o) for o in first] == [Execute]
    outs = engine.expire("agent1", 10_002)
    assert [type(o) for o in outs] == [Broadcast, Finished]
    assert isinstance(outs[1], Finished) and outs[1].outcome == "timeout"
