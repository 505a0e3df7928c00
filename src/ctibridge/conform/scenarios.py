"""The published-contract scenarios of docs/protocol.md revision 2, for any endpoint.

A scenario is a list of steps (a request, or something the driver causes); each step's events
are compared with what the protocol says they must be (``expect``: key paths, each with the
published sample or rule that says so), and each passes the stream checker (shapes, §4.2 buttons
for the situation the stream implies, seq).  The test suite runs these same scenarios in its
worlds (tests/conformance/test_scenarios.py).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from . import rules
from .checker import StreamChecker, is_call_event
from .diff import Message, Mismatch, Nonconformance, values
from .drivers import CUSTOMER, FAILURE
from .expect import (
    CONFERENCE,
    CONSULT_RINGING,
    CONSULTING,
    HELD,
    IB,
    SWAPPED,
    THIRD,
    TWO_PARTY,
    Expect,
    F,
    agent,
    call,
    ccp,
    changed,
    error,
    mute,
    third,
)
from .session import SCENARIOS, Entry, Session, describe, scenario, talking

__all__ = ["SCENARIOS", "Entry", "Session", "describe"]


# --- the scenarios -----------------------------------------------------------------------------


@scenario("ring", "answer")
async def inbound_call(s: Session) -> None:
    """An inbound call: ring, Answer, Hold, Resume, Disconnect, ClearContact."""
    await s.cause(s.driver.ring, "a call arrives", [
        call("agent", "connecting", "connecting", None, rules.RINGING),
        call("inbound", "connected", "connected", None, rules.RINGING),
        *changed("PendingBusy"),
    ])  # fmt: skip
    await s.step(IB, "Answer", expect=[
        call("agent", "connected", "connected", "connecting", TWO_PARTY),
        call("inbound", "connected", "connected", None, TWO_PARTY),
        *changed("Busy"),
    ])  # fmt: skip
    await s.step(IB, "Hold", expect=[
        call("agent", "connected", "connected", "connecting", HELD),
        call("inbound", "hold", "hold", "connected", HELD),
    ])  # fmt: skip
    await s.step(IB, "Resume", expect=[
        call("agent", "connected", "connected", "connecting", TWO_PARTY),
        call("inbound", "connected", "connected", "hold", TWO_PARTY),
    ])  # fmt: skip
    await s.step(IB, "Disconnect", expect=[
        call("agent", "ACW", "disconnected", "connected", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("AfterCallWork"),
    ])  # fmt: skip
    await s.step(IB, "ClearContact", expect=[
        call("agent", "DROPPED", "disconnected", "connected", rules.GONE),
        call("inbound", "DROPPED", "disconnected", "connected", rules.GONE),
        *changed("Available"),
    ])  # fmt: skip
    s.check("after ClearContact", await s.client.flush(), [])


@scenario("ring")
async def reject_then_clear(s: Session) -> None:
    """A ringing call rejected: the agent in MissedCallAgent, then ClearContact."""
    await s.cause(s.driver.ring, "a call arrives")
    await s.step(IB, "Reject", expect=[
        call("agent", "rejected", "disconnected", "connecting", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("MissedCallAgent"),
    ])  # fmt: skip
    events = await s.step(IB, "ClearContact")
    s.check("ClearContact ends in Available", events[-2:], changed("Available"), feed=False)


@scenario("ring", "answer", "customer_hangup")
async def customer_hangs_up(s: Session) -> None:
    """The customer hangs up a connected call: ACW."""
    await talking(s)
    await s.cause(s.driver.customer_hangup, "the customer hangs up", [
        call("agent", "ACW", "disconnected", "connected", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("AfterCallWork"),
    ])  # fmt: skip


@scenario("ring", "answer", "third_party_answer")
async def consult_swap_conference_transfer(s: Session) -> None:
    """Consult a third party, Swap, Conference, then a warm Transfer."""
    await talking(s)
    await s.step(IB, "Consult", THIRD, expect=[
        call("agent", "connected", "connected", "connecting", CONSULT_RINGING),
        call("inbound", "hold", "hold", "connected", CONSULT_RINGING),
        third("connecting", "connecting", None, CONSULT_RINGING),
    ])  # fmt: skip
    await s.cause(s.driver.third_party_answer, "the consulted party answers", [
        call("agent", "connected", "connected", "connecting", CONSULTING),
        third("connected", "connected", "connecting", CONSULTING),
    ])  # fmt: skip
    await s.step(IB, "Swap", expect=[
        call("agent", "connected", "connected", "connecting", SWAPPED),
        call("inbound", "connected", "connected", "hold", SWAPPED),
        third("hold", "hold", "connected", SWAPPED),
    ])  # fmt: skip
    await s.step(IB, "Conference", expect=[
        call("agent", "connected", "connected", "connecting", CONFERENCE),
        third("connected", "connected", "hold", CONFERENCE),
    ])  # fmt: skip
    await s.step(IB, "Transfer", expect=[
        call("agent", "ACW", "disconnected", "connected", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        third("DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("AfterCallWork"),
    ])  # fmt: skip


@scenario("ring", "answer", "third_party_answer", "third_party_hangup")
async def consult_drop_and_third_party_hangup(s: Session) -> None:
    """ConsultDrop; then a quick-connect consult the third party hangs up."""
    await talking(s)
    await s.step(IB, "Consult", THIRD)
    await s.step(IB, "ConsultDrop", expect=[
        call("agent", "connected", "connected", "connecting", HELD),
        third("DROPPED", "disconnected", "connecting", HELD),
    ])  # fmt: skip
    await s.step(IB, "Consult", {"quickConnect": "Billing"})
    await s.cause(s.driver.third_party_answer, "the consulted party answers")
    await s.cause(s.driver.third_party_hangup, "the consulted party hangs up", [
        call("agent", "connected", "connected", "connecting", HELD),
        third("DROPPED", "disconnected", "connected", HELD),
    ])  # fmt: skip


async def _blind_transfer(s: Session, target: object) -> None:
    await talking(s)
    await s.step(IB, "Transfer", target, expect=[
        call("agent", "ACW", "disconnected", "connected", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("AfterCallWork"),
    ])  # fmt: skip


@scenario("ring", "answer")
async def blind_transfer_phone(s: Session) -> None:
    """A blind Transfer to a phone number (no button of its own on a two-party call)."""
    await _blind_transfer(s, THIRD)


@scenario("ring", "answer")
async def blind_transfer_quick_connect(s: Session) -> None:
    """A blind Transfer to a quick connect."""
    await _blind_transfer(s, {"quickConnect": "Supervisor"})


@scenario("ring", "answer")
async def queue_transfer(s: Session) -> None:
    """QueueTransfer (blind): the agent in ACW."""
    await talking(s)
    events = await s.step(IB, "QueueTransfer", {"queueName": "Sales", "isWarmTransfer": False})
    s.check("QueueTransfer ends in ACW", events[-2:], changed("AfterCallWork"), feed=False)


# an outbound contact speaks the published campaign vocabulary (§4.1); InboundCall/SetMakeCall
# files the call under InboundCall, with the inbound events
CAMPAIGN = {
    "OutboundCall": {"connecting": "Initiate", "connected": "CustAnswered"},
    "InboundCall": {"connecting": "connecting", "connected": "connected"},
}


async def _make_call(s: Session, topic: str) -> None:
    ev = CAMPAIGN[topic]
    events = await s.step(topic, "MakeCall", CUSTOMER, expect=[
        call("agent", ev["connecting"], "connecting", None, rules.DIALLING),
        call("outbound", ev["connecting"], "connecting", None, rules.DIALLING),
        *changed("CallingCustomer"),
    ])  # fmt: skip
    calls = [e for e in events if is_call_event(e)]
    found = [m for e in calls for m in values(e, {"topic": topic}, "§3 a contact's topic")]
    found += values(events[1], {"message.call.ResponseActual.phoneNumber": CUSTOMER,
                                "message.call.CallVariables.DNIS": CUSTOMER},
                    "§4.1 DNIS of an outbound call is the dialled number")  # fmt: skip
    if topic == "OutboundCall":
        for e in calls:
            found += values(e, {"message.call.CallType": "Regular-Call",
                                "message.call.User.loginName": s.client.agent},
                            "§4.1 outbound vocabulary (User, CallType)")  # fmt: skip
    if found:
        raise Nonconformance(f"{topic}/MakeCall", found)
    await s.cause(s.driver.outbound_answer, "the dialled customer answers", [
        call("agent", ev["connected"], "connected", "connecting", TWO_PARTY),
        call("outbound", ev["connected"], "connected", "connecting", TWO_PARTY),
        *changed("Busy"),
    ])  # fmt: skip
    events = await s.cause(s.driver.customer_hangup, "the customer hangs up")
    s.check("the hang-up ends in ACW", events[-2:], changed("AfterCallWork"), feed=False)


@scenario("outbound_answer", "customer_hangup")
async def make_call_outbound(s: Session) -> None:
    """OutboundCall/MakeCall: campaign events, User, CallType Regular-Call."""
    await _make_call(s, "OutboundCall")


@scenario("outbound_answer", "customer_hangup")
async def make_call_inbound_topic(s: Session) -> None:
    """InboundCall/SetMakeCall's call stays under InboundCall with the inbound events."""
    await _make_call(s, "InboundCall")


