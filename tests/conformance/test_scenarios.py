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
# rev 2: transfer is Hide on a two-party call (published Answer event)
TWO_PARTY = (frozenset({"consult", "numberpad"}), frozenset({"disconnect", "hold"}))
HELD = (frozenset({"consult"}), frozenset({"disconnect", "resume"}))
CONSULT = frozenset({"swap", "conference", "transfer", "numberpad"})
CLEAR = frozenset({"clearContact"})
IB = "InboundCall"


def agent(state: str, nxt: str | None = None, muted: bool = False) -> tuple[object, ...]:
    return ("SetAgentState", state, nxt, muted)


def changed(state: str, nxt: str | None = None) -> list[tuple[object, ...]]:
    """A change of the agent's state: SetAgentState, then CcpAgentState (§3.2)."""
    return [agent(state, nxt), ("Ccp", state)]


async def talking(world: World) -> None:
    await world.ring()
    await step(world, IB, "Answer")


async def test_inbound_call_hold_resume_disconnect_clear(world: World) -> None:
    assert rows(await world.ring()) == [
        (A, "connecting", "connecting", None, {"answer", "reject"}),
        (IN, "connected", "connected", None, F),
        *changed("PendingBusy"),
    ]
    assert rows(await step(world, IB, "Answer")) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", None, TWO_PARTY[1]),
        *changed("Busy"),
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
        *changed("AfterCallWork"),
    ]
    assert rows(await step(world, IB, "ClearContact")) == [
        (A, "DROPPED", "disconnected", "connected", F),
        (IN, "DROPPED", "disconnected", "connected", F),
        *changed("Available"),
    ]
    assert await flush(world.client) == []


async def test_reject_then_clear(world: World) -> None:
    await world.ring()
    assert rows(await step(world, IB, "Reject")) == [
        (A, "rejected", "disconnected", "connecting", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        *changed("MissedCallAgent"),
    ]
    events = await step(world, IB, "ClearContact")
    assert rows(events)[-2:] == changed("Available")


async def test_customer_hangs_up(world: World) -> None:
    await talking(world)
    assert rows(await world.customer_hangup()) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        *changed("AfterCallWork"),
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
        *changed("AfterCallWork"),
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
        *changed("AfterCallWork"),
    ]


async def test_queue_transfer(world: World) -> None:
    await talking(world)
    events = await step(world, IB, "QueueTransfer", {"queueName": "Sales", "isWarmTransfer": False})
    assert rows(events)[-2:] == changed("AfterCallWork")


# an outbound contact speaks the published campaign vocabulary (§4.1); InboundCall/SetMakeCall
# files the call under InboundCall, with the inbound events
EVENTS = {
    "OutboundCall": {"connecting": "Initiate", "connected": "CustAnswered", "ACW": "ACW"},
    "InboundCall": {"connecting": "connecting", "connected": "connected", "ACW": "ACW"},
}


@pytest.mark.parametrize("topic", ["OutboundCall", "InboundCall"])
async def test_make_call_answered_then_customer_hangs_up(world: World, topic: str) -> None:
    ev = EVENTS[topic]
    events = await step(world, topic, "MakeCall", CUSTOMER)
    assert rows(events) == [
        (A, ev["connecting"], "connecting", None, F),
        (OUT, ev["connecting"], "connecting", None, {"disconnect"}),
        *changed("CallingCustomer"),
    ]
    calls = [e for e in events if e["topic"] != "Agent"]
    assert {e["topic"] for e in calls} == {topic}
    call = events[1]["message"]["call"]
    assert call["ResponseActual"]["phoneNumber"] == CUSTOMER
    assert call["CallVariables"]["DNIS"] == CUSTOMER  # the dialled number
    if topic == "OutboundCall":
        assert [e["message"]["call"]["CallType"] for e in calls] == ["Regular-Call"] * 2
        assert all(e["message"]["call"]["User"]["loginName"] == "agent1" for e in calls)
    assert rows(await world.outbound_answer()) == [
        (A, ev["connected"], "connected", "connecting", TWO_PARTY[0]),
        (OUT, ev["connected"], "connected", "connecting", TWO_PARTY[1]),
        *changed("Busy"),
    ]
    events = await world.customer_hangup()
    assert rows(events)[-2:] == changed("AfterCallWork")
    assert {e["topic"] for e in events if e["topic"] != "Agent"} == {topic}


async def test_agent_states_enqueued_next_state_and_clear(world: World) -> None:
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Break"})) == changed("Break")
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Available"})) == changed(
        "Available"
    )
    await talking(world)
    # on a call the state is enqueued as the next state (shown in nextState); the request is
    # still answered by SetAgentState then CcpAgentState
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Lunch"})) == [
        agent("Busy", "Lunch"),
        ("Ccp", "Busy"),
    ]
    await step(world, IB, "Disconnect")
    events = await step(world, IB, "ClearContact")
    assert rows(events)[-2:] == changed("Lunch")


async def test_mute_and_unmute(world: World) -> None:
    await talking(world)
    # Mute/Unmute events carry only the mute and unmute buttons (published Mute sample)
    assert rows(await step(world, "Agent", "Mute")) == [("Mute", "Busy", True)]
    assert rows(await step(world, "Agent", "Unmute")) == [("Mute", "Busy", False)]


async def test_logout_and_login(world: World) -> None:
    events = await step(world, "Agent", "Logout")
    assert [(e["subtopic"], e["message"]["loginState"]) for e in events] == [
        ("LogoutSuccess", "LoggedOut")
    ]
    events = await step(world, "Agent", "Login")
    # as the published LoginSuccess (agentState and rules null); the state follows
    assert [e["subtopic"] for e in events] == ["LoginSuccess", "SetAgentState", "CcpAgentState"]
    assert events[0]["message"]["agentState"] is None
    assert rows(events)[1:] == changed("Available")


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
    assert rows(await step(world, "Agent", "UpdateState", {"label": "Break"})) == changed("Break")


async def test_number_pad(world: World) -> None:
    await talking(world)
    assert rows(await step(world, IB, "NumberPad", "12#")) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
    ]


async def test_published_ids_in_data(world: World) -> None:
    """The published Hold, Resume and Disconnect requests send the agent connection's id."""
    await world.ring()
    answered = await step(world, IB, "Answer")
    agent_leg = answered[0]["message"]["call"]["ResponseActual"]
    assert agent_leg["type"] == "agent"
    assert rows(await step(world, IB, "Hold", agent_leg["connectionId"])) == [
        (A, "connected", "connected", "connecting", HELD[0]),
        (IN, "hold", "hold", "connected", HELD[1]),
    ]
    assert rows(await step(world, IB, "Resume", agent_leg["connectionId"])) == [
        (A, "connected", "connected", "connecting", TWO_PARTY[0]),
        (IN, "connected", "connected", "hold", TWO_PARTY[1]),
    ]
    assert rows(await step(world, IB, "Disconnect", agent_leg["contactId"])) == [
        (A, "ACW", "disconnected", "connected", CLEAR),
        (IN, "DROPPED", "disconnected", "connected", F),
        *changed("AfterCallWork"),
    ]
