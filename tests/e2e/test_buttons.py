"""ButtonStates per docs/protocol.md §4.2, for every situation row, read off the wire.

``SITUATIONS`` (tests/support/buttons.py) is the §4.2 table written out literally (not imported
from the engine).  For each
situation, every call event of the step that reached it and every connection in a call StateSync
answer must show exactly the buttons of its row for its role (agent connection, customer leg,
third-party leg); a disconnected leg shows none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from e2e_support import (
    CUSTOMER,
    THIRD,
    call_ids,
    flush,
    leg_buttons,
    ok,
    query,
    ring,
    sim,
    statesync_legs,
)

from ctibridge.client import Client
from support.buttons import NONE, SITUATIONS

Step = Callable[[Any, Client, str], Awaitable[list[dict[str, Any]]]]


def do(topic_or_none: str | None, subtopic: str, *args: Any) -> Step:
    async def step(live: Any, c: Client, topic: str) -> list[dict[str, Any]]:
        return await ok(c, topic_or_none or topic, subtopic, *args)

    step.__name__ = subtopic
    return step


def simulate(subtopic: str, data: Any = None) -> Step:
    async def step(live: Any, c: Client, topic: str) -> list[dict[str, Any]]:
        return await sim(c, subtopic, data)

    return step


def wait(seconds: float) -> Step:
    async def step(live: Any, c: Client, topic: str) -> list[dict[str, Any]]:
        await live.advance(seconds)
        return await flush(c)

    return step


async def incoming(live: Any, c: Client, topic: str) -> list[dict[str, Any]]:
    return await ring(c)


INBOUND = [incoming, do(None, "Answer")]
OUTBOUND = [do(None, "MakeCall", CUSTOMER), simulate("OutboundResult", {"result": "answer"})]
CONSULT = [do(None, "Consult", THIRD)]
ANSWERED = [*CONSULT, wait(3)]

PATHS: dict[str, list[Step]] = {
    "ringing": [incoming],
    "2-party connected": INBOUND,
    "2-party held": [*INBOUND, do(None, "Hold")],
    "consult: third party connecting": [*INBOUND, *CONSULT],
    "consult: third party connected, customer held": [*INBOUND, *ANSWERED],
    "after swap": [*INBOUND, *ANSWERED, do(None, "Swap")],
    "conference": [*INBOUND, *ANSWERED, do(None, "Conference")],
    "outbound dialling": [do(None, "MakeCall", CUSTOMER)],
    "ACW": [*INBOUND, *ANSWERED, do(None, "Disconnect")],
    "missed": [incoming, wait(20)],
    "rejected": [incoming, do(None, "Reject")],
    "after ClearContact": [*INBOUND, do(None, "Disconnect"), do(None, "ClearContact")],
    "both held": [*INBOUND, *ANSWERED, do(None, "Hold")],
    "customer gone, third party connected": [*INBOUND, *ANSWERED, simulate("CustomerHangup")],
    "preview offered": [simulate("PreviewCall", {"phoneNumber": CUSTOMER})],
}
# the same situations on a call the agent placed (customer leg type "outbound")
OUTBOUND_PATHS: dict[str, list[Step]] = {
    "2-party connected": OUTBOUND,
    "2-party held": [*OUTBOUND, do(None, "Hold")],
    "consult: third party connecting": [*OUTBOUND, *CONSULT],
    "consult: third party connected, customer held": [*OUTBOUND, *ANSWERED],
    "after swap": [*OUTBOUND, *ANSWERED, do(None, "Swap")],
    "conference": [*OUTBOUND, *ANSWERED, do(None, "Conference")],
    "ACW": [*OUTBOUND, do(None, "Disconnect")],
    "after ClearContact": [*OUTBOUND, do(None, "Disconnect"), do(None, "ClearContact")],
}


def role_of(event: dict[str, Any]) -> str:
    """agent connection / customer leg (connectionId = contactId) / third party."""
    contact_id, connection_id = call_ids(event)
    type_, _ = leg_buttons(event)
    if type_ == "agent":
        return "agent"
    return "customer" if connection_id == contact_id else "third"


async def check_situation(live: Any, situation: str, steps: list[Step], topic: str) -> None:
    c = await live.connect()
    events: list[dict[str, Any]] = []
    for step in steps:
        events = await step(live, c, topic)
    row = SITUATIONS[situation]
    call_events = [e for e in events if e["subtopic"].endswith("StateChange")]
    assert call_events, "the step that reaches the situation sends call events"
    for event in call_events:
        role = role_of(event)
        status = event["message"]["call"]["ResponseActual"]["status"]
        expected = row[role] if status != "disconnected" or role == "agent" else NONE
        assert leg_buttons(event)[1] == expected, (situation, role)
    # StateSync shows every connection of the contact, each with its row's buttons
    legs = statesync_legs(await query(c, topic, "StateSync"))
    if situation == "after ClearContact":
        assert legs == []
        return
    assert {role for role, *_ in legs} <= set(row)
    for role, _type, status, buttons in legs:
        expected = row[role] if status != "disconnected" or role == "agent" else NONE
        assert buttons == expected, (situation, role, status)


@pytest.mark.parametrize("topic", ["InboundCall", "OutboundCall"])
@pytest.mark.parametrize("situation", list(PATHS))
async def test_situation_buttons(live, situation, topic):
    await check_situation(live, situation, PATHS[situation], topic)


@pytest.mark.parametrize("situation", list(OUTBOUND_PATHS))
async def test_situation_buttons_on_a_placed_call(live, situation):
    await check_situation(live, situation, OUTBOUND_PATHS[situation], "OutboundCall")


def test_every_situation_row_of_the_protocol_is_walked():
    published = {
        "ringing", "2-party connected", "2-party held", "consult: third party connecting",
        "consult: third party connected, customer held", "after swap", "conference",
        "outbound dialling", "ACW", "missed", "rejected", "after ClearContact",
    }  # fmt: skip
    assert published <= set(PATHS) == set(SITUATIONS)


async def test_agent_buttons_follow_state_and_mute(live):
    """§4.4, as the published samples: NotReady whenever logged in; Ready when not routable;
    make_call when not on a voice contact; mute when not muted, unmute when muted - and a
    Mute/Unmute event carries only those two."""
    c = await live.connect()
    agent = (await query(c, "Agent", "StateSync"))["message"]
    assert agent["rules"]["ButtonStates"]["items"] == {  # the Get Agent States sample
        "NotReady": "Enable", "Ready": "Hide", "make_call": "Enable", "mute": "Enable",
        "unmute": "Hide",
    }  # fmt: skip
    events = await ok(c, "Agent", "SetNotReady", {"ReasonCodeId": "Break"})
    assert events[0]["message"]["rules"]["ButtonStates"]["items"] == {  # the Set Not Ready sample
        "NotReady": "Enable", "Ready": "Enable", "make_call": "Enable", "mute": "Enable",
        "unmute": "Hide",
    }  # fmt: skip
    await ok(c, "Agent", "UpdateState", {"label": "Available"})
    await ring(c)
    await ok(c, "InboundCall", "Answer")
    events = await ok(c, "Agent", "Mute")
    assert events[0]["message"]["rules"]["ButtonStates"] == {  # the Mute sample
        "items": {"mute": "Hide", "unmute": "Enable"},
        "count": 2,
    }