@scenario("ring", "answer")
async def agent_states_and_next_state(s: Session) -> None:
    """UpdateState; on a call the state is enqueued as next state and applied at ClearContact."""
    await s.step("Agent", "UpdateState", {"label": "Break"}, expect=changed("Break"))
    await s.step("Agent", "UpdateState", {"label": "Available"}, expect=changed("Available"))
    await talking(s)
    await s.step("Agent", "UpdateState", {"label": "Lunch"},
                 expect=[agent("Busy", "Lunch"), ccp("Busy")])  # fmt: skip
    await s.step(IB, "Disconnect")
    events = await s.step(IB, "ClearContact")
    s.check("ClearContact applies the next state", events[-2:], changed("Lunch"), feed=False)


@scenario("ring", "answer")
async def mute_and_unmute(s: Session) -> None:
    """Mute/Unmute events carry only the mute and unmute buttons (published Mute sample)."""
    await talking(s)
    await s.step("Agent", "Mute", expect=[mute("Busy", True)])
    await s.step("Agent", "Unmute", expect=[mute("Busy", False)])


@scenario()
async def logout_and_login(s: Session) -> None:
    """Logout, then Login: LoginSuccess as published, then the state the agent returns to."""
    await s.step(
        "Agent",
        "Logout",
        expect=[
            Expect(
                "LogoutSuccess",
                (
                    (
                        {"subtopic": "LogoutSuccess", "message.loginState": "LoggedOut"},
                        "§3.2 Logout",
                    ),
                ),
            )
        ],
    )
    await s.step("Agent", "Login", expect=[
        Expect("LoginSuccess", (({"subtopic": "LoginSuccess", "message.agentState": None,
                                  "message.rules": None}, "published LoginSuccess sample"),)),
        *changed("Available"),
    ])  # fmt: skip


