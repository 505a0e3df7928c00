"""Reading events for the backend tests (tests/backends/streams): rows to compare and a step
that knows which verbs the backend cannot carry out.  The conformance scenarios themselves live in
ctibridge.conform.scenarios (test_scenarios.py runs them in every world)."""

from __future__ import annotations

from typing import Any

from published_names import PUBLISHED_STATE
from support.buttons import CALL_BUTTONS
from support.harness import Message, flush
from support.worlds import World


def row(event: Message) -> tuple[Any, ...]:
    """A call event as (type, event, status, previousStatus, enabled buttons); SetAgentState as
    ("SetAgentState", shown state, next state or None, muted) - a Mute/Unmute event (two
    buttons) as ("Mute", shown state, muted); CcpAgentState as ("Ccp", name); an error as
    ("Error", type, code)."""
    subtopic = event["subtopic"]
    message = event["message"]
    if subtopic.endswith("CallStateChange"):
        call = message["call"]
        actual = call["ResponseActual"]
        buttons = frozenset(b for b in CALL_BUTTONS if actual["buttonStates"][b])
        assert buttons == frozenset(
            b for b, v in call["ButtonStates"]["items"].items() if v == "Enable"
        )
        return (actual["type"], call["event"], actual["status"], actual["previousStatus"], buttons)
    if subtopic == "SetAgentState":
        data = message["data"]
        name = message["event"]
        assert name == message["rules"]["ResponseActual"]["name"]
        assert data["state"] == PUBLISHED_STATE[data["type"]]
        assert data.get("reasonCode", {"id": name})["id"] == name
        if message["rules"]["ButtonStates"]["count"] == 2:
            assert list(message["rules"]["ButtonStates"]["items"]) == ["mute", "unmute"]
            return ("Mute", name, data["muted"])
        nxt = data.get("nextState")
        return ("SetAgentState", name, nxt["label"] if nxt else None, data["muted"])
    if subtopic == "CcpAgentState":
        return ("Ccp", message["name"])
    if subtopic == "Error":
        return ("Error", message["type"], message["code"])
    return (subtopic,)


def rows(events: list[Message]) -> list[tuple[Any, ...]]:
    return [row(e) for e in events]


async def step(world: World, topic: str, subtopic: str, *data: Any) -> list[Message]:
    """Send a request and return what it caused.  On a backend that cannot carry it out, the
    request must fail with the backend's documented code and change nothing; the agent then does
    it in the CCP, and what that caused is returned instead (where the CCP's effect cannot be
    seen by the backend either, the scenario ends there: ``EndOfScenario``)."""
    world.client.drain()
    result = await world.request(topic, subtopic, *data)
    world.client.drain()
    if subtopic in world.unsupported:
        assert result.error is not None, f"{subtopic} should fail on {world.name}"
        assert result.events == [result.error]
        assert result.error["message"]["code"] == world.unsupported_code
        assert await flush(world.client) == []
        return await world.in_ccp(subtopic, *data)
    assert result.error is None, result.error
    return result.events
