"""One scenario suite, every backend (STYLE.md §17): sim, streams (the real bridge page with the
real Streams bundle against a fake CCP in Chromium) and connect (server APIs with Stubbers and
Agent Event Stream records).  Expectations are literal and the same for every backend; where a
backend cannot carry out a verb, ``step`` checks the documented failure and has the agent do it
in the CCP.
"""

from __future__ import annotations

import pytest
from harness import FAILURE, flush
from scenarios import rows, step
from worlds import CUSTOMER, World

pytestmark = pytest.mark.asyncio(loop_scope="session")

A, IN, OUT = "agent", "inbound", "outbound"
F: frozenset[str] = frozenset()
THIRD = "+15557654321"
TWO_PARTY = (frozenset({"consult", "numberpad", "transfer"}), frozenset({"disconnect", "hold"}))
HELD = (frozenset({"consult", "transfer"}), frozenset({"disconnect", "resume"}))
CONSULT = frozenset({"swap", "conference", "transfer", "numberpad"})
CLEAR = frozenset({"clearContact"})
IB = "InboundCall"


def agent(state: str, nxt: str | None = None, muted: bool = False) -> tuple[object, ...]:
    return ("SetAgentState", state, nxt, muted)


async def talking(world: World) -> None:
    await world.ring()
    await step(world, IB, "Answer")


async def test_inbound_call_hold_resume_disconnect_clear(world: World) -> None:
    assert rows(await world.ring()) == [
        (A, "connecting", "connecting", None, {"answer", "reject"}),
        (IN, "connected", "connected", None, F),
        agent("PendingBusy"),
    ]
    assert rows(await step(world, IB, "Answer")) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", None, TWO_PARTY[1]),
        agent("Busy"),
    ]
    assert rows(await step(world, IB, "Hold")) == [
        (A, "connected", "connected", "connecting", HELD[0]),
        (IN, "hold", "hold", "connected", HELD[1]),
    ]
    assert rows(await step(world, IB, "Resume")) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", "hold", TWO_PARTY[1]),
    ]
    assert rows(await step(world, IB, "Disconnect")) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        agent("AfterCallWork"),
    ]
    assert rows(await step(world, IB, "ClearContact")) == [
        (A, "DROPPED", "disconnected", "connected", F),
        (IN, "DROPPED", "disconnected", "connected", F),
        agent("Available"),
    ]
    assert await flush(world.client) == []


async def test_reject_then_clear(world: World) -> None:
    await world.ring()
    assert rows(await step(world, IB, "Reject")) == [
        (A, "rejected", "disconnected", "connecting", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        agent("MissedCallAgent"),
    ]
    events = await step(world, IB, "ClearContact")
    assert rows(events)[-1] == agent("Available")


async def test_customer_hangs_up(world: World) -> None:
    await talking(world)
    assert rows(await world.customer_hangup()) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        agent("AfterCallWork"),
    ]


async def test_consult_swap_conference_warm_transfer(world: World) -> None:
    await talking(world)
    assert rows(await step(world, IB, "Consult", THIRD)) == [
        (A, "connected", "connected", "connecting", F),
        (IN, "hold", "hold", "connected", {"disconnect", "resume"}),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
    ]
    assert rows(await world.third_party_answer()) == [
        (A, "connected", "connected", "connecting", CONSULT),
        (OUT, "connected", "connected", "connecting", {"disconnect", "hold"}),
    ]
    assert rows(await step(world, IB, "Swap")) == [
        (A, "connected", "connected", "connecting", {"swap", "conference", "numberpad"}),
        (IN, "connected", "connected", "hold", {"disconnect", "hold"}),
        (OUT, "hold", "hold", "connected", {"disconnect", "resume"}),
    ]
    assert rows(await step(world, IB, "Conference")) == [
        (A, "connected", "connected", "connecting", {"transfer", "numberpad"}),
        (OUT, "connected", "connected", "hold", {"disconnect", "hold"}),
    ]
    assert rows(await step(world, IB, "Transfer")) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        (OUT, "DROPPED", "disconnected", "connected", F),
        agent("AfterCallWork"),
    ]