async def _refused(s: Session, subtopic: str, failure: str) -> None:
    await talking(s)
    before = await s.client.request(IB, "StateSync")
    unsupported = subtopic in s.driver.unsupported
    if not unsupported:
        await s.driver.fail_next(subtopic)
    result = await s.driver.request(IB, subtopic)
    code = s.driver.unsupported_code if unsupported else FAILURE
    s.check(f"{IB}/{subtopic} refused by Amazon Connect", result.events, [error(failure, code)])
    after = await s.client.request(IB, "StateSync")
    found = values(
        after.events[0],
        {"message": before.events[0]["message"]},
        "§5 a refused command changes nothing",
    )
    again = await s.driver.request(IB, subtopic)
    if again.ok is unsupported:
        found.append(Mismatch("retry", not unsupported, again.ok, "§5 the next try is carried out"))
    if found:
        raise Nonconformance(f"{IB}/{subtopic} after the refusal", found)


@scenario("ring", "answer", "fail_next")
async def refused_hold(s: Session) -> None:
    """Amazon Connect refuses Hold: HOLD_CALL_FAILED to all apps, nothing changes."""
    await _refused(s, "Hold", "HOLD_CALL_FAILED")


@scenario("ring", "answer", "fail_next")
async def refused_disconnect(s: Session) -> None:
    """Amazon Connect refuses Disconnect: DISCONNECT_CALL_FAILED, nothing changes."""
    await _refused(s, "Disconnect", "DISCONNECT_CALL_FAILED")


