"""The embedded Amazon Connect simulator: every action, Simulator subtopic and convention."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import pytest

from ctibridge.actions import (
    Accept,
    AcceptPreview,
    Action,
    AddParty,
    BackendError,
    Clear,
    Conference,
    Dial,
    Endpoint,
    Hangup,
    Hold,
    Login,
    Logout,
    Reject,
    Resume,
    SendDigits,
    SetMute,
    SetState,
    SkipPreview,
    Swap,
    Transfer,
)
from ctibridge.backends.base import Backend
from ctibridge.backends.sim import SimBackend, SimulatorError
from ctibridge.clock import ManualClock
from ctibridge.model import AgentSnapshot, AgentState, Connection, Contact
from ctibridge.protocol.requests import (
    NoData,
    SimConfigure,
    SimContactRef,
    SimFailNext,
    SimIncomingCall,
    SimOutboundResult,
    SimPreviewCall,
)

A1, A2, A3 = "agent1", "agent2", "agent3"
CUSTOMER = "+15551230001"
AVAILABLE = AgentState(label="Available", code="Available", type="routable")
NOT_READY = AgentState(label="Not Ready", code="Not Ready", type="not_routable")
BREAK = AgentState(label="Break", code="Break", type="not_routable")
LUNCH = AgentState(label="Lunch", code="Lunch", type="not_routable")
OFFLINE = AgentState(label="Offline", code="Offline", type="offline")


class Rig:
    """The simulator with a manual clock and a sink that records every report."""

    def __init__(self, sim: SimBackend, clock: ManualClock) -> None:
        self.sim = sim
        self.clock = clock
        self.events: list[tuple[str, AgentSnapshot]] = []

    def sink(self, login: str, snap: AgentSnapshot) -> None:
        self.events.append((login, snap))

    def take(self) -> list[tuple[str, AgentSnapshot]]:
        events, self.events = self.events, []
        return events

    def snap(self, login: str = A1) -> AgentSnapshot:
        return self.sim.snapshot(login)

    def contact(self, login: str = A1) -> Contact:
        contacts = self.snap(login).contacts
        assert len(contacts) == 1, contacts
        return contacts[0]

    def legs(self, login: str = A1) -> list[tuple[str, str]]:
        return [(leg.role, leg.status) for leg in self.contact(login).connections]

    def third(self, login: str = A1) -> Connection:
        leg = self.contact(login).third_party_leg
        assert leg is not None
        return leg

    def customer(self, login: str = A1) -> Connection:
        leg = self.contact(login).customer_leg
        assert leg is not None
        return leg

    async def do(self, action: Action, login: str = A1) -> None:
        await self.sim.execute(login, action)

    def simulate(self, subtopic: str, data: object = None, login: str = A1) -> None:
        self.sim.simulate(login, subtopic, data)

    def incoming(self, login: str = A1, number: str = CUSTOMER, **kwargs: object) -> None:
        self.simulate("IncomingCall", SimIncomingCall(phone_number=number, **kwargs), login)  # type: ignore[arg-type]

    async def answered(self, login: str = A1, number: str = CUSTOMER) -> Contact:
        self.incoming(login, number)
        await self.do(Accept(self.contact(login).contact_id), login)
        return self.contact(login)

    async def consulting(self, endpoint: Endpoint, login: str = A1) -> Contact:
        contact = await self.answered(login)
        await self.do(AddParty(contact.contact_id, endpoint), login)
        return self.contact(login)

    async def refused(self, action: Action, match: str, login: str = A1) -> None:
        """``action`` fails with ``match`` and changes nothing at all."""
        before = {name: self.sim.snapshot(name) for name in self.sim.logins()}
        reports = len(self.events)
        with pytest.raises(BackendError, match=match):
            await self.sim.execute(login, action)
        assert {name: self.sim.snapshot(name) for name in self.sim.logins()} == before
        assert len(self.events) == reports


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    clock = ManualClock()
    sim = SimBackend(clock, seed=7)
    rig = Rig(sim, clock)
    await sim.start(rig.sink)
    yield rig
    await sim.stop()


PHONE = Endpoint(kind="phone", value="+15559870000")


# --- the instance -------------------------------------------------------------------------------


async def test_is_a_backend_with_agents_states_queues_and_quick_connects(rig: Rig) -> None:
    sim = rig.sim
    assert isinstance(sim, Backend)
    assert sim.name == "sim"
    assert list(sim.logins()) == ["agent1", "agent2", "agent3", "agent4", "agent5"]
    d = sim.directory(A2)
    assert d.states == (AVAILABLE, NOT_READY, BREAK, LUNCH, OFFLINE)
    assert d.queues == ("InboundTest", "Sales", "Support")
    assert d.quick_connects == ("Billing", "Supervisor")
    assert d.agents == ("agent1", "agent3", "agent4", "agent5")
    info = rig.snap(A2).info
    assert info.login == "agent2"
    assert info.name == "Agent 2"
    assert info.extension == ""
    assert info.softphone_enabled is True
    assert info.routing_profile == "Basic Routing Profile"
    assert info.queues == ("InboundTest", "Sales", "Support")
    assert info.arn == "arn:aws:connect:us-east-1:000000000000:instance/sim/agent/agent2"


async def test_agents_start_logged_in_and_available(rig: Rig) -> None:
    snap = rig.snap()
    assert snap.logged_in is True
    assert snap.state == AVAILABLE
    assert snap.state_since == rig.clock.now_ms()
    assert snap.next_state is None
    assert snap.muted is False
    assert snap.contacts == ()


def test_agents_can_start_offline_yet_logged_in() -> None:
    sim = SimBackend(ManualClock(), agents=2, start_available=False)
    assert list(sim.logins()) == ["agent1", "agent2"]
    assert sim.snapshot(A1).logged_in is True
    assert sim.snapshot(A1).state == OFFLINE
    sim.simulate(A1, "IncomingCall", SimIncomingCall(phone_number=CUSTOMER))
    assert sim.snapshot(A1).contacts == ()  # queued: offline is not routable


async def test_unknown_login_is_a_key_error(rig: Rig) -> None:
    with pytest.raises(KeyError):
        rig.sim.snapshot("agent9")
    with pytest.raises(KeyError):
        rig.sim.directory("agent9")
    with pytest.raises(KeyError):
        await rig.sim.execute("agent9", SetMute(True))
    with pytest.raises(KeyError):
        rig.sim.simulate("agent9", "Reset", NoData())


async def test_status_counts_agents_contacts_queued_calls_and_timers(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY), A2)
    rig.incoming(A1)
    rig.incoming(A2)
    status = rig.sim.status()
    assert status["backend"] == "sim"
    assert status["running"] is True
    assert status["agents"] == 5
    assert status["logged_in"] == 5
    assert status["contacts"] == 1
    assert status["queued_calls"] == 1
    assert status["timers"] == 1  # agent1's ring timer


# --- incoming calls -----------------------------------------------------------------------------


async def test_incoming_call_rings_the_available_agent(rig: Rig) -> None:
    t0 = rig.clock.now_ms()
    rig.incoming(attributes=(("account", "42"),))
    [(login, snap)] = rig.take()
    assert login == A1
    assert snap is rig.snap()
    [contact] = snap.contacts
    assert uuid.UUID(contact.contact_id).version == 4
    assert contact.kind == "inbound"
    assert contact.topic == "InboundCall"
    assert contact.state == "live"
    assert contact.queue == "InboundTest"
    assert contact.queue_since == t0
    assert contact.ani == CUSTOMER
    assert contact.dnis == "+18005550100"
    assert contact.attributes == (("account", "42"),)
    assert contact.campaign == ""
    agent, customer = contact.connections
    assert (agent.role, agent.type, agent.status, agent.phone_number) == (
        "agent",
        "agent",
        "connecting",
        None,
    )
    assert agent.previous_status is None
    assert agent.connection_id != contact.contact_id
    assert (customer.role, customer.type, customer.status) == ("customer", "inbound", "connected")
    assert customer.connection_id == contact.contact_id
    assert customer.phone_number == CUSTOMER
    assert snap.state == AVAILABLE  # the chosen state stays; the engine derives PendingBusy


async def test_incoming_call_takes_queue_and_dnis(rig: Rig) -> None:
    rig.incoming(queue="Sales", dnis="+18005550199")
    assert rig.contact().queue == "Sales"
    assert rig.contact().dnis == "+18005550199"


async def test_unanswered_call_is_missed_after_20_seconds(rig: Rig) -> None:
    rig.incoming()
    rig.take()
    rig.clock.advance(19.9)
    assert rig.contact().state == "live"
    assert rig.events == []
    rig.clock.advance(0.1)
    [(login, snap)] = rig.take()
    assert login == A1
    contact = snap.contacts[0]
    assert contact.state == "missed"
    assert contact.since == rig.clock.now_ms()
    assert [(leg.role, leg.status, leg.previous_status) for leg in contact.connections] == [
        ("agent", "disconnected", "connecting"),
        ("customer", "disconnected", "connected"),
    ]
    assert all(leg.since == rig.clock.now_ms() for leg in contact.connections)
    assert rig.clock.pending == 0


async def test_ring_seconds_per_call_and_per_agent(rig: Rig) -> None:
    rig.incoming(ring_seconds=5)
    rig.clock.advance(5)
    assert rig.contact().state == "missed"
    rig.simulate("Configure", SimConfigure(ring_seconds=8), A2)
    rig.incoming(A2)
    rig.clock.advance(7)
    assert rig.contact(A2).state == "live"
    rig.clock.advance(1)
    assert rig.contact(A2).state == "missed"


async def test_ring_seconds_zero_never_rings_out(rig: Rig) -> None:
    rig.incoming(ring_seconds=0)
    rig.clock.advance(3600)
    assert rig.contact().state == "live"
    assert rig.clock.pending == 0


async def test_call_for_a_busy_or_unavailable_agent_waits_in_its_queue(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY))
    t0 = rig.clock.now_ms()
    rig.incoming(number="+15550000001")
    rig.clock.advance(30)
    rig.incoming(number="+15550000002")
    assert rig.snap().contacts == ()
    rig.clock.advance(60)  # a waiting call does not ring out
    rig.take()
    await rig.do(SetState(AVAILABLE))
    [(_, after_state), (_, delivered)] = rig.take()
    assert after_state.state == AVAILABLE and after_state.contacts == ()
    first = delivered.contacts[0]
    assert first.ani == "+15550000001"
    assert first.queue_since == t0  # waited since it arrived
    assert first.since == rig.clock.now_ms()
    # the second waits until the first is over and cleared
    await rig.do(Accept(first.contact_id))
    await rig.do(Hangup(first.contact_id, first.contact_id))
    assert [c.ani for c in rig.snap().contacts] == ["+15550000001"]
    await rig.do(Clear(first.contact_id))
    assert rig.contact().ani == "+15550000002"
    assert rig.contact().agent_leg.status == "connecting"  # type: ignore[union-attr]


async def test_queued_call_is_delivered_at_login(rig: Rig) -> None:
    await rig.do(Logout())
    rig.incoming()
    assert rig.snap().contacts == ()
    await rig.do(Login())
    assert rig.snap().logged_in is True
    assert rig.contact().ani == CUSTOMER


# --- answer, reject, hold, resume, hang up, clear -------------------------------------------------


async def test_accept_connects_the_agent_and_stops_the_ring_timer(rig: Rig) -> None:
    rig.incoming()
    contact = rig.contact()
    rig.clock.advance(2)
    rig.take()
    await rig.do(Accept(contact.contact_id))
    [(login, snap)] = rig.take()
    assert login == A1
    agent = snap.contacts[0].agent_leg
    assert agent is not None
    assert (agent.status, agent.previous_status, agent.since) == (
        "connected",
        "connecting",
        rig.clock.now_ms(),
    )
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]
    customer = rig.customer()
    assert customer.previous_status is None  # unchanged since it was created
    rig.clock.advance(60)
    assert rig.contact().state == "live"
    assert rig.clock.pending == 0


async def test_accept_refused_when_not_ringing(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.refused(Accept(contact.contact_id), "not ringing")
    await rig.refused(Accept("nope"), "ResourceNotFoundException")


async def test_reject(rig: Rig) -> None:
    rig.incoming()
    contact = rig.contact()
    await rig.do(Reject(contact.contact_id))
    assert rig.contact().state == "rejected"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]
    assert rig.clock.pending == 0
    await rig.refused(Reject(contact.contact_id), "not ringing")


async def test_hold_and_resume_the_customer(rig: Rig) -> None:
    contact = await rig.answered()
    rig.clock.advance(5)
    await rig.do(Hold(contact.contact_id, contact.contact_id))
    held = rig.customer()
    assert (held.status, held.previous_status, held.since) == (
        "hold",
        "connected",
        rig.clock.now_ms(),
    )
    await rig.refused(Hold(contact.contact_id, contact.contact_id), "not connected")
    rig.clock.advance(5)
    await rig.do(Resume(contact.contact_id, contact.contact_id))
    resumed = rig.customer()
    assert (resumed.status, resumed.previous_status, resumed.since) == (
        "connected",
        "hold",
        rig.clock.now_ms(),
    )
    await rig.refused(
        Resume(contact.contact_id, contact.contact_id),
        "InvalidStateException: connection is not on hold",
    )
    agent_leg = rig.contact().agent_leg
    assert agent_leg is not None
    await rig.refused(Hold(contact.contact_id, agent_leg.connection_id), "cannot be held")
    await rig.refused(Hold(contact.contact_id, "nope"), "ResourceNotFoundException")


async def test_hold_refused_while_ringing(rig: Rig) -> None:
    rig.incoming()
    contact = rig.contact()
    await rig.refused(Hold(contact.contact_id, contact.contact_id), "not connected")


async def test_hangup_customer_leg_ends_the_call_in_acw(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    [(_, snap)] = rig.take()
    assert snap.contacts[0].state == "acw"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]
    await rig.refused(Hangup(contact.contact_id, contact.contact_id), "not active")


async def test_hangup_agent_leg_ends_the_call_in_acw(rig: Rig) -> None:
    contact = await rig.answered()
    agent_leg = contact.agent_leg
    assert agent_leg is not None
    await rig.do(Hangup(contact.contact_id, agent_leg.connection_id))
    assert rig.contact().state == "acw"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]


async def test_hangup_while_ringing_rejects(rig: Rig) -> None:
    rig.incoming()
    contact = rig.contact()
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    assert rig.contact().state == "rejected"
    assert rig.clock.pending == 0


async def test_clear_only_ended_contacts(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.refused(Clear(contact.contact_id), "^contact is not in a clearable state$")
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    since = rig.snap().state_since
    rig.clock.advance(30)
    rig.take()
    await rig.do(Clear(contact.contact_id))
    [(_, snap)] = rig.take()
    assert snap.contacts == ()
    assert snap.state == AVAILABLE
    # back in the state held before the call, entered again at the clear (§3.3)
    assert snap.state_since == rig.clock.now_ms() != since
    await rig.refused(Clear(contact.contact_id), "ResourceNotFoundException")


@pytest.mark.parametrize("end", ["missed", "rejected"])
async def test_clear_missed_and_rejected(rig: Rig, end: str) -> None:
    rig.incoming()
    contact = rig.contact()
    if end == "missed":
        rig.clock.advance(20)
    else:
        await rig.do(Reject(contact.contact_id))
    assert rig.contact().state == end
    await rig.do(Clear(contact.contact_id))
    assert rig.snap().contacts == ()


# --- agent state ----------------------------------------------------------------------------------


async def test_set_state_without_a_contact(rig: Rig) -> None:
    rig.clock.advance(10)
    await rig.do(SetState(BREAK))
    [(_, snap)] = rig.take()
    assert snap.state == BREAK
    assert snap.state_since == rig.clock.now_ms()
    assert snap.next_state is None
    rig.clock.advance(1)
    await rig.do(SetState(BREAK))  # the same state again is still reported
    [(_, again)] = rig.take()
    assert again.state == BREAK


async def test_set_state_on_a_contact_is_enqueued_and_applied_at_clear(rig: Rig) -> None:
    contact = await rig.answered()
    since = rig.snap().state_since
    rig.take()
    await rig.do(SetState(LUNCH))
    [(_, snap)] = rig.take()
    assert snap.state == AVAILABLE
    assert snap.next_state == LUNCH
    assert snap.state_since == since
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    assert rig.snap().next_state == LUNCH
    rig.clock.advance(40)
    await rig.do(Clear(contact.contact_id))
    snap = rig.snap()
    assert (snap.state, snap.next_state, snap.state_since) == (LUNCH, None, rig.clock.now_ms())
    rig.incoming()
    assert rig.snap().contacts == ()  # Lunch is not routable: the call waits


async def test_set_state_refuses_unknown_states(rig: Rig) -> None:
    await rig.refused(SetState(AgentState("Gone", "Gone", "not_routable")), "not found")


async def test_set_mute(rig: Rig) -> None:
    await rig.do(SetMute(True))
    assert rig.snap().muted is True
    [(_, snap)] = rig.take()
    assert snap.muted is True
    await rig.do(SetMute(False))
    assert rig.snap().muted is False


async def test_mute_ends_with_the_call(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(SetMute(True))
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    assert rig.snap().muted is False  # the next call starts unmuted, as in the CCP


async def test_logout_and_login_restore_the_previous_state(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY))
    rig.clock.advance(5)
    await rig.do(Logout())
    snap = rig.snap()
    assert (snap.logged_in, snap.state, snap.state_since) == (False, OFFLINE, rig.clock.now_ms())
    await rig.refused(Logout(), "already logged out")
    await rig.refused(SetState(AVAILABLE), "logged out")
    rig.clock.advance(5)
    await rig.do(Login())
    snap = rig.snap()
    assert (snap.logged_in, snap.state, snap.state_since) == (True, NOT_READY, rig.clock.now_ms())


async def test_logout_refused_on_a_contact(rig: Rig) -> None:
    await rig.answered()
    await rig.refused(Logout(), "on a contact")


# --- consult, swap, conference, transfer ---------------------------------------------------------


async def test_consult_a_phone_number_answers_after_three_seconds(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(AddParty(contact.contact_id, PHONE))
    [(_, snap)] = rig.take()
    consult = snap.contacts[0]
    assert [(leg.role, leg.type, leg.status) for leg in consult.connections] == [
        ("agent", "agent", "connected"),
        ("customer", "inbound", "hold"),
        ("third_party", "outbound", "connecting"),
    ]
    third = consult.connections[2]
    assert third.phone_number == "+15559870000"
    assert third.previous_status is None
    assert third.connection_id not in (contact.contact_id, consult.connections[0].connection_id)
    rig.clock.advance(2.9)
    assert rig.third().status == "connecting"
    rig.clock.advance(0.1)
    [(_, answered)] = rig.take()
    leg = answered.contacts[0].connections[2]
    assert (leg.status, leg.previous_status) == ("connected", "connecting")
    await rig.refused(AddParty(contact.contact_id, PHONE), "already on the call")


async def test_consult_quick_connect_answered_by_simulator_when_auto_answer_is_off(
    rig: Rig,
) -> None:
    rig.simulate("Configure", SimConfigure(answer_seconds=0))
    await rig.consulting(Endpoint(kind="quick_connect", value="Billing"))
    assert rig.third().phone_number == "Billing"
    rig.clock.advance(600)
    assert rig.third().status == "connecting"
    rig.simulate("ThirdPartyAnswer", SimContactRef())
    assert rig.third().status == "connected"
    with pytest.raises(SimulatorError, match="not ringing"):
        rig.simulate("ThirdPartyAnswer", SimContactRef())


async def test_consult_refuses_unknown_quick_connects_and_queues(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.refused(
        AddParty(contact.contact_id, Endpoint(kind="quick_connect", value="Nobody")), "not found"
    )
    await rig.refused(
        AddParty(contact.contact_id, Endpoint(kind="queue", value="Nope")), "not found"
    )


async def test_consult_to_a_queue(rig: Rig) -> None:
    await rig.consulting(Endpoint(kind="queue", value="Support"))
    assert rig.third().phone_number == "Support"
    rig.clock.advance(3)
    assert rig.third().status == "connected"


async def test_swap_toggles_the_held_and_the_connected_party(rig: Rig) -> None:
    contact = await rig.consulting(PHONE)
    await rig.refused(Swap(contact.contact_id), "one party connected")  # third party ringing
    rig.clock.advance(3)
    await rig.do(Swap(contact.contact_id))
    assert rig.legs() == [
        ("agent", "connected"),
        ("customer", "connected"),
        ("third_party", "hold"),
    ]
    await rig.do(Swap(contact.contact_id))
    assert rig.legs() == [
        ("agent", "connected"),
        ("customer", "hold"),
        ("third_party", "connected"),
    ]
    assert rig.customer().previous_status == "connected"


async def test_conference_connects_every_leg(rig: Rig) -> None:
    contact = await rig.consulting(PHONE)
    await rig.refused(Conference(contact.contact_id), "not answered")
    rig.clock.advance(3)
    await rig.do(Conference(contact.contact_id))
    assert rig.legs() == [
        ("agent", "connected"),
        ("customer", "connected"),
        ("third_party", "connected"),
    ]
    await rig.refused(Swap(contact.contact_id), "one party connected")


async def test_conference_and_swap_need_a_third_party(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.refused(Conference(contact.contact_id), "third party")
    await rig.refused(Swap(contact.contact_id), "third party")


async def test_hangup_the_third_party_drops_it_and_the_customer_stays_on_hold(rig: Rig) -> None:
    contact = await rig.consulting(PHONE)
    rig.clock.advance(3)
    await rig.do(Hangup(contact.contact_id, rig.third().connection_id))
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]
    assert rig.contact().state == "live"
    await rig.do(Resume(contact.contact_id, contact.contact_id))
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]


async def test_hangup_the_customer_in_a_consult_ends_the_call_and_drops_the_third_party(
    rig: Rig,
) -> None:
    contact = await rig.consulting(PHONE)
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    assert rig.contact().state == "acw"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]
    assert rig.clock.pending == 0  # the third party's answer timer went with it


async def test_warm_transfer_the_agent_leaves(rig: Rig) -> None:
    contact = await rig.consulting(PHONE)
    rig.clock.advance(3)
    await rig.do(Transfer(contact.contact_id))
    assert rig.contact().state == "acw"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]
    await rig.refused(Transfer(contact.contact_id), "not active")


async def test_warm_transfer_needs_a_third_party(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.refused(Transfer(contact.contact_id), "no third party")


async def test_blind_transfer_to_a_phone_number(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(Transfer(contact.contact_id, PHONE))
    [(login, snap)] = rig.take()
    assert login == A1
    assert snap.contacts[0].state == "acw"


async def test_blind_transfer_to_an_agent_rings_that_agent(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(Transfer(contact.contact_id, Endpoint(kind="agent", value=A3)))
    [(first, _), (second, _)] = rig.take()
    assert (first, second) == (A1, A3)
    assert rig.contact(A1).state == "acw"
    transferred = rig.contact(A3)
    assert transferred.contact_id != contact.contact_id
    assert (transferred.kind, transferred.topic, transferred.state) == (
        "transfer",
        "InboundCall",
        "live",
    )
    assert transferred.ani == CUSTOMER
    assert rig.legs(A3) == [("agent", "connecting"), ("customer", "connected")]
    assert rig.customer(A3).phone_number == CUSTOMER
    assert rig.customer(A3).connection_id == transferred.contact_id
    await rig.do(Accept(transferred.contact_id), A3)
    assert rig.legs(A3) == [("agent", "connected"), ("customer", "connected")]
    assert rig.contact(A1).state == "acw"  # the first agent is not part of it any more


async def test_blind_transfer_to_an_unavailable_agent_is_refused(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY), A2)
    contact = await rig.answered()
    await rig.refused(
        Transfer(contact.contact_id, Endpoint(kind="agent", value=A2)),
        "^agent agent2 is not available$",
    )


async def test_blind_transfer_to_a_queue_reaches_an_available_agent(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY), A2)
    contact = await rig.answered()
    await rig.do(Transfer(contact.contact_id, Endpoint(kind="queue", value="Sales")))
    assert rig.contact(A1).state == "acw"
    assert rig.snap(A2).contacts == ()
    delivered = rig.contact(A3)  # the first available agent of the queue
    assert delivered.queue == "Sales"
    assert delivered.ani == CUSTOMER
    assert rig.legs(A3) == [("agent", "connecting"), ("customer", "connected")]


async def test_blind_transfer_to_a_queue_nobody_serves_is_gone(rig: Rig) -> None:
    for login in ("agent2", "agent3", "agent4", "agent5"):
        await rig.do(SetState(BREAK), login)
    contact = await rig.answered()
    await rig.do(Transfer(contact.contact_id, Endpoint(kind="queue", value="Sales")))
    assert rig.contact(A1).state == "acw"
    assert all(rig.snap(login).contacts == () for login in ("agent2", "agent3", "agent4"))


async def test_blind_transfer_needs_the_customer_and_no_consult(rig: Rig) -> None:
    contact = await rig.consulting(PHONE)
    await rig.refused(Transfer(contact.contact_id, PHONE), "already on the call")


# --- agent-to-agent consult ---------------------------------------------------------------------


async def test_consulting_an_agent_really_rings_it_and_it_answers(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    [(first, mine), (second, theirs)] = rig.take()
    assert (first, second) == (A1, A2)
    assert [(leg.role, leg.status) for leg in mine.contacts[0].connections] == [
        ("agent", "connected"),
        ("customer", "hold"),
        ("third_party", "connecting"),
    ]
    assert mine.contacts[0].connections[2].phone_number == A2
    [offered] = theirs.contacts
    assert (offered.kind, offered.topic, offered.state) == ("transfer", "InboundCall", "live")
    assert (offered.queue, offered.ani, offered.dnis, offered.attributes) == (
        contact.queue,
        contact.ani,
        contact.dnis,
        contact.attributes,
    )
    assert rig.legs(A2) == [("agent", "connecting"), ("customer", "connected")]
    assert rig.customer(A2).phone_number == CUSTOMER
    rig.clock.advance(10)  # an agent is not answered by the answer timer
    assert rig.third().status == "connecting"
    rig.take()
    await rig.do(Accept(offered.contact_id), A2)
    [(first, _), (second, _)] = rig.take()
    assert (first, second) == (A2, A1)
    assert rig.legs(A2) == [("agent", "connected"), ("customer", "connected")]
    assert rig.third().status == "connected"
    # warm transfer: the first agent leaves, the second keeps the customer
    await rig.do(Transfer(contact.contact_id))
    assert rig.contact(A1).state == "acw"
    assert rig.contact(A2).state == "live"
    assert rig.legs(A2) == [("agent", "connected"), ("customer", "connected")]


async def test_consulted_agent_rejects(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    offered = rig.contact(A2)
    rig.take()
    await rig.do(Reject(offered.contact_id), A2)
    assert [login for login, _ in rig.take()] == [A2, A1]
    assert rig.contact(A2).state == "rejected"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


async def test_consulted_agent_misses_the_call(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    rig.take()
    rig.clock.advance(20)
    assert [login for login, _ in rig.take()] == [A2, A1]
    assert rig.contact(A2).state == "missed"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


async def test_dropping_the_consulted_agent_ends_its_call(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    await rig.do(Hangup(contact.contact_id, rig.third().connection_id))
    assert rig.contact(A2).state == "missed"  # still ringing when dropped
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]
    await rig.do(Clear(rig.contact(A2).contact_id), A2)
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    await rig.do(Hangup(contact.contact_id, rig.third().connection_id))
    assert rig.contact(A2).state == "acw"  # answered, then dropped


async def test_consulted_agent_hangs_up(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    offered = rig.contact(A2)
    await rig.do(Accept(offered.contact_id), A2)
    agent_leg = offered.agent_leg
    assert agent_leg is not None
    await rig.do(Hangup(offered.contact_id, agent_leg.connection_id), A2)
    assert rig.contact(A2).state == "acw"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


async def test_consulting_agent_leaves_during_ringing_hands_the_customer_over(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(AddParty(contact.contact_id, Endpoint(kind="agent", value=A2)))
    agent_leg = contact.agent_leg
    assert agent_leg is not None
    await rig.do(Hangup(contact.contact_id, agent_leg.connection_id))
    assert rig.contact(A1).state == "acw"
    assert rig.contact(A2).state == "live"
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    assert rig.legs(A2) == [("agent", "connected"), ("customer", "connected")]


async def test_third_party_answer_of_an_agent_is_that_agent_answering(rig: Rig) -> None:
    await rig.consulting(Endpoint(kind="agent", value=A2))
    rig.simulate("ThirdPartyAnswer", SimContactRef())
    assert rig.third().status == "connected"
    assert rig.legs(A2) == [("agent", "connected"), ("customer", "connected")]


async def test_consulting_an_unavailable_agent_is_refused(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY), A2)
    await rig.answered(A3)
    contact = await rig.answered()
    for target in (A2, A3, A1):
        await rig.refused(
            AddParty(contact.contact_id, Endpoint(kind="agent", value=target)),
            f"^agent {target} is not available$",
        )
    await rig.refused(
        AddParty(contact.contact_id, Endpoint(kind="agent", value="agent9")), "not found"
    )


async def test_consulted_agent_leaving_by_blind_transfer_drops_out_of_the_consult(
    rig: Rig,
) -> None:
    await rig.consulting(Endpoint(kind="agent", value=A2))
    offered = rig.contact(A2)
    await rig.do(Accept(offered.contact_id), A2)
    rig.take()
    await rig.do(Transfer(offered.contact_id, PHONE), A2)
    assert [login for login, _ in rig.take()] == [A2, A1]
    assert rig.contact(A2).state == "acw"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


async def test_a_chain_of_consults_settles_along_the_chain(rig: Rig) -> None:
    first = await rig.consulting(Endpoint(kind="agent", value=A2))
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    second = rig.contact(A2)
    await rig.do(AddParty(second.contact_id, Endpoint(kind="agent", value=A3)), A2)
    await rig.do(Accept(rig.contact(A3).contact_id), A3)
    assert rig.third(A2).status == "connected"
    rig.take()
    await rig.do(Hangup(first.contact_id, rig.third().connection_id))  # agent1 drops agent2
    assert [login for login, _ in rig.take()] == [A1, A2, A3]
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]
    assert rig.contact(A2).state == "acw"
    assert rig.contact(A3).state == "acw"


async def test_consulted_agent_whose_call_empties_drops_out_of_the_consult(rig: Rig) -> None:
    await rig.consulting(Endpoint(kind="agent", value=A2))
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    await rig.do(AddParty(rig.contact(A2).contact_id, PHONE), A2)
    rig.simulate("CustomerHangup", SimContactRef(), A2)
    assert rig.legs(A2) == [("agent", "connected"), ("third_party", "connecting")]
    rig.take()
    rig.simulate("ThirdPartyHangup", SimContactRef(), A2)
    assert [login for login, _ in rig.take()] == [A2, A1]
    assert rig.contact(A2).state == "acw"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


# --- DTMF -----------------------------------------------------------------------------------------


async def test_send_digits_records_dtmf_without_reporting(rig: Rig) -> None:
    contact = await rig.answered()
    rig.take()
    await rig.do(SendDigits(contact.contact_id, contact.contact_id, "12#"))
    await rig.do(SendDigits(contact.contact_id, contact.contact_id, "*9"))
    assert rig.sim.dtmf == {contact.contact_id: ["12#", "*9"]}
    assert rig.events == []
    await rig.refused(SendDigits(contact.contact_id, contact.contact_id, "x"), "invalid digits")
    await rig.do(Hold(contact.contact_id, contact.contact_id))
    await rig.refused(SendDigits(contact.contact_id, contact.contact_id, "1"), "not connected")
    assert rig.sim.dtmf == {contact.contact_id: ["12#", "*9"]}


# --- outbound calls and previews ----------------------------------------------------------------


async def test_dial_then_the_customer_answers_after_three_seconds(rig: Rig) -> None:
    rig.clock.advance(1)
    await rig.do(Dial(PHONE, topic="OutboundCall", queue="Sales"))
    contact = rig.contact()
    assert (contact.kind, contact.topic, contact.state) == ("outbound", "OutboundCall", "live")
    assert (contact.queue, contact.queue_since) == ("Sales", rig.clock.now_ms())
    assert (contact.ani, contact.dnis) == ("", PHONE.value)  # DNIS: the dialled number
    agent, customer = contact.connections
    assert (agent.role, agent.status) == ("agent", "connecting")
    assert (customer.role, customer.type, customer.status, customer.phone_number) == (
        "customer",
        "outbound",
        "connecting",
        PHONE.value,
    )
    assert customer.connection_id == contact.contact_id
    rig.clock.advance(3)
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]
    await rig.refused(Dial(PHONE, topic="OutboundCall"), "already on a call")


async def test_dial_under_inbound_topic_without_queue(rig: Rig) -> None:
    await rig.do(Dial(PHONE, topic="InboundCall"))
    contact = rig.contact()
    assert (contact.topic, contact.queue, contact.queue_since) == ("InboundCall", None, None)


@pytest.mark.parametrize("result", ["busy", "noAnswer", "failed"])
async def test_dial_unanswered_ends_in_error(rig: Rig, result: str) -> None:
    rig.simulate("Configure", SimConfigure(answer_seconds=0))
    await rig.do(Dial(PHONE, topic="OutboundCall"))
    rig.clock.advance(60)
    assert rig.legs() == [("agent", "connecting"), ("customer", "connecting")]
    rig.simulate("OutboundResult", SimOutboundResult(result=result))  # type: ignore[arg-type]
    failure = {"busy": "busy", "noAnswer": "no_answer", "failed": "failed"}[result]
    assert (rig.contact().state, rig.contact().failure) == ("error", failure)
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]


async def test_outbound_result_answer(rig: Rig) -> None:
    await rig.do(Dial(PHONE, topic="OutboundCall"))
    rig.simulate("OutboundResult", SimOutboundResult(result="answer"))
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]
    rig.clock.advance(10)  # the answer timer is gone
    assert rig.clock.pending == 0
    with pytest.raises(SimulatorError, match="dialled"):
        rig.simulate("OutboundResult", SimOutboundResult(result="answer"))


async def test_outbound_result_for_a_consulted_party(rig: Rig) -> None:
    await rig.consulting(PHONE)
    rig.simulate("OutboundResult", SimOutboundResult(result="busy"))
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]
    await rig.do(AddParty(rig.contact().contact_id, PHONE))
    rig.simulate("OutboundResult", SimOutboundResult(result="answer"))
    assert rig.third().status == "connected"


async def test_dial_allowed_when_offline(rig: Rig) -> None:
    await rig.do(SetState(OFFLINE))
    await rig.do(Dial(PHONE, topic="OutboundCall"))  # as in Amazon Connect
    assert rig.contact().kind == "outbound"


async def test_dial_refused_when_logged_out(rig: Rig) -> None:
    await rig.do(Logout())
    await rig.refused(Dial(PHONE, topic="OutboundCall"), "logged out")


async def test_dial_when_not_routable(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY))
    await rig.do(Dial(PHONE, topic="OutboundCall"))  # not routable is fine
    assert rig.contact().kind == "outbound"


async def test_dial_allowed_in_acw(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    await rig.do(Dial(PHONE, topic="OutboundCall"))
    assert [c.state for c in rig.snap().contacts] == ["acw", "live"]


async def test_preview_offered_accepted_and_answered(rig: Rig) -> None:
    rig.simulate("PreviewCall", SimPreviewCall(phone_number=PHONE.value, campaign="Spring"))
    preview = rig.contact()
    assert (preview.kind, preview.topic, preview.state, preview.campaign) == (
        "preview",
        "OutboundCall",
        "live",
        "Spring",
    )
    assert (preview.ani, preview.dnis) == ("", PHONE.value)
    assert rig.legs() == [("agent", "connecting")]
    rig.clock.advance(600)  # a preview waits for the agent
    assert rig.legs() == [("agent", "connecting")]
    await rig.do(AcceptPreview(preview.contact_id))
    assert rig.legs() == [("agent", "connecting"), ("customer", "connecting")]
    customer = rig.customer()
    assert (customer.type, customer.phone_number, customer.connection_id) == (
        "outbound",
        PHONE.value,
        preview.contact_id,
    )
    await rig.refused(AcceptPreview(preview.contact_id), "not an offered preview")
    rig.clock.advance(3)
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]


async def test_preview_skipped(rig: Rig) -> None:
    rig.simulate("PreviewCall", SimPreviewCall(phone_number=PHONE.value))
    preview = rig.contact()
    assert preview.campaign == ""
    await rig.refused(Accept(preview.contact_id), "not ringing")
    rig.take()
    await rig.do(SkipPreview(preview.contact_id))
    [(_, snap)] = rig.take()
    assert snap.contacts == ()
    with pytest.raises(SimulatorError, match="phoneNumber"):
        rig.simulate("PreviewCall", SimPreviewCall(phone_number=""))


async def test_preview_needs_a_free_agent(rig: Rig) -> None:
    await rig.answered()
    with pytest.raises(SimulatorError, match="on a contact"):
        rig.simulate("PreviewCall", SimPreviewCall(phone_number=PHONE.value))


# --- Simulator topic ----------------------------------------------------------------------------


async def test_customer_hangup_while_ringing_is_missed(rig: Rig) -> None:
    rig.incoming()
    rig.simulate("CustomerHangup", SimContactRef())
    assert rig.contact().state == "missed"
    assert rig.clock.pending == 0


async def test_customer_hangup_in_a_two_party_call_is_acw(rig: Rig) -> None:
    contact = await rig.answered()
    rig.simulate("CustomerHangup", SimContactRef(contact_id=contact.contact_id))
    assert rig.contact().state == "acw"
    assert rig.legs() == [("agent", "disconnected"), ("customer", "disconnected")]
    with pytest.raises(SimulatorError, match="no live contact"):
        rig.simulate("CustomerHangup", SimContactRef())
    with pytest.raises(SimulatorError, match="ended"):
        rig.simulate("CustomerHangup", SimContactRef(contact_id=contact.contact_id))
    with pytest.raises(SimulatorError, match="no contact"):
        rig.simulate("CustomerHangup", SimContactRef(contact_id="nope"))


async def test_customer_hangup_during_a_consult_leaves_the_third_party(rig: Rig) -> None:
    await rig.consulting(PHONE)
    rig.clock.advance(3)
    rig.simulate("CustomerHangup", SimContactRef())
    assert rig.contact().state == "live"
    assert rig.legs() == [("agent", "connected"), ("third_party", "connected")]
    with pytest.raises(SimulatorError, match="no customer"):
        rig.simulate("CustomerHangup", SimContactRef())
    rig.simulate("ThirdPartyHangup", SimContactRef())
    assert rig.contact().state == "acw"
    assert rig.legs() == [("agent", "disconnected")]


async def test_third_party_hangup_keeps_the_customer_as_it_was(rig: Rig) -> None:
    await rig.consulting(PHONE)
    rig.clock.advance(3)
    rig.take()
    rig.simulate("ThirdPartyHangup", SimContactRef())
    [(_, snap)] = rig.take()
    assert [(leg.role, leg.status) for leg in snap.contacts[0].connections] == [
        ("agent", "connected"),
        ("customer", "hold"),
    ]
    with pytest.raises(SimulatorError, match="no third party"):
        rig.simulate("ThirdPartyHangup", SimContactRef())


async def test_third_party_hangup_of_an_agent_ends_that_agents_call(rig: Rig) -> None:
    await rig.consulting(Endpoint(kind="agent", value=A2))
    rig.simulate("ThirdPartyHangup", SimContactRef())
    assert rig.contact(A2).state == "missed"
    assert rig.legs() == [("agent", "connected"), ("customer", "hold")]


async def test_configure_answer_seconds(rig: Rig) -> None:
    rig.simulate("Configure", SimConfigure(answer_seconds=7))
    await rig.do(Dial(PHONE, topic="OutboundCall"))
    rig.clock.advance(6.9)
    assert rig.customer().status == "connecting"
    rig.clock.advance(0.1)
    assert rig.customer().status == "connected"
    with pytest.raises(SimulatorError, match="negative"):
        rig.simulate("Configure", SimConfigure(ring_seconds=-1))


async def test_fail_next_fails_once_and_changes_nothing(rig: Rig) -> None:
    rig.incoming()
    contact = rig.contact()
    rig.simulate("FailNext", SimFailNext(subtopic="Answer", error="AccessDeniedException: no"))
    await rig.refused(Accept(contact.contact_id), "^AccessDeniedException: no$")
    await rig.do(Accept(contact.contact_id))
    assert rig.legs() == [("agent", "connected"), ("customer", "connected")]


async def test_fail_next_default_error_and_only_for_the_mapped_actions(rig: Rig) -> None:
    rig.simulate("FailNext", SimFailNext(subtopic="Hold"))
    contact = await rig.answered()  # Accept is not Hold: not failed
    await rig.do(SetMute(True))
    await rig.refused(
        Hold(contact.contact_id, contact.contact_id),
        "^InternalServiceException: simulated failure$",
    )
    await rig.do(Hold(contact.contact_id, contact.contact_id))
    assert rig.customer().status == "hold"


@pytest.mark.parametrize(
    ("subtopic", "action"),
    [
        ("QueueTransfer", AddParty("c", PHONE)),
        ("QueueTransfer", Transfer("c")),
        ("MakeCall", AcceptPreview("c")),
        ("MakeCall", Dial(PHONE, topic="OutboundCall")),
        ("Unmute", SetMute(False)),
        ("SetNotReady", SetState(NOT_READY)),
        ("Logout", Logout()),
        ("Skip", SkipPreview("c")),
        ("ConsultDrop", Hangup("c", "c")),
        ("NumberPad", SendDigits("c", "c", "1")),
    ],
)
async def test_fail_next_subtopic_table(rig: Rig, subtopic: str, action: Action) -> None:
    rig.simulate("FailNext", SimFailNext(subtopic=subtopic, error="Boom"))
    await rig.refused(action, "^Boom$")


async def test_fail_next_unknown_subtopic(rig: Rig) -> None:
    with pytest.raises(SimulatorError, match="Bogus"):
        rig.simulate("FailNext", SimFailNext(subtopic="Bogus"))


async def test_simulate_unknown_subtopic_and_wrong_data(rig: Rig) -> None:
    with pytest.raises(SimulatorError, match="unknown simulator subtopic"):
        rig.simulate("Explode", NoData())
    with pytest.raises(SimulatorError, match="invalid data"):
        rig.simulate("IncomingCall", NoData())
    with pytest.raises(SimulatorError, match="unknown queue"):
        rig.incoming(queue="Nope")
    assert rig.snap().contacts == ()
    with pytest.raises(SimulatorError) as caught:
        rig.simulate("ThirdPartyAnswer", SimContactRef())
    assert caught.value.code == "no live contact"


async def test_reset_restores_the_initial_agent(rig: Rig) -> None:
    await rig.do(SetState(NOT_READY))
    rig.incoming()  # waits: not routable
    await rig.do(SetState(AVAILABLE))
    await rig.do(SetMute(True))
    await rig.do(SetState(BREAK))  # enqueued: the agent is on a contact
    rig.incoming(number="+15550000009")  # waits: busy
    rig.simulate("Configure", SimConfigure(answer_seconds=0, ring_seconds=0))
    rig.simulate("FailNext", SimFailNext(subtopic="Answer"))
    rig.clock.advance(5)
    rig.take()
    rig.simulate("Reset", NoData())
    [(_, snap)] = rig.take()
    assert snap == AgentSnapshot(
        info=snap.info, logged_in=True, state=AVAILABLE, state_since=rig.clock.now_ms()
    )
    assert rig.clock.pending == 0
    assert rig.sim.status()["queued_calls"] == 0
    rig.incoming()  # default ring time again, no armed failure
    await rig.do(Accept(rig.contact().contact_id))
    await rig.do(Dial(PHONE, topic="OutboundCall"), A2)
    rig.clock.advance(3)  # answer time of agent2 untouched
    assert rig.legs(A2) == [("agent", "connected"), ("customer", "connected")]
    rig.simulate("Reset", None)  # data may be left out


async def test_reset_of_a_consulting_agent_ends_the_consulted_agents_call(rig: Rig) -> None:
    await rig.consulting(Endpoint(kind="agent", value=A2))
    rig.take()
    rig.simulate("Reset", NoData())
    assert [login for login, _ in rig.take()] == [A1, A2]
    assert rig.contact(A2).state == "missed"
    assert rig.snap().contacts == ()


# --- conventions ----------------------------------------------------------------------------------


async def _script(sim: SimBackend) -> list[AgentSnapshot]:
    sim.simulate(A1, "IncomingCall", SimIncomingCall(phone_number=CUSTOMER))
    contact_id = sim.snapshot(A1).contacts[0].contact_id
    await sim.execute(A1, Accept(contact_id))
    await sim.execute(A1, AddParty(contact_id, Endpoint(kind="agent", value=A2)))
    sim.simulate(A3, "PreviewCall", SimPreviewCall(phone_number=PHONE.value))
    return [sim.snapshot(A1), sim.snapshot(A2), sim.snapshot(A3)]


async def test_ids_are_deterministic_with_a_seed() -> None:
    one = await _script(SimBackend(ManualClock(), seed=42))
    two = await _script(SimBackend(ManualClock(), seed=42))
    other = await _script(SimBackend(ManualClock(), seed=43))
    assert one == two
    assert one[0].contacts[0].contact_id != other[0].contacts[0].contact_id
    ids = [leg.connection_id for snap in one for c in snap.contacts for leg in c.connections]
    assert all(uuid.UUID(i).version == 4 for i in ids)


async def test_every_report_is_a_new_immutable_value(rig: Rig) -> None:
    contact = await rig.answered()
    await rig.do(Hold(contact.contact_id, contact.contact_id))
    await rig.do(Resume(contact.contact_id, contact.contact_id))
    snaps = [snap for _, snap in rig.take()]
    assert len(snaps) == 4  # ringing, answered, held, resumed
    assert len({id(s) for s in snaps}) == 4
    assert snaps[1] != snaps[3]  # the customer leg remembers it was on hold
    with pytest.raises(AttributeError):
        snaps[0].muted = True  # type: ignore[misc]


async def test_stop_cancels_every_timer(rig: Rig) -> None:
    rig.incoming()
    await rig.do(Dial(PHONE, topic="OutboundCall"), A2)
    assert rig.clock.pending == 2
    await rig.sim.stop()
    assert rig.clock.pending == 0
    rig.clock.advance(60)
    assert rig.contact().state == "live"


async def test_hanging_up_the_customer_during_an_agent_consult_ends_both_calls(rig: Rig) -> None:
    contact = await rig.consulting(Endpoint(kind="agent", value=A2))
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    rig.take()
    await rig.do(Hangup(contact.contact_id, contact.contact_id))
    assert [login for login, _ in rig.take()] == [A1, A2]
    assert rig.contact(A1).state == "acw"
    assert rig.contact(A2).state == "acw"


async def test_transfer_after_the_customer_left_ends_the_consulted_agents_call(rig: Rig) -> None:
    contact = await rig.consulting(Endpoint(kind="agent", value=A2))
    await rig.do(Accept(rig.contact(A2).contact_id), A2)
    rig.simulate("CustomerHangup", SimContactRef())
    assert rig.legs() == [("agent", "connected"), ("third_party", "connected")]
    assert rig.contact(A2).state == "live"  # still talking to agent1
    await rig.do(Transfer(contact.contact_id))
    assert rig.contact(A1).state == "acw"
    assert rig.contact(A2).state == "acw"  # nobody left to hand over


# --- random walks: whatever happens, the simulator stays coherent -------------------------------

_WALKERS = (A1, A2, A3)
_ENDPOINTS = (
    PHONE,
    Endpoint(kind="quick_connect", value="Billing"),
    Endpoint(kind="queue", value="Support"),
    Endpoint(kind="agent", value=A1),
    Endpoint(kind="agent", value=A2),
    Endpoint(kind="agent", value=A3),
)


def _random_action(rnd: random.Random, snap: AgentSnapshot) -> Action:
    contact = snap.voice_contact if rnd.random() < 0.95 else None
    cid = contact.contact_id if contact is not None else "bogus"
    legs = contact.connections if contact is not None else ()
    leg = rnd.choice(legs).connection_id if legs and rnd.random() < 0.95 else "bogus"
    choices: list[Action] = [
        Accept(cid),
        Reject(cid),
        Hold(cid, leg),
        Resume(cid, leg),
        Hangup(cid, leg),
        Clear(cid),
        AddParty(cid, rnd.choice(_ENDPOINTS)),
        Swap(cid),
        Conference(cid),
        Transfer(cid, rnd.choice((None, *_ENDPOINTS))),
        SendDigits(cid, leg, "1#"),
        SetState(rnd.choice((AVAILABLE, AVAILABLE, NOT_READY, OFFLINE))),
        SetMute(rnd.random() < 0.5),
        Dial(PHONE, topic=rnd.choice(("InboundCall", "OutboundCall"))),
        AcceptPreview(cid),
        SkipPreview(cid),
    ]
    if contact is not None and rnd.random() < 0.7:
        # mostly moves that fit the call's situation, so walks get deep into consults
        agent_leg = contact.agent_leg
        if contact.ended:
            return Clear(cid)
        if agent_leg is not None and agent_leg.status == "connecting":
            return rnd.choice(choices[:2] + choices[-2:])
        return rnd.choice(choices[2:5] + choices[6:11])
    if not snap.logged_in:
        return Login()
    if rnd.random() < 0.05:
        return Logout()
    return rnd.choice(choices)


def _random_simulation(rnd: random.Random) -> tuple[str, object]:
    if rnd.random() < 0.03:
        return "Reset", NoData()
    if rnd.random() < 0.05:
        return "FailNext", SimFailNext(subtopic=rnd.choice(("Answer", "Hold", "MakeCall")))
    return rnd.choice(
        [
            ("IncomingCall", SimIncomingCall(CUSTOMER, ring_seconds=rnd.choice((None, 4)))),
            ("CustomerHangup", SimContactRef()),
            ("ThirdPartyAnswer", SimContactRef()),
            ("ThirdPartyHangup", SimContactRef()),
            ("OutboundResult", SimOutboundResult(result=rnd.choice(("answer", "busy")))),
            ("Configure", SimConfigure(answer_seconds=rnd.choice((0, 2)), ring_seconds=6)),
            ("PreviewCall", SimPreviewCall(phone_number=PHONE.value)),
        ]
    )


def _check_coherent(rig: Rig) -> None:
    order = {"agent": 0, "customer": 1, "third_party": 2}
    for login in _WALKERS:
        snap = rig.snap(login)
        if not snap.logged_in:
            assert snap.state == OFFLINE and snap.contacts == ()
        assert len({c.contact_id for c in snap.contacts}) == len(snap.contacts)
        for contact in snap.contacts:
            roles = [leg.role for leg in contact.connections]
            assert roles == sorted(roles, key=order.__getitem__)
            assert roles.count("agent") == 1 and roles.count("third_party") <= 1
            assert roles.count("customer") <= 1
            for leg in contact.connections:
                assert leg.since <= rig.clock.now_ms()
                assert (leg.previous_status is None) or leg.previous_status != leg.status
                if leg.role == "customer":
                    assert leg.connection_id == contact.contact_id
                    want = "inbound" if contact.kind in ("inbound", "transfer") else "outbound"
                    assert leg.type == want
            if contact.ended:
                assert "third_party" not in roles
                assert all(leg.status == "disconnected" for leg in contact.connections)
            else:
                assert all(leg.status != "disconnected" for leg in contact.connections)
            third = contact.third_party_leg
            if third is not None and third.phone_number in _WALKERS:
                # a consulted agent is on the line as long as the consulting agent sees it
                assert any(
                    c.kind == "transfer" and c.state == "live"
                    for c in rig.snap(third.phone_number).contacts
                )
        reported = [s for who, s in rig.events if who == login]
        if reported:
            assert reported[-1] is snap  # the sink always got the latest value
    assert rig.clock.pending == rig.sim.status()["timers"]


@pytest.mark.parametrize("seed", range(25))
async def test_random_walk_stays_coherent_and_refusals_change_nothing(seed: int) -> None:
    rnd = random.Random(seed)
    clock = ManualClock()
    sim = SimBackend(clock, seed=seed, agents=3)
    rig = Rig(sim, clock)
    await sim.start(rig.sink)
    for _ in range(300):
        if rnd.random() < 0.1:
            clock.advance(rnd.choice((1, 3, 7)))
        # try a few random moves until one is carried out; every refusal must change nothing
        for _ in range(10):
            login = rnd.choice(_WALKERS)
            before = {name: sim.snapshot(name) for name in _WALKERS}
            reports = len(rig.events)
            try:
                if rnd.random() < 0.75:
                    await sim.execute(login, _random_action(rnd, sim.snapshot(login)))
                else:
                    sim.simulate(login, *_random_simulation(rnd))
                break
            except (BackendError, SimulatorError):
                assert {name: sim.snapshot(name) for name in _WALKERS} == before
                assert len(rig.events) == reports
        _check_coherent(rig)
    await sim.stop()
    assert clock.pending == 0


def test_every_action_has_one_verb_in_the_simulator() -> None:
    # the verbs are a table keyed by action type: an action added without a verb fails here,
    # not as a KeyError in a running hub
    from typing import get_args

    from ctibridge.actions import Action

    assert set(SimBackend(ManualClock())._verbs) == set(get_args(Action))