async def test_consult_drop_and_third_party_hangup(world: World) -> None:
    await talking(world)
    await step(world, IB, "Consult", THIRD)
    assert rows(await step(world, IB, "ConsultDrop")) == [
        (A, "connected", "connected", "connecting", HELD[0]),
        (OUT, "DROPPED", "disconnected", "connecting", F),
    ]
    await step(world, IB, "Consult", {"quickConnect": "Billing"})
    await world.third_party_answer()
    assert rows(await world.third_party_hangup()) == [
        (A, "connected", "connected", "connecting", HELD[0]),
        (OUT, "DROPPED", "disconnected", "connected", F),
    ]


@pytest.mark.parametrize("target", [THIRD, {"quickConnect": "Supervisor"}], ids=["phone", "qc"])
async def test_blind_transfer(world: World, target: object) -> None:
    await talking(world)
    assert rows(await step(world, IB, "Transfer", target)) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        agent("AfterCallWork"),
    ]


async def test_queue_transfer(world: World) -> None:
    await talking(world)
    events = await step(world, IB, "QueueTransfer", {"queueName": "Sales", "isWarmTransfer": False})
    assert rows(events)[-1] == agent("AfterCallWork")


@pytest.mark.parametrize("topic", ["OutboundCall", "InboundCall"])
async def test_make_call_answered_then_customer_hangs_up(world: World, topic: str) -> None:
    events = await step(world, topic, "MakeCall", CUSTOMER)
    assert rows(events) == [
        (A, "connecting", "connecting", None, F),
        (OUT, "connecting", "connecting", None, {"disconnect"}),
        agent("CallingCustomer"),
    ]
    assert {e["topic"] for e in events if e["subtopic"] != "SetAgentState"} == {topic}
    assert events[1]["message"]["call"]["ResponseActual"]["phoneNumber"] == CUSTOMER
    assert rows(await world.outbound_answer()) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (OUT, "connected", "connected", "connecting", TWO_PARTY[1]),
        agent("Busy"),
    ]
    events = await world.customer_hangup()
    assert rows(events)[-1] == agent("AfterCallWork")
    assert {e["topic"] for e in events if e["subtopic"] != "SetAgentState"} == {topic}


async def test_agent_states_enqueued_next_state_and_clear(world: World) -> None:
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Break"})) == [agent("Break")]
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Available"})) == [
        agent("Available")
    ]
    await talking(world)
    # on a call the state is enqueued as the next state (shown in nextState)
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Lunch"})) == [
        agent("Busy", "Lunch")
    ]
    await step(world, IB, "Disconnect")
    events = await step(world, IB, "ClearContact")
    assert rows(events)[-1] == agent("Lunch")


async def test_mute_and_unmute(world: World) -> None:
    await talking(world)
    assert rows(await step(world, "Agent", "Mute")) == [agent("Busy", muted=True)]
    assert rows(await step(world, "Agent", "Unmute")) == [agent("Busy")]


async def test_logout_and_login(world: World) -> None:
    events = await step(world, "Agent", "Logout")
    assert [(e["subtopic"], e["message"]["loginState"]) for e in events] == [
        ("LogoutSuccess", "LoggedOut")
    ]
    events = await step(world, "Agent", "Login")
    assert [(e["subtopic"], e["message"]["agentState"]["name"]) for e in events] == [
        ("LoginSuccess", "Available")
    ]


@pytest.mark.parametrize(
    ("subtopic", "failure"),
    [("Hold", "HOLD_CALL_FAILED"), ("Disconnect", "DISCONNECT_CALL_FAILED")],
)
async def test_connect_refuses_a_command(world: World, subtopic: str, failure: str) -> None:
    await talking(world)
    before = await world.client.request("InboundCall", "StateSync")
    unsupported = subtopic in world.unsupported
    if not unsupported:
        await world.fail_next(subtopic)
    result = await world.request(IB, subtopic)
    code = world.unsupported_code if unsupported else FAILURE
    assert rows(result.events) == [("Error", failure, code)]
    after = await world.client.request("InboundCall", "StateSync")
    assert after.events[0]["message"] == before.events[0]["message"]  # nothing changed
    # the next try succeeds (or fails the same way where the backend cannot do it)
    assert (await world.request(IB, subtopic)).ok is not unsupported


async def test_refused_state_change(world: World) -> None:
    await world.fail_next("UpdateState")
    result = await world.request("Agent", "UpdateState", {"label": "Break"})
    assert rows(result.events) == [("Error", "UPDATE_AGENT_STATE_FAILED", FAILURE)]
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Break"})) == [agent("Break")]


async def test_number_pad(world: World) -> None:
    await talking(world)
    assert rows(await step(world, IB, "NumberPad", "12#")) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
    ]