@scenario("fail_next")
async def refused_state_change(s: Session) -> None:
    """Amazon Connect refuses UpdateState: UPDATE_AGENT_STATE_FAILED; the retry works."""
    await s.driver.fail_next("UpdateState")
    result = await s.driver.request("Agent", "UpdateState", {"label": "Break"})
    s.check("Agent/UpdateState refused", result.events,
            [error("UPDATE_AGENT_STATE_FAILED", FAILURE)])  # fmt: skip
    await s.step("Agent", "UpdateState", {"label": "Break"}, expect=changed("Break"))


@scenario("ring", "answer")
async def number_pad(s: Session) -> None:
    """NumberPad: one event for the agent connection, state unchanged."""
    await talking(s)
    await s.step(
        IB,
        "NumberPad",
        "12#",
        expect=[call("agent", "connected", "connected", "connecting", TWO_PARTY)],
    )


@scenario("ring", "answer")
async def published_ids_in_data(s: Session) -> None:
    """The published Hold, Resume and Disconnect requests send the agent connection's id."""
    await s.cause(s.driver.ring, "a call arrives")
    answered = await s.step(IB, "Answer")
    leg = answered[0]["message"]["call"]["ResponseActual"]
    await s.step(IB, "Hold", leg["connectionId"], expect=[
        call("agent", "connected", "connected", "connecting", HELD),
        call("inbound", "hold", "hold", "connected", HELD),
    ])  # fmt: skip
    await s.step(IB, "Resume", leg["connectionId"], expect=[
        call("agent", "connected", "connected", "connecting", TWO_PARTY),
        call("inbound", "connected", "connected", "hold", TWO_PARTY),
    ])  # fmt: skip
    await s.step(IB, "Disconnect", leg["contactId"], expect=[
        call("agent", "ACW", "disconnected", "connected", rules.ENDED),
        call("inbound", "DROPPED", "disconnected", "connected", rules.ENDED),
        *changed("AfterCallWork"),
    ])  # fmt: skip


@scenario("ring", "answer")
async def late_joiner(s: Session) -> None:
    """An app that joins mid-call gets Agent/StateSync then the call StateSync with the truth
    (§1), its buttons as §4.2 says (published call StateSync sample)."""
    await talking(s)
    late = await s.connect()
    try:
        agent_sync, call_sync = late.sync
        found = values(
            agent_sync,
            {
                "topic": "Agent",
                "subtopic": "StateSync",
                "message.loginState": "LoggedIn",
                "message.agentState.name": "Busy",
            },
            "§1 on connect, §4.4",
        )
        found += values(call_sync, {"topic": IB, "subtopic": "StateSync"}, "§1 on connect")
        calls = call_sync["message"].get("calls") or []
        kinds = [(c.get("type"), c.get("status")) for c in calls]
        found += values({"calls": kinds}, {"calls": [("agent", "connected"),
                                                     ("inbound", "connected")]},
                        "published call StateSync sample")  # fmt: skip
        for i, c in enumerate(calls):
            want = TWO_PARTY.of("agent" if c.get("type") == "agent" else "customer") or F
            found += values(call_sync, {f"message.calls.{i}.buttonStates.{b}": b in want
                                        for b in rules.BUTTONS}, TWO_PARTY.name)  # fmt: skip
        joined = StreamChecker()
        found += [m for e in late.sync for _, m in joined.feed(e)]
        if found:
            raise Nonconformance("late joiner's StateSync", found)
    finally:
        await late.close()


