"""Failures of every subtopic (docs/protocol.md §3, §5): a precondition that does not hold, and an
Amazon Connect refusal injected with ``Simulator/FailNext``.  Either way the request gets exactly
one error event, of the §5 shape, with its requestId, sent to every app of the agent (same seq);
nothing changes (StateSync before == after); after an injected failure the same request succeeds.

Call subtopics run under both call topics; the error carries the request's topic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from e2e_support import (
    CUSTOMER,
    THIRD,
    call_ids,
    check_error,
    consult,
    error_of,
    fail_next,
    flush,
    ok,
    req,
    ring,
    sent_request,
    sim,
    sync_state,
)

from ctibridge.client import Client

Ctx = dict[str, Any]
Setup = Callable[[Any, Client], Awaitable[Ctx]]

TEXT = {
    "ANSWER_CALL_FAILED": "Answering call failed.",
    "REJECT_CALL_FAILED": "Rejecting call failed.",
    "HOLD_CALL_FAILED": "Call hold failed.",
    "RESUME_CALL_FAILED": "Resuming call failed.",
    "DISCONNECT_CALL_FAILED": "Disconnecting call failed.",
    "CLEAR_CONTACT_FAILED": "Clearing contact failed.",
    "CONSULT_CALL_FAILED": "Consult call failed.",
    "SWAP_CALL_FAILED": "Swap call failed.",
    "CONFERENCE_CALL_FAILED": "Conference call failed.",
    "TRANSFER_CALL_FAILED": "Call transfer failed.",
    "SEND_DTMF_FAILED": "Failed to send DTMF.",
    "CONSULT_DROP_FAILED": "Consult drop failed.",
    "SKIP_CONTACT_FAILED": "Skip contact failed.",
    "MAKE_CALL_FAILED": "Make call failed.",
    "UPDATE_AGENT_STATE_FAILED": "Agent state change failed.",
    "AGENT_STATE_NOT_FOUND": "Specified Agent State not found.",
    "MUTE_FAILED": "Mute failed.",
    "LOGIN_FAILED": "Login failed.",
    "LOGOUT_FAILED": "Logout failed.",
}

# --- situations ---------------------------------------------------------------------------------


async def idle(live: Any, c: Client) -> Ctx:
    return {}


async def ringing(live: Any, c: Client) -> Ctx:
    events = await ring(c)
    contact_id, agent_conn = call_ids(events[0])
    return {"contact": contact_id, "agent_conn": agent_conn}


async def talking(live: Any, c: Client) -> Ctx:
    ctx = await ringing(live, c)
    await ok(c, "InboundCall", "Answer")
    return ctx


async def held(live: Any, c: Client) -> Ctx:
    ctx = await talking(live, c)
    await ok(c, "InboundCall", "Hold")
    return ctx


async def consult_ringing(live: Any, c: Client) -> Ctx:
    ctx = await talking(live, c)
    await consult(c, answered=False)
    return ctx


async def consulting(live: Any, c: Client) -> Ctx:
    ctx = await talking(live, c)
    await consult(c)
    return ctx


async def acw(live: Any, c: Client) -> Ctx:
    ctx = await talking(live, c)
    await ok(c, "InboundCall", "Disconnect")
    return ctx


async def dialling(live: Any, c: Client) -> Ctx:
    await ok(c, "OutboundCall", "MakeCall", CUSTOMER)
    return {}


async def preview(live: Any, c: Client) -> Ctx:
    await sim(c, "PreviewCall", {"phoneNumber": CUSTOMER})
    return {}


async def muted(live: Any, c: Client) -> Ctx:
    ctx = await talking(live, c)
    await ok(c, "Agent", "Mute")
    return ctx


async def logged_out(live: Any, c: Client) -> Ctx:
    await ok(c, "Agent", "Logout")
    return {}


async def transfer_ringing(live: Any, c: Client) -> Ctx:
    """agent1 consults agent2: the call rings to agent2 (``c`` is agent2's app)."""
    a1 = await live.connect("agent1")
    await talking(live, a1)
    await ok(a1, "InboundCall", "Consult", {"agentName": "agent2"})
    ringing_events = await flush(c)
    assert [e["subtopic"] for e in ringing_events][-2:] == ["SetAgentState", "CcpAgentState"]
    return {}


# --- cases ----------------------------------------------------------------------------------------

NO_DATA = object()


@dataclass(frozen=True)
class Case:
    setup: Setup
    subtopic: str
    data: Any = NO_DATA  # a value, or a function of the setup's context
    type_: str = ""
    agent: str = "agent1"

    def args(self, ctx: Ctx) -> tuple[Any, ...]:
        if self.data is NO_DATA:
            return ()
        return (self.data(ctx) if callable(self.data) else self.data,)

    def sent_data(self, ctx: Ctx) -> Any:
        args = self.args(ctx)
        return args[0] if args else None


def case_id(case: Case) -> str:
    data = "" if case.data is NO_DATA else "+data"
    return f"{case.subtopic}{data}-{case.setup.__name__}"


# Preconditions that do not hold (§3.1): (situation, subtopic, data, failure type)
CALL_PRECONDITIONS = [
    Case(idle, "Answer", type_="ANSWER_CALL_FAILED"),
    Case(talking, "Answer", type_="ANSWER_CALL_FAILED"),
    Case(acw, "Answer", type_="ANSWER_CALL_FAILED"),
    Case(idle, "Reject", type_="REJECT_CALL_FAILED"),
    Case(talking, "Reject", type_="REJECT_CALL_FAILED"),
    Case(idle, "Hold", type_="HOLD_CALL_FAILED"),
    Case(ringing, "Hold", type_="HOLD_CALL_FAILED"),
    Case(dialling, "Hold", type_="HOLD_CALL_FAILED"),
    Case(held, "SetHold", type_="HOLD_CALL_FAILED"),
    # an id that is not the agent's - another agent's or nobody's - is FORBIDDEN to the sender,
    # alike, so that no app learns which ids exist (tests/hub/test_hub_auth.py)
    Case(talking, "Resume", type_="RESUME_CALL_FAILED"),
    # the agent leg's id means "the usual leg" (§3.1): nothing is held on a talking call
    Case(talking, "Resume", lambda ctx: ctx["agent_conn"], type_="RESUME_CALL_FAILED"),
    Case(idle, "Resume", type_="RESUME_CALL_FAILED"),
    Case(idle, "Disconnect", type_="DISCONNECT_CALL_FAILED"),
    Case(ringing, "Disconnect", type_="DISCONNECT_CALL_FAILED"),
    Case(acw, "Disconnect", type_="DISCONNECT_CALL_FAILED"),
    Case(idle, "ClearContact", type_="CLEAR_CONTACT_FAILED"),
    Case(talking, "ClearContact", type_="CLEAR_CONTACT_FAILED"),
    Case(idle, "Consult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(ringing, "Consult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(dialling, "Consult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(consult_ringing, "Consult", "+15550009999", type_="CONSULT_CALL_FAILED"),
    Case(talking, "Consult", {"quickConnect": "Nobody"}, type_="CONSULT_CALL_FAILED"),
    Case(talking, "Consult", {"agentName": "agent99"}, type_="CONSULT_CALL_FAILED"),
    Case(idle, "ExternalConsult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(consulting, "ExternalConsult", "+15550009999", type_="CONSULT_CALL_FAILED"),
    Case(talking, "Swap", type_="SWAP_CALL_FAILED"),
    Case(consult_ringing, "Swap", type_="SWAP_CALL_FAILED"),
    Case(talking, "Conference", type_="CONFERENCE_CALL_FAILED"),
    Case(consult_ringing, "Conference", type_="CONFERENCE_CALL_FAILED"),
    Case(talking, "Transfer", type_="TRANSFER_CALL_FAILED"),
    Case(consult_ringing, "Transfer", type_="TRANSFER_CALL_FAILED"),
    Case(consulting, "Transfer", "+15550009999", type_="TRANSFER_CALL_FAILED"),
    Case(idle, "Transfer", THIRD, type_="TRANSFER_CALL_FAILED"),
    Case(held, "Transfer", THIRD, type_="TRANSFER_CALL_FAILED"),
    Case(talking, "Transfer", "Nobody", type_="TRANSFER_CALL_FAILED"),
    Case(idle, "QueueTransfer", {"queueName": "Sales"}, type_="TRANSFER_CALL_FAILED"),
    Case(talking, "QueueTransfer", {"queueName": "Nowhere"}, type_="TRANSFER_CALL_FAILED"),
    Case(consulting, "QueueTransfer", {"queueName": "Sales"}, type_="TRANSFER_CALL_FAILED"),
    Case(idle, "NumberPad", "1", type_="SEND_DTMF_FAILED"),
    Case(ringing, "SendDTMF", "1", type_="SEND_DTMF_FAILED"),
    Case(held, "SendDigits", "1", type_="SEND_DTMF_FAILED"),
    Case(acw, "NumberPad", "1", type_="SEND_DTMF_FAILED"),
    Case(idle, "ConsultDrop", type_="CONSULT_DROP_FAILED"),
    Case(talking, "ConsultDrop", type_="CONSULT_DROP_FAILED"),
    Case(idle, "AcceptWarmTransfer", type_="ANSWER_CALL_FAILED"),
    Case(ringing, "AcceptWarmTransfer", type_="ANSWER_CALL_FAILED"),
    Case(talking, "MakeCall", "+15550009999", type_="MAKE_CALL_FAILED"),
    Case(ringing, "SetMakeCall", "+15550009999", type_="MAKE_CALL_FAILED"),
    Case(logged_out, "MakeCall", "+15550009999", type_="MAKE_CALL_FAILED"),
    Case(idle, "SetMakeCall", {"phoneNumber": CUSTOMER, "queue": "Nowhere"}, "MAKE_CALL_FAILED"),
    Case(logged_out, "Answer", type_="ANSWER_CALL_FAILED"),
]
OUTBOUND_ONLY_PRECONDITIONS = [
    Case(idle, "Skip", type_="SKIP_CONTACT_FAILED"),
    Case(talking, "Skip", type_="SKIP_CONTACT_FAILED"),
    Case(idle, "MakeCall", type_="MAKE_CALL_FAILED"),  # no data and no preview offered
    Case(talking, "SetMakeCall", type_="MAKE_CALL_FAILED"),
]
AGENT_PRECONDITIONS = [
    Case(idle, "UpdateState", {"label": "Gone Fishing"}, type_="AGENT_STATE_NOT_FOUND"),
    Case(idle, "Update", {"code": "GoneFishing"}, type_="AGENT_STATE_NOT_FOUND"),
    Case(talking, "UpdateState", {"label": "Gone Fishing"}, type_="AGENT_STATE_NOT_FOUND"),
    Case(logged_out, "UpdateState", {"label": "Offline"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(logged_out, "Update", {"label": "Available"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(idle, "SetNotReady", {"ReasonCodeId": "Available"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(idle, "SetNotReady", {"ReasonCodeId": "Siesta"}, type_="AGENT_STATE_NOT_FOUND"),
    Case(idle, "Mute", type_="MUTE_FAILED"),
    Case(ringing, "Mute", type_="MUTE_FAILED"),
    Case(idle, "Unmute", type_="MUTE_FAILED"),
    Case(acw, "Unmute", type_="MUTE_FAILED"),
    Case(idle, "Login", type_="LOGIN_FAILED"),
    Case(logged_out, "Logout", type_="LOGOUT_FAILED"),
    Case(talking, "Logout", type_="LOGOUT_FAILED"),
    Case(acw, "Logout", type_="LOGOUT_FAILED"),
    Case(ringing, "Logout", type_="LOGOUT_FAILED"),
]

# Situations in which the subtopic would succeed; the failure comes from "Amazon Connect".
CALL_INJECTED = [
    Case(ringing, "Answer", type_="ANSWER_CALL_FAILED"),
    Case(ringing, "Reject", type_="REJECT_CALL_FAILED"),
    Case(talking, "Hold", type_="HOLD_CALL_FAILED"),
    Case(talking, "SetHold", lambda ctx: ctx["contact"], type_="HOLD_CALL_FAILED"),
    Case(held, "Resume", type_="RESUME_CALL_FAILED"),
    Case(held, "Resume", lambda ctx: ctx["contact"], type_="RESUME_CALL_FAILED"),
    Case(talking, "Disconnect", type_="DISCONNECT_CALL_FAILED"),
    Case(acw, "ClearContact", type_="CLEAR_CONTACT_FAILED"),
    Case(talking, "Consult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(talking, "ExternalConsult", THIRD, type_="CONSULT_CALL_FAILED"),
    Case(consulting, "Swap", type_="SWAP_CALL_FAILED"),
    Case(consulting, "Conference", type_="CONFERENCE_CALL_FAILED"),
    Case(consulting, "Transfer", type_="TRANSFER_CALL_FAILED"),
    Case(talking, "Transfer", THIRD, type_="TRANSFER_CALL_FAILED"),
    Case(talking, "QueueTransfer", {"queueName": "Sales"}, type_="TRANSFER_CALL_FAILED"),
    Case(
        talking,
        "QueueTransfer",
        {"queueName": "Sales", "isWarmTransfer": True},
        type_="TRANSFER_CALL_FAILED",
    ),
    Case(talking, "NumberPad", "123", type_="SEND_DTMF_FAILED"),
    Case(talking, "SendDTMF", "#", type_="SEND_DTMF_FAILED"),
    Case(talking, "SendDigits", "*0", type_="SEND_DTMF_FAILED"),
    Case(consulting, "ConsultDrop", type_="CONSULT_DROP_FAILED"),
    Case(transfer_ringing, "AcceptWarmTransfer", type_="ANSWER_CALL_FAILED", agent="agent2"),
    Case(idle, "MakeCall", CUSTOMER, type_="MAKE_CALL_FAILED"),
    Case(idle, "SetMakeCall", {"phoneNumber": CUSTOMER}, type_="MAKE_CALL_FAILED"),
]
OUTBOUND_ONLY_INJECTED = [
    Case(preview, "Skip", type_="SKIP_CONTACT_FAILED"),
    Case(preview, "MakeCall", type_="MAKE_CALL_FAILED"),  # accepting the preview
]
AGENT_INJECTED = [
    Case(idle, "UpdateState", {"label": "Break"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(talking, "Update", {"code": "Lunch"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(idle, "SetNotReady", {"ReasonCodeId": "Lunch"}, type_="UPDATE_AGENT_STATE_FAILED"),
    Case(talking, "Mute", type_="MUTE_FAILED"),
    Case(muted, "Unmute", type_="MUTE_FAILED"),
    Case(logged_out, "Login", type_="LOGIN_FAILED"),
    Case(idle, "Logout", type_="LOGOUT_FAILED"),
]


def with_topics(calls: list[Case], outbound: list[Case], agent: list[Case]) -> list[Any]:
    params = [
        pytest.param(topic, case, id=f"{topic}-{case_id(case)}")
        for topic in ("InboundCall", "OutboundCall")
        for case in calls
    ]
    params += [pytest.param("OutboundCall", c, id=f"OutboundCall-{case_id(c)}") for c in outbound]
    params += [pytest.param("Agent", c, id=f"Agent-{case_id(c)}") for c in agent]
    return params


async def _prepare(live: Any, case: Case) -> tuple[Client, Client, Ctx]:
    actor = await live.connect(case.agent, source="toolbar")
    observer = await live.connect(case.agent, source="crm")
    ctx = await case.setup(live, actor)
    await flush(observer)
    return actor, observer, ctx


async def _fails(
    actor: Client, observer: Client, topic: str, case: Case, ctx: Ctx, code: str | None
) -> None:
    before = await sync_state(actor, topic if topic != "Agent" else "InboundCall")
    result = await req(actor, topic, case.subtopic, *case.args(ctx))
    error = error_of(result)
    check_error(
        error,
        topic=topic,
        type_=case.type_,
        text="External consult failed." if case.subtopic == "ExternalConsult" else TEXT[case.type_],
        code=code,
        request=sent_request(actor, topic, case.subtopic, case.sent_data(ctx), result.request_id),
        request_id=result.request_id,
    )
    assert isinstance(error["seq"], int)
    # to every app of the agent: the same message, seq included
    assert await flush(observer) == [error]
    # and nothing changed
    assert await sync_state(actor, topic if topic != "Agent" else "InboundCall") == before


@pytest.mark.parametrize(
    ("topic", "case"),
    with_topics(CALL_PRECONDITIONS, OUTBOUND_ONLY_PRECONDITIONS, AGENT_PRECONDITIONS),
)
async def test_precondition_failure(live, topic, case):
    actor, observer, ctx = await _prepare(live, case)
    await _fails(actor, observer, topic, case, ctx, code=None)


@pytest.mark.parametrize(
    ("topic", "case"), with_topics(CALL_INJECTED, OUTBOUND_ONLY_INJECTED, AGENT_INJECTED)
)
async def test_injected_failure_then_success(live, topic, case):
    actor, observer, ctx = await _prepare(live, case)
    error_text = f"AccessDeniedException: no {case.subtopic} today"
    await fail_next(actor, case.subtopic, error_text)  # FailNext takes aliases too
    await flush(observer)
    await _fails(actor, observer, topic, case, ctx, code=error_text)
    # the armed failure was used up: the same request now succeeds, seen by every app
    events = await ok(actor, topic, case.subtopic, *case.args(ctx))
    assert events
    assert await flush(observer) == events


async def test_external_consult_has_its_own_text(live):
    c = await live.connect()
    await talking(live, c)
    await ok(c, "InboundCall", "Consult", THIRD)
    error = error_of(await req(c, "OutboundCall", "ExternalConsult", "+15550009999"))
    assert error["message"]["type"] == "CONSULT_CALL_FAILED"
    assert error["message"]["text"] == "External consult failed."


async def test_injected_failure_hits_only_the_next_command_of_that_subtopic(live):
    c = await live.connect()
    await talking(live, c)
    await fail_next(c, "Resume")
    # Hold is not armed: it succeeds and leaves the armed Resume failure in place
    await ok(c, "InboundCall", "Hold")
    error = error_of(await req(c, "InboundCall", "Resume"))
    assert error["message"]["type"] == "RESUME_CALL_FAILED"
    await ok(c, "InboundCall", "Resume")
