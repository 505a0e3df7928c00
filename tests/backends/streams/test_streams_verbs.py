"""Every state-changing verb of the protocol through the real Streams bundle and the fake CCP:
refused once by Connect (the CTI call the verb turns into fails) with the verb's failure code,
then carried out.  The conformance suite checks the events; this checks that each verb reaches
the Streams call it must and that each failure comes back as the protocol says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from support.harness import FAILURE
from support.steps import rows, step
from support.worlds import StreamsWorld, streams_world

pytestmark = pytest.mark.asyncio(loop_scope="session")

IB, OB = "InboundCall", "OutboundCall"
THIRD = "+15557654321"
NO_MUTE = "the CCP did not confirm the mute change (no call audio to mute)"


async def ringing(w: StreamsWorld) -> None:
    await w.ring()


async def talking(w: StreamsWorld) -> None:
    await w.ring()
    await step(w, IB, "Answer")


async def held(w: StreamsWorld) -> None:
    await talking(w)
    await step(w, IB, "Hold")


async def muted(w: StreamsWorld) -> None:
    await talking(w)
    await step(w, "Agent", "Mute")


async def after_call(w: StreamsWorld) -> None:
    await talking(w)
    await step(w, IB, "Disconnect")


async def consulting(w: StreamsWorld) -> None:
    await talking(w)
    await step(w, IB, "Consult", THIRD)
    await w.third_party_answer()


async def transfer_ringing(w: StreamsWorld) -> None:
    await w.ring(method="transfer")


async def preview(w: StreamsWorld) -> None:
    await w._ccp("preview(a)", {"phoneNumber": "+15550001111"})


async def logged_out(w: StreamsWorld) -> None:
    await step(w, "Agent", "Logout")


async def idle(w: StreamsWorld) -> None:
    pass


Setup = Callable[[StreamsWorld], Awaitable[None]]
# (setup, topic, subtopic, data, the CTI call that fails, failure type, what the app is told)
VERBS: list[tuple[Setup, str, str, Any, str, str, str]] = [
    (ringing, IB, "Answer", None, "acceptContact", "ANSWER_CALL_FAILED", "error"),
    (transfer_ringing, IB, "AcceptWarmTransfer", None, "acceptContact", "ANSWER_CALL_FAILED",
     "error"),
    (ringing, IB, "Reject", None, "rejectContact", "REJECT_CALL_FAILED", FAILURE),
    (talking, IB, "Hold", None, "holdConnection", "HOLD_CALL_FAILED", FAILURE),
    (held, IB, "Resume", None, "resumeConnection", "RESUME_CALL_FAILED", FAILURE),
    (talking, IB, "Disconnect", None, "destroyConnection", "DISCONNECT_CALL_FAILED", FAILURE),
    (after_call, IB, "ClearContact", None, "clearContact", "CLEAR_CONTACT_FAILED", FAILURE),
    (talking, IB, "Consult", THIRD, "createAdditionalConnection", "CONSULT_CALL_FAILED", FAILURE),
    (talking, IB, "Consult", {"quickConnect": "Billing"}, "createAdditionalConnection",
     "CONSULT_CALL_FAILED", FAILURE),
    (talking, IB, "ExternalConsult", THIRD, "createAdditionalConnection", "CONSULT_CALL_FAILED",
     FAILURE),
    (consulting, IB, "Swap", None, "toggleActiveConnections", "SWAP_CALL_FAILED", FAILURE),
    (consulting, IB, "Conference", None, "conferenceConnections", "CONFERENCE_CALL_FAILED",
     FAILURE),
    (consulting, IB, "Transfer", None, "destroyConnection", "TRANSFER_CALL_FAILED", FAILURE),
    (consulting, IB, "ConsultDrop", None, "destroyConnection", "CONSULT_DROP_FAILED", FAILURE),
    (talking, IB, "Transfer", THIRD, "createAdditionalConnection", "TRANSFER_CALL_FAILED",
     FAILURE),
    (talking, IB, "Transfer", {"agentName": "agent2"}, "createAdditionalConnection",
     "TRANSFER_CALL_FAILED", FAILURE),
    (talking, IB, "QueueTransfer", {"queueName": "Sales", "isWarmTransfer": False},
     "createAdditionalConnection", "TRANSFER_CALL_FAILED", FAILURE),
    (talking, IB, "QueueTransfer", {"queueName": "Support", "isWarmTransfer": True},
     "createAdditionalConnection", "TRANSFER_CALL_FAILED", FAILURE),
    (talking, IB, "NumberPad", "12#", "sendDigits", "SEND_DTMF_FAILED", FAILURE),
    (idle, OB, "MakeCall", "+15551234567", "createOutboundContact", "MAKE_CALL_FAILED", FAILURE),
    (preview, OB, "MakeCall", None, "contact/engagePreviewContact", "MAKE_CALL_FAILED",
     "InternalServiceException: simulated failure"),
    (preview, OB, "Skip", None, "clearContact", "SKIP_CONTACT_FAILED", FAILURE),
    (idle, "Agent", "UpdateState", {"label": "Break"}, "putAgentState",
     "UPDATE_AGENT_STATE_FAILED", FAILURE),
    (idle, "Agent", "SetNotReady", {"ReasonCodeId": "Lunch"}, "putAgentState",
     "UPDATE_AGENT_STATE_FAILED", FAILURE),
    (idle, "Agent", "Logout", None, "putAgentState", "LOGOUT_FAILED", FAILURE),
    (logged_out, "Agent", "Login", None, "putAgentState", "LOGIN_FAILED", FAILURE),
    (talking, "Agent", "Mute", None, "mute", "MUTE_FAILED", NO_MUTE),
    (muted, "Agent", "Unmute", None, "mute", "MUTE_FAILED", NO_MUTE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "topic", "subtopic", "data", "method", "failure", "code"),
    VERBS,
    ids=[f"{v[2]}-{v[0].__name__}-{i}" for i, v in enumerate(VERBS)],
)
async def test_a_verb_refused_by_connect_then_carried_out(
    bridge_browser: Any,
    setup: Setup,
    topic: str,
    subtopic: str,
    data: Any,
    method: str,
    failure: str,
    code: str,
) -> None:
    args = () if data is None else (data,)
    async with streams_world(bridge_browser) as w:
        await setup(w)
        before = (await w.ccp.run("requests")).count(method)
        await w.ccp.fail_next(method)
        result = await w.request(topic, subtopic, *args)
        assert rows(result.events)[-1] == ("Error", failure, code)
        assert result.error is not None
        result = await w.request(topic, subtopic, *args)
        assert result.error is None, result.error
        # the refused call and the one that went through
        assert (await w.ccp.run("requests")).count(method) == before + 2