@scenario("ring")
async def resume_after_disconnect(s: Session) -> None:
    """An app that reconnects with resumeFrom=<last seq> gets every event it missed, in order,
    seq without a gap (§6)."""
    s.client.drain()
    first = await s.driver.request("Agent", "UpdateState", {"label": "Break"})
    seqs = [e["seq"] for e in first.events if isinstance(e.get("seq"), int)]
    if not seqs:
        raise Nonconformance("resume", [Mismatch("seq", "an integer", None, "§2 event seq")])
    last = seqs[-1]
    await s.driver.request("Agent", "UpdateState", {"label": "Available"})
    missed = await s.cause(s.driver.ring, "a call arrives while the app is away")
    later = await s.connect(resume_from=last)
    try:
        got: list[Message] = await later.flush()
    finally:
        await later.close()
    want_seq = list(range(last + 1, last + 1 + 2 + len(missed)))
    found = values(
        {"seq": [e.get("seq") for e in got]},
        {"seq": want_seq},
        "§6 resume: every journaled event after resumeFrom, in order",
    )
    if found:
        raise Nonconformance(f"resumeFrom={last}", found)
    resumed = StreamChecker()
    problems = [m for e in got for _, m in resumed.feed(e)] + [m for _, m in resumed.flush()]
    if problems:
        raise Nonconformance(f"resumeFrom={last}", problems)


def _answer(step: str, events: list[Message], fields: dict[str, Any], reference: str) -> Message:
    """The one answer a request gets, to the sender only (no seq: §6), with ``fields``."""
    if len(events) != 1:
        got = [describe(e) for e in events]
        raise Nonconformance(step, [Mismatch("events", ["one answer"], got, reference)])
    found = values(events[0], fields, reference)
    if "seq" in events[0]:
        found.append(Mismatch("seq", None, events[0]["seq"], "§6 answers to one app carry no seq"))
    if found:
        raise Nonconformance(step, found)
    return events[0]


@scenario()
async def protocol_errors(s: Session) -> None:
    """Bad requests get a protocol error to the sender only, the connection stays open (§5)."""
    cases: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = [
        ("Nope", "Answer", (), {"message.type": "UNKNOWN_TOPIC"}),
        (IB, "answer", (), {"message.type": "UNKNOWN_SUBTOPIC",
                            "message.code": "answer: did you mean Answer?"}),
        (IB, "NumberPad", ("abc",), {"message.type": "INVALID_DATA",
                                     "message.code": "data: expected digits 0-9 * # , (1-64)"}),
    ]  # fmt: skip
    for topic, subtopic, data, fields in cases:
        step = f"{topic}/{subtopic}" + (f" {json.dumps(data[0])}" if data else "")
        result = await s.client.request(topic, subtopic, *data)
        s.check(step, result.events, None)
        _answer(step, result.events, {"subtopic": "Error", **fields}, "§5 protocol errors")
    s.client.drain()
    await s.client.send_raw("{")
    events = await s.client.flush()
    s.check("a frame that is not JSON", events, None)
    invalid = {"subtopic": "Error", "message.type": "INVALID_JSON"}
    _answer("a frame that is not JSON", events, invalid, "§5 protocol errors")
    await s.step("Agent", "UpdateState", {"label": "Available"}, expect=changed("Available"))


@scenario()
async def agent_queries(s: Session) -> None:
    """GetStates, CcpAgentState and Agent/StateSync answer the requester (§3.2, §4.4); an unknown
    state is AGENT_STATE_NOT_FOUND."""
    states = await s.client.request("Agent", "GetStates")
    answer = _answer("Agent/GetStates", states.events, {"subtopic": "GetStates"}, "§3.2 GetStates")
    listed = answer["message"].get("states")
    kinds = {"routable", "not_routable", "offline", "system", "error"}
    if (
        not isinstance(listed, list)
        or not listed
        or not all(
            isinstance(x, dict) and set(x) == {"label", "code", "type"} and x["type"] in kinds
            for x in listed
        )
    ):
        raise Nonconformance(
            "Agent/GetStates",
            [Mismatch("message.states", "[{label, code, type}, ...]", listed, "§3.2 GetStates")],
        )
    ccp_answer = await s.client.request("Agent", "CcpAgentState")
    s.check("Agent/CcpAgentState", ccp_answer.events, None)
    _answer("Agent/CcpAgentState", ccp_answer.events,
            {"subtopic": "CcpAgentState", "message.name": "Available",
             "message.type": "routable"}, "published CcpAgentState sample")  # fmt: skip
    sync = await s.client.request("Agent", "StateSync")
    _answer("Agent/StateSync", sync.events,
            {"subtopic": "StateSync", "message.loginState": "LoggedIn",
             "message.agentState.name": "Available", "message.agentState.type": "routable",
             "message.rules.ButtonStates.count": 5,
             "message.agentInfo.loginName": s.client.agent}, "§4.4 Agent/StateSync")  # fmt: skip
    result = await s.driver.request("Agent", "UpdateState", {"label": "No Such State"})
    s.check("Agent/UpdateState to an unknown state", result.events,
            [Expect("Error AGENT_STATE_NOT_FOUND", (({"subtopic": "Error",
                    "message.type": "AGENT_STATE_NOT_FOUND"}, "§3.2 UpdateState"),))])  # fmt: skip


