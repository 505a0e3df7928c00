"""ClearContact (protocol.md §3.1, §3.3, §4.1): from ACW, missed and rejected it yields exactly two
DROPPED events (agent, then the customer leg) and the agent's SetAgentState back to where it
belongs; with nothing to clear, or an injected failure, CLEAR_CONTACT_FAILED to every app and the
contact can still be cleared."""

from __future__ import annotations

import pytest
from e2e_support import (
    DEFAULT_FAILURE,
    call_ids,
    check_error,
    consult,
    error_of,
    fail_next,
    flush,
    ok,
    query,
    req,
    ring,
    rows,
    sent_request,
    sync_state,
    talk,
)

F: frozenset[str] = frozenset()
IDLE_AVAILABLE = {"NotReady", "make_call", "mute"}
IDLE_NOT_ROUTABLE = {"NotReady", "Ready", "make_call", "mute"}


def dropped_pair(customer_previous: str, agent_previous: str) -> list[tuple[object, ...]]:
    # the status does not change at ClearContact (it is already disconnected), so
    # previousStatus stays the status the leg had before it was disconnected (as published in
    # samples/clear-contact-response-*.json: "previousStatus": "connected")
    return [
        ("agent", "DROPPED", "disconnected", agent_previous, F),
        ("inbound", "DROPPED", "disconnected", customer_previous, F),
    ]


async def ended_by(live, c, how: str) -> str:
    """Bring agent1's call to ACW / missed / rejected; the contact id."""
    events = await ring(c)
    contact_id, _ = call_ids(events[0])
    if how == "acw":
        await ok(c, "InboundCall", "Answer")
        await ok(c, "InboundCall", "Disconnect")
    elif how == "missed":
        await live.advance(20)
        assert [r[1] for r in rows(await flush(c))] == ["missed", "DROPPED", "MissedCallAgent"]
    else:
        await ok(c, "InboundCall", "Reject")
    return contact_id


PREVIOUS = {  # how -> (agent leg's previous status, customer leg's)
    "acw": ("connected", "connected"),
    "missed": ("connecting", "connected"),
    "rejected": ("connecting", "connected"),
}


@pytest.mark.parametrize("how", ["acw", "missed", "rejected"])
@pytest.mark.parametrize("topic", ["InboundCall", "OutboundCall"])
@pytest.mark.parametrize("with_id", [False, True], ids=["no-data", "contactId"])
async def test_clear_contact(live, how, topic, with_id):
    c = await live.connect()
    contact_id = await ended_by(live, c, how)
    args = (contact_id,) if with_id else ()
    events = await ok(c, topic, "ClearContact", *args)
    agent_prev, customer_prev = PREVIOUS[how]
    assert rows(events) == [
        *dropped_pair(customer_prev, agent_prev),
        ("SetAgentState", "Available", IDLE_AVAILABLE),
    ]
    assert [call_ids(e)[0] for e in events[:2]] == [contact_id, contact_id]
    assert call_ids(events[1])[1] == contact_id
    assert {e["topic"] for e in events[:2]} == {"InboundCall"}
    call_sync = await query(c, "InboundCall", "StateSync")
    assert call_sync["message"]["calls"] == []
    agent_sync = await query(c, "Agent", "StateSync")
    agent_state = agent_sync["message"]["agentState"]
    assert (agent_state["name"], agent_state["type"]) == ("Available", "routable")


async def test_clear_after_a_consult_still_two_events(live):
    c = await live.connect()
    await talk(c)
    await consult(c)
    events = await ok(c, "InboundCall", "Disconnect")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "ACW"),
        ("inbound", "DROPPED"),
        ("outbound", "DROPPED"),
        ("SetAgentState", "AfterCallWork"),
    ]
    events = await ok(c, "InboundCall", "ClearContact")
    assert rows(events) == [
        ("agent", "DROPPED", "disconnected", "connected", F),
        ("inbound", "DROPPED", "disconnected", "hold", F),
        ("SetAgentState", "Available", IDLE_AVAILABLE),
    ]


