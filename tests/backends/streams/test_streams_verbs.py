"""Every state-changing verb of the protocol through the real Streams bundle and the fake CCP:
refused once by Connect (the CTI call the verb turns into fails) with the verb's failure code,
then carried out.  The conformance suite checks the events; this checks that each verb reaches
the Streams call it must and that each failure comes back as the protocol says."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser

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
    bridge_browser: Browser,
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


async def _ccp_legs(w: StreamsWorld) -> dict[str, tuple[str, str]]:
    """The fake CCP's own legs of its one contact: role -> (Streams connectionId, state)."""
    contact = (await w.ccp.run("raw()"))["contacts"][0]
    legs: dict[str, tuple[str, str]] = {}
    for c in contact["connections"]:
        role = "agent" if c["type"] == "agent" else "customer" if c["initial"] else "third"
        legs[role] = (c["connectionId"], c["state"]["type"])
    return legs


async def test_the_customer_leg_is_named_by_the_contact_id_and_verbs_reach_its_streams_leg(
    bridge_browser: Browser,
) -> None:
    """docs/protocol.md §4.1 connection roles: Streams gives the customer leg an id of its own;
    on the wire it is the contactId, and a verb naming it (or the third party) reaches the right
    Streams connection - hold and resume of each leg in a conference, then the third party
    dropped while the customer stays."""
    async with streams_world(bridge_browser) as w:
        await talking(w)
        await step(w, IB, "Consult", THIRD)
        await w.third_party_answer()
        await step(w, IB, "Conference")
        contact_id = (await w.ccp.run("raw()"))["contacts"][0]["contactId"]
        ccp = await _ccp_legs(w)
        assert ccp["customer"][0] != contact_id  # Streams' own id: the mapping is exercised
        sync = (await w.request(IB, "StateSync")).events[0]["message"]["calls"]
        wire = {c["type"]: c["connectionId"] for c in sync if c["type"] != "agent"}
        assert wire["inbound"] == contact_id
        third_id = wire["outbound"]
        assert third_id == ccp["third"][0]

        held = await step(w, IB, "Hold", contact_id)
        assert ("InboundCallStateChange", contact_id, "hold") in [
            (e["subtopic"], *(e["message"]["call"]["ResponseActual"][k]
                              for k in ("connectionId", "status")))
            for e in held
        ]  # fmt: skip
        assert {r: s for r, (_, s) in (await _ccp_legs(w)).items()} == {
            "agent": "connected", "customer": "hold", "third": "connected"
        }  # fmt: skip
        await step(w, IB, "Resume", contact_id)
        await step(w, IB, "Hold", third_id)
        assert {r: s for r, (_, s) in (await _ccp_legs(w)).items()} == {
            "agent": "connected", "customer": "connected", "third": "hold"
        }  # fmt: skip
        await step(w, IB, "Resume", third_id)
        await step(w, IB, "Disconnect", third_id)
        left = await _ccp_legs(w)
        assert set(left) == {"agent", "customer"}
        assert left["customer"] == (ccp["customer"][0], "connected")
        requests = await w.ccp.run("requests")
        assert requests.count("holdConnection") == requests.count("resumeConnection") == 2
