"""Every (situation, call subtopic) pair: the engine either acts or refuses with the subtopic's
failure type — never raises, never stays silent — and a refusal changes nothing (h2-style)."""

from __future__ import annotations

from typing import Any

import pytest
from engine_driver import Driver

from ctibridge.engine.commands import AGENT_PLANNERS, CALL_PLANNERS
from ctibridge.protocol import failure_for

Step = tuple[str, str, Any]
RING: list[Step] = [("Simulator", "IncomingCall", {"phoneNumber": "+15551112222"})]
TALK = [*RING, ("InboundCall", "Answer", None)]
CONSULT = [*TALK, ("InboundCall", "Consult", "+15553334444")]
CONSULTED = [*CONSULT, ("Simulator", "ThirdPartyAnswer", {})]
SITUATIONS: dict[str, list[Step]] = {
    "idle": [],
    "ringing": RING,
    "two_party": TALK,
    "two_party_held": [*TALK, ("InboundCall", "Hold", None)],
    "consult_ringing": CONSULT,
    "consult": CONSULTED,
    "consult_swapped": [*CONSULTED, ("InboundCall", "Swap", None)],
    "conference": [*CONSULTED, ("InboundCall", "Conference", None)],
    "third_party_only": [*CONSULTED, ("Simulator", "CustomerHangup", {})],
    "dialling": [("OutboundCall", "MakeCall", "+15557778888")],
    "preview": [("Simulator", "PreviewCall", {"phoneNumber": "+15557778888"})],
    "acw": [*TALK, ("InboundCall", "Disconnect", None)],
    "missed": [*RING, ("Simulator", "Configure", {})],  # then the ring times out
    "rejected": [*RING, ("InboundCall", "Reject", None)],
    "logged_out": [("Agent", "Logout", None)],
}
DATA: dict[str, Any] = {
    "Consult": "+15559990000",
    "ExternalConsult": "+15559990000",
    "QueueTransfer": {"queueName": "Sales"},
    "NumberPad": "123",
    "MakeCall": "+15559990000",
    "UpdateState": {"label": "Break"},
    "SetNotReady": {"ReasonCodeId": "Lunch"},
}


def reach(name: str, situations: dict[str, list[Step]] = SITUATIONS) -> Driver:
    """A fresh driver with agent1 in situation ``name`` (the steps there all succeed)."""
    d = Driver(seed=11)
    for topic, subtopic, data in situations[name]:
        sent = d.send("agent1", topic, subtopic, data)
        assert not [m for m in sent if m.message["subtopic"] == "Error"], (name, subtopic)
    if name == "missed":
        d.advance(21)
    return d


@pytest.mark.parametrize("situation", sorted(SITUATIONS))
@pytest.mark.parametrize(
    "topic,subtopic",
    [("OutboundCall" if s == "Skip" else "InboundCall", s) for s in sorted(CALL_PLANNERS)]
    + [("Agent", s) for s in AGENT_PLANNERS],
)
def test_each_command_in_each_situation(situation: str, topic: str, subtopic: str) -> None:
    d = reach(situation)
    before = d.engine.session("agent1").snapshot
    sent = d.send("agent1", topic, subtopic, DATA.get(subtopic))
    assert sent, "every request is answered"
    errors = [m.message for m in sent if m.message["subtopic"] == "Error"]
    if errors:
        assert len(sent) == 1
        allowed = {failure_for(subtopic)[0], "AGENT_STATE_NOT_FOUND"}
        assert errors[0]["message"]["type"] in allowed
        assert errors[0]["message"]["code"]
        assert d.engine.session("agent1").snapshot == before, "a refusal changes nothing"
    else:
        assert all(m.origin is None for m in sent), "command results go to every app"
        # events of agent1 carry its requestId (another agent may be rung by a transfer)
        mine = [m for m in sent if m.login == "agent1"]
        rid = mine[0].message["requestId"]
        assert all(m.message.get("requestId") == rid for m in mine)