@pytest.mark.parametrize("how", ["acw", "missed", "rejected"])
async def test_enqueued_state_applies_at_clear_contact(live, how):
    c = await live.connect()
    events = await ring(c)
    # while on a contact UpdateState is enqueued (shown in data.nextState), not applied
    events = await ok(c, "Agent", "UpdateState", {"label": "Break"})
    assert rows(events) == [("SetAgentState", "PendingBusy", {"NotReady", "Ready", "mute"})]
    assert events[0]["message"]["data"]["nextState"] == {
        "label": "Break",
        "code": "Break",
        "type": "not_routable",
    }
    if how == "acw":
        await ok(c, "InboundCall", "Answer")
        await ok(c, "InboundCall", "Disconnect")
    elif how == "missed":
        await live.advance(20)
        await flush(c)
    else:
        await ok(c, "InboundCall", "Reject")
    events = await ok(c, "InboundCall", "ClearContact")
    assert rows(events)[2:] == [("SetAgentState", "Break", IDLE_NOT_ROUTABLE)]
    assert len(events) == 4  # two DROPPED, SetAgentState, CcpAgentState
    data = events[2]["message"]["data"]
    assert data["nextState"] is None
    assert data["type"] == "not_routable"
    assert data["reasonCode"] == {"id": "Break"}


async def test_back_to_not_ready_when_the_call_came_while_not_routable(live):
    """A call the agent placed while Not Ready: ClearContact returns to Not Ready, not
    Available (§3.3: the availability state it had before the contact)."""
    c = await live.connect()
    await ok(c, "Agent", "SetNotReady", {"ReasonCodeId": "Not Ready"})
    await ok(c, "OutboundCall", "MakeCall", "+15551234567")
    await ok(c, "OutboundCall", "Disconnect")
    events = await ok(c, "OutboundCall", "ClearContact")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "DROPPED"),
        ("outbound", "DROPPED"),
        ("SetAgentState", "Not Ready"),
    ]
    assert {e["topic"] for e in events[:2]} == {"OutboundCall"}


async def _observer_gets(observer, error) -> None:
    got = await flush(observer)
    assert got == [error]  # the same message, seq included


@pytest.mark.parametrize("topic", ["InboundCall", "OutboundCall"])
async def test_nothing_to_clear(live, topic):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    before = await sync_state(c, topic)
    result = await req(c, topic, "ClearContact")
    error = error_of(result)
    check_error(
        error,
        topic=topic,
        type_="CLEAR_CONTACT_FAILED",
        text="Clearing contact failed.",
        request=sent_request(c, topic, "ClearContact", None, result.request_id),
        request_id=result.request_id,
    )
    assert isinstance(error["seq"], int)
    await _observer_gets(other, error)
    assert await sync_state(c, topic) == before


async def test_clear_contact_of_a_live_call_fails(live):
    c = await live.connect()
    await talk(c)
    before = await sync_state(c)
    error = error_of(await req(c, "InboundCall", "ClearContact"))
    assert error["message"]["type"] == "CLEAR_CONTACT_FAILED"
    assert await sync_state(c) == before


@pytest.mark.parametrize("how", ["acw", "missed", "rejected"])
async def test_injected_failure_then_still_clearable(live, how):
    c = await live.connect(source="toolbar")
    other = await live.connect(source="crm")
    await ended_by(live, c, how)
    await flush(other)
    await fail_next(c, "ClearContact", "InvalidStateException: busy")
    await flush(other)
    before = await sync_state(c)
    result = await req(c, "OutboundCall", "ClearContact")
    error = error_of(result)
    check_error(
        error,
        topic="OutboundCall",
        type_="CLEAR_CONTACT_FAILED",
        text="Clearing contact failed.",
        code="InvalidStateException: busy",
        request=sent_request(c, "OutboundCall", "ClearContact", None, result.request_id),
        request_id=result.request_id,
    )
    await _observer_gets(other, error)
    assert await sync_state(c) == before
    events = await ok(c, "InboundCall", "ClearContact")
    assert [r[:2] for r in rows(events)] == [
        ("agent", "DROPPED"),
        ("inbound", "DROPPED"),
        ("SetAgentState", "Available"),
    ]
    assert await flush(other) == events


async def test_default_injected_failure_code(live):
    c = await live.connect()
    await ended_by(live, c, "acw")
    await fail_next(c, "ClearContact")
    error = error_of(await req(c, "InboundCall", "ClearContact"))
    assert error["message"]["code"] == DEFAULT_FAILURE