@scenario()
async def set_not_ready(s: Session) -> None:
    """The published SetNotReady request (ReasonCodeId names a not-routable state) acts as
    UpdateState to it (§3.2)."""
    await s.step("Agent", "SetNotReady", {"ReasonCodeId": "Break"}, expect=changed("Break"))
    await s.step("Agent", "UpdateState", {"label": "Available"}, expect=changed("Available"))


# Simulator/OutboundResult of a dialled customer -> the agent error state it leaves (§3.3)
DIAL_ERRORS = {"busy": "LineEngagedCustomer", "noAnswer": "MissedCallCustomer",
               "failed": "FailedConnectCustomer"}  # fmt: skip


@scenario("dial_result")
async def dial_outcomes(s: Session) -> None:
    """A dialled customer busy, not answering, or a failed dial: a missed-like end with the
    agent in its error state (type error, §3.3), cleared back to Available."""
    for result, state in DIAL_ERRORS.items():
        await s.step("OutboundCall", "MakeCall", CUSTOMER)
        await s.cause(partial(s.driver.dial_result, result), f"the dialled call: {result}", [
            call("agent", "ACW", "disconnected", "connecting", rules.ENDED),
            call("outbound", "DROPPED", "disconnected", "connecting", rules.ENDED),
            agent(state), ccp(state),
        ])  # fmt: skip
        events = await s.step("OutboundCall", "ClearContact")
        s.check(f"ClearContact after {result}", events[-2:], changed("Available"), feed=False)


@scenario("preview")
async def preview_skip_and_accept(s: Session) -> None:
    """A campaign preview (§3.1 Skip, MakeCall without data): offered with no call buttons,
    skipped, offered again and accepted (dialling)."""
    offered = [
        call("agent", "Preview", "connecting", None, rules.PREVIEW),
        *changed("CallingCustomer"),
    ]
    await s.cause(s.driver.preview, "a preview is offered", offered)
    await s.step("OutboundCall", "Skip", expect=[
        call("agent", "DROPPED", "disconnected", "connecting", rules.GONE),
        *changed("Available"),
    ])  # fmt: skip
    await s.cause(s.driver.preview, "a preview is offered again", offered)
    await s.step("OutboundCall", "MakeCall", expect=[
        call("agent", "Initiate", "connecting", None, rules.DIALLING),  # still connecting
        call("outbound", "Initiate", "connecting", None, rules.DIALLING),
    ])  # fmt: skip


@scenario("ring", "answer")
async def external_consult(s: Session) -> None:
    """The published ExternalConsult request (topic OutboundCall) on an inbound call: a consult,
    its events under the contact's topic."""
    await talking(s)
    events = await s.step("OutboundCall", "ExternalConsult", THIRD, expect=[
        call("agent", "connected", "connected", "connecting", CONSULT_RINGING),
        call("inbound", "hold", "hold", "connected", CONSULT_RINGING),
        third("connecting", "connecting", None, CONSULT_RINGING),
    ])  # fmt: skip
    found = [m for e in events for m in values(e, {"topic": IB}, "§3 a contact's topic")]
    if found:
        raise Nonconformance("OutboundCall/ExternalConsult", found)
