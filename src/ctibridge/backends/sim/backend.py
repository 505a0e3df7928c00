"""The simulated Amazon Connect instance: agents, their contacts, customers and third parties.

See the package docstring for the snapshot conventions.  Internally each agent's truth is one
frozen :class:`AgentSnapshot`; every handler first checks everything it needs (raising
``BackendError`` / ``SimulatorError`` with nothing changed), then computes the new snapshots of
every agent it touches and hands them to :meth:`SimBackend._commit` in one go.  ``_commit``
stores them, reports each to the sink once, re-derives the agent's timers from its snapshot
(a connecting leg that should ring out or be answered has exactly one timer) and offers queued
calls to agents that became free.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from msgspec.structs import replace

from ...actions import (
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
from ...clock import Clock, Timer
from ...model import (
    AgentInfo,
    AgentSnapshot,
    AgentState,
    Connection,
    Contact,
    ContactFailure,
    ContactKind,
    ContactState,
    Directory,
)
from ...protocol.requests import (
    NoData,
    OutboundResultKind,
    SimConfigure,
    SimContactRef,
    SimFailNext,
    SimIncomingCall,
    SimOutboundResult,
    SimPreviewCall,
)
from ..base import SnapshotSink
from . import calls, catalog

_Changes = dict[str, AgentSnapshot]
_TimerPurpose = Literal["ring", "answer"]
_Outcome = OutboundResultKind | Literal["hangup"]

_DTMF_CHARACTERS = frozenset("0123456789*#,ABCDabcd")
# Simulator/OutboundResult outcome of a dialled customer -> why the contact ended in error
_FAILURE: dict[str, ContactFailure] = {"busy": "busy", "noAnswer": "no_answer", "failed": "failed"}


class SimulatorError(Exception):
    """A ``Simulator`` request that cannot be carried out; ``code`` says why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class _QueuedCall:
    """A customer call waiting for one agent to become free and routable."""

    contact_id: str
    phone_number: str
    dnis: str
    queue: str
    attributes: tuple[tuple[str, str], ...]
    ring_seconds: float | None
    queue_since: int


@dataclass(frozen=True)
class _Consult:
    """Agent-to-agent consult: third-party leg ``leg_id`` of ``login``'s ``contact_id`` is
    agent ``target_login``, ringing/talking on its own ``target_contact_id`` (kind transfer)."""

    login: str
    contact_id: str
    leg_id: str
    target_login: str
    target_contact_id: str


@dataclass
class _Agent:
    info: AgentInfo
    snap: AgentSnapshot
    answer_seconds: float = catalog.DEFAULT_ANSWER_SECONDS
    ring_seconds: float = catalog.DEFAULT_RING_SECONDS
    queued: deque[_QueuedCall] = field(default_factory=deque)
    failures: list[tuple[tuple[type[Action], ...], str]] = field(default_factory=list)
    state_before_logout: AgentState | None = None
    ring_overrides: dict[str, float] = field(default_factory=dict)  # contact id -> seconds

    @property
    def login(self) -> str:
        return self.info.login

    @property
    def free_and_routable(self) -> bool:
        snap = self.snap
        return snap.logged_in and snap.state.type == "routable" and not snap.contacts


class SimBackend:
    """The embedded Amazon Connect simulator (implements ``ctibridge.backends.base.Backend``)."""

    name = "sim"

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int | None = None,
        agents: int = 5,
        start_available: bool = True,
    ) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self._start_available = start_available
        self._logins = catalog.agent_logins(agents)
        now = clock.now_ms()
        self._agents: dict[str, _Agent] = {
            login: _Agent(info=(info := catalog.agent_info(login)), snap=self._initial(info, now))
            for login in self._logins
        }
        self._sink: SnapshotSink | None = None
        self._stopped = False
        # (login, connection id) -> (token, timer); the token tells a stale callback apart
        self._timers: dict[tuple[str, str], tuple[object, Timer]] = {}
        self._consults: dict[str, _Consult] = {}  # by the consulting agent's third-party leg id
        self.dtmf: dict[str, list[str]] = {}
        """Digits sent, per contact id, one entry per ``SendDigits`` in order (DTMF recorded)."""
        self._simulations = self._simulation_table()

    # --- Backend interface ----------------------------------------------------------------------

    async def start(self, sink: SnapshotSink) -> None:
        self._sink = sink
        self._stopped = False
        for agent in self._agents.values():
            self._sync_timers(agent)

    async def stop(self) -> None:
        self._stopped = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def logins(self) -> Sequence[str]:
        return self._logins

    def snapshot(self, login: str) -> AgentSnapshot:
        return self._agents[login].snap

    def directory(self, login: str) -> Directory:
        if login not in self._agents:
            raise KeyError(login)
        return catalog.directory_for(login, self._logins)

    def restore(self, login: str, snapshot: AgentSnapshot) -> None:
        """Take an agent's world over from another node (cluster failover): the snapshot the
        previous owner journaled, calls in progress included; its timers restart from it."""
        agent = self._agents[login]
        agent.snap = snapshot
        self._sync_timers(agent)

    async def execute(self, login: str, action: Action) -> None:
        agent = self._agents[login]
        for i, (actions, error) in enumerate(agent.failures):
            if isinstance(action, actions):
                del agent.failures[i]
                raise BackendError(error)
        match action:
            case Accept():
                self._accept(agent, action)
            case Reject():
                self._reject(agent, action)
            case Hold():
                self._hold(agent, action)
            case Resume():
                self._resume(agent, action)
            case Hangup():
                self._hangup(agent, action)
            case Clear():
                self._clear(agent, action)
            case AddParty():
                self._add_party(agent, action)
            case Swap():
                self._swap(agent, action)
            case Conference():
                self._conference(agent, action)
            case Transfer():
                self._transfer(agent, action)
            case SendDigits():
                self._send_digits(agent, action)
            case SetState():
                self._set_state(agent, action)
            case SetMute():
                self._commit({login: replace(agent.snap, muted=action.muted)})
            case Login():
                self._login(agent)
            case Logout():
                self._logout(agent)
            case Dial():
                self._dial(agent, action)
            case AcceptPreview():
                self._accept_preview(agent, action)
            case SkipPreview():
                self._skip_preview(agent, action)

    def simulate(self, login: str, subtopic: str, data: object) -> None:
        """Carry out one ``Simulator`` request for ``login`` (docs/protocol.md §7)."""
        agent = self._agents[login]
        entry = self._simulations.get(subtopic)
        if entry is None:
            raise SimulatorError(f"unknown simulator subtopic {subtopic}")
        data_type, handler = entry
        if data is None and data_type is NoData:
            data = NoData()
        if not isinstance(data, data_type):
            raise SimulatorError(f"invalid data for {subtopic}")
        handler(agent, data)

    def status(self) -> dict[str, object]:
        snaps = [a.snap for a in self._agents.values()]
        return {
            "backend": self.name,
            "running": self._sink is not None and not self._stopped,
            "agents": len(snaps),
            "logged_in": sum(1 for s in snaps if s.logged_in),
            "contacts": sum(len(s.contacts) for s in snaps),
            "queued_calls": sum(len(a.queued) for a in self._agents.values()),
            "timers": len(self._timers),
        }

    # --- plumbing -------------------------------------------------------------------------------

    def _initial(self, info: AgentInfo, now: int) -> AgentSnapshot:
        state = catalog.AVAILABLE if self._start_available else catalog.OFFLINE
        return AgentSnapshot(info=info, logged_in=True, state=state, state_since=now)

    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _now(self) -> int:
        return self._clock.now_ms()

    def _commit(self, changes: _Changes) -> None:
        """Store and report new snapshots (in ``changes`` order), then route queued calls."""
        for login, snap in changes.items():
            self._agents[login].snap = snap
        self._prune_consults()
        for login, snap in changes.items():
            self._sync_timers(self._agents[login])
            if self._sink is not None:
                self._sink(login, snap)
        for login in changes:
            self._route_queued(self._agents[login])

    def _contact(self, agent: _Agent, contact_id: str) -> Contact:
        contact = agent.snap.contact(contact_id)
        if contact is None:
            raise BackendError(f"ResourceNotFoundException: contact {contact_id} not found")
        return contact

    def _live_contact(self, agent: _Agent, contact_id: str) -> Contact:
        contact = self._contact(agent, contact_id)
        if contact.state != "live":
            raise BackendError("InvalidStateException: contact is not active")
        return contact

    def _answered_contact(self, agent: _Agent, contact_id: str) -> Contact:
        """A live contact the agent is connected to (not ringing, not dialling)."""
        contact = self._live_contact(agent, contact_id)
        leg = contact.agent_leg
        if leg is None or leg.status != "connected":
            raise BackendError("InvalidStateException: the agent is not connected to the contact")
        return contact

    @staticmethod
    def _leg(contact: Contact, connection_id: str) -> Connection:
        leg = contact.connection(connection_id)
        if leg is None or leg.status == "disconnected":
            raise BackendError(f"ResourceNotFoundException: connection {connection_id} not found")
        return leg

    def _check_endpoint(self, agent: _Agent, endpoint: Endpoint) -> _Agent | None:
        """Validate a consult/transfer target; the target agent for an agent endpoint."""
        match endpoint.kind:
            case "phone":
                if not endpoint.value:
                    raise BackendError("InvalidParameterException: empty phone number")
            case "quick_connect":
                if endpoint.value not in catalog.QUICK_CONNECTS:
                    raise BackendError(
                        f"ResourceNotFoundException: quick connect {endpoint.value} not found"
                    )
            case "queue":
                if endpoint.value not in catalog.QUEUES:
                    raise BackendError(
                        f"ResourceNotFoundException: queue {endpoint.value} not found"
                    )
            case "agent":
                target = self._agents.get(endpoint.value)
                if target is None:
                    raise BackendError(
                        f"ResourceNotFoundException: agent {endpoint.value} not found"
                    )
                if target is agent or not target.free_and_routable:
                    raise BackendError(f"agent {endpoint.value} is not available")
                return target
        return None

    def _offer(
        self,
        target: _Agent,
        *,
        kind: ContactKind,
        contact_id: str,
        customer_number: str,
        queue: str | None,
        queue_since: int | None,
        dnis: str | None,
        attributes: tuple[tuple[str, str], ...],
    ) -> AgentSnapshot:
        """``target``'s snapshot with a call ringing to it; the customer is already connected."""
        now = self._now()
        contact = Contact(
            contact_id=contact_id,
            kind=kind,
            topic="InboundCall",
            state="live",
            since=now,
            connections=(
                calls.agent_leg(self._new_id(), now),
                calls.customer_leg(contact_id, "inbound", "connected", customer_number, now),
            ),
            queue=queue,
            queue_since=queue_since,
            ani=customer_number,
            dnis=dnis,
            attributes=attributes,
        )
        return calls.put_contact(target.snap, contact)

    def _route_queued(self, agent: _Agent) -> None:
        """Deliver the oldest waiting call when the agent is logged in, routable and free."""
        if not agent.queued or not agent.free_and_routable:
            return
        call = agent.queued.popleft()
        if call.ring_seconds is not None:
            agent.ring_overrides[call.contact_id] = call.ring_seconds
        snap = self._offer(
            agent,
            kind="inbound",
            contact_id=call.contact_id,
            customer_number=call.phone_number,
            queue=call.queue,
            queue_since=call.queue_since,
            dnis=call.dnis,
            attributes=call.attributes,
        )
        self._commit({agent.login: snap})

    # --- agent-to-agent consults -------------------------------------------------------------

    def _consult_from(self, login: str, contact_id: str, leg_id: str) -> _Consult | None:
        """The live consult behind a third-party leg, if that leg is another agent."""
        link = self._consults.get(leg_id)
        if link is None or link.login != login or link.contact_id != contact_id:
            return None
        return link if self._consult_alive(link) else None

    def _consult_to(self, login: str, contact_id: str) -> _Consult | None:
        """The live consult that ``login``'s ``contact_id`` is the target of."""
        for link in self._consults.values():
            if (
                link.target_login == login
                and link.target_contact_id == contact_id
                and self._consult_alive(link)
            ):
                return link
        return None

    def _consult_alive(self, link: _Consult) -> bool:
        source = self._agents[link.login].snap.contact(link.contact_id)
        target = self._agents[link.target_login].snap.contact(link.target_contact_id)
        return (
            source is not None
            and source.state == "live"
            and source.connection(link.leg_id) is not None
            and target is not None
            and target.state == "live"
        )

    def _prune_consults(self) -> None:
        for leg_id, link in list(self._consults.items()):
            if not self._consult_alive(link):
                del self._consults[leg_id]

    @staticmethod
    def _latest(agent: _Agent, changes: _Changes) -> AgentSnapshot:
        """The agent's snapshot as this change leaves it so far."""
        return changes.get(agent.login, agent.snap)

    def _end(
        self,
        agent: _Agent,
        contact: Contact,
        state: ContactState,
        now: int,
        changes: _Changes,
        *,
        customer_stays: bool = False,
        failure: ContactFailure | None = None,
    ) -> None:
        """``contact`` ends for ``agent`` (legs disconnected, third parties gone), with what
        that means for agents linked to it by a consult (see :meth:`_ended`)."""
        ended = calls.end(contact, state, now, failure)
        # mute ends with the call: the next call starts unmuted, as in the CCP
        latest = replace(self._latest(agent, changes), muted=False)
        changes[agent.login] = calls.put_contact(latest, ended)
        self._ended(agent, contact, now, changes, customer_stays=customer_stays)

    def _ended(
        self, agent: _Agent, contact: Contact, now: int, changes: _Changes, *, customer_stays: bool
    ) -> None:
        """Effects on other agents of ``contact`` (as it was) having ended for ``agent``.

        A consulted agent keeps the call when the consulting agent leaves while the customer is
        still there (that is how a warm transfer completes); otherwise its call ends.  When the
        ended contact is itself a consult target, the consulting agent's leg to it drops.
        Every step checks the latest snapshots, so a chain of consults settles exactly once.
        """
        for leg in contact.connections:
            if leg.role != "third_party":
                continue
            link = self._consult_from(agent.login, contact.contact_id, leg.connection_id)
            if link is not None and not (customer_stays and contact.customer_leg is not None):
                self._end_target(link, now, changes)
        link = self._consult_to(agent.login, contact.contact_id)
        if link is not None:
            source = self._agents[link.login]
            current = self._latest(source, changes).contact(link.contact_id)
            if current is not None and current.connection(link.leg_id) is not None:
                self._third_party_gone(source, current, link.leg_id, now, changes)

    def _end_target(self, link: _Consult, now: int, changes: _Changes) -> None:
        """The consulted agent's call ends: missed if still ringing, else ACW."""
        target = self._agents[link.target_login]
        contact = self._latest(target, changes).contact(link.target_contact_id)
        if contact is None or contact.ended:
            return
        state: ContactState = "missed" if calls.is_ringing(contact) else "acw"
        self._end(target, contact, state, now, changes)

    def _third_party_gone(
        self, agent: _Agent, contact: Contact, leg_id: str, now: int, changes: _Changes
    ) -> None:
        """A third party leaves ``contact``: a consulted agent's call ends with it; with no
        customer left either, the call is over."""
        link = self._consult_from(agent.login, contact.contact_id, leg_id)
        new = calls.drop_third_party(contact, leg_id, now)
        latest = self._latest(agent, changes)
        if new.ended:  # mute ends with the call
            latest = replace(latest, muted=False)
        changes[agent.login] = calls.put_contact(latest, new)
        if link is not None:
            self._end_target(link, now, changes)
        if new.ended:
            self._ended(agent, contact, now, changes, customer_stays=False)

    # --- timers ---------------------------------------------------------------------------------

    def _timer_purpose(
        self, agent: _Agent, contact: Contact, leg: Connection
    ) -> tuple[_TimerPurpose, float] | None:
        """Which timer a leg needs, and after how long: offered calls ring out, dialled parties
        answer.  A leg that is another agent is answered by that agent, not by a timer."""
        if contact.state != "live" or leg.status != "connecting":
            return None
        if leg.role == "agent" and contact.kind in ("inbound", "transfer"):
            return "ring", agent.ring_overrides.get(contact.contact_id, agent.ring_seconds)
        if leg.role == "customer" and contact.kind in ("outbound", "preview"):
            return "answer", agent.answer_seconds
        if (
            leg.role == "third_party"
            and self._consult_from(agent.login, contact.contact_id, leg.connection_id) is None
        ):
            return "answer", agent.answer_seconds
        return None

    def _sync_timers(self, agent: _Agent) -> None:
        """Make the agent's timers match its snapshot.

        A timer runs for as long as its leg is connecting; ``Configure`` applies to timers
        started afterwards; 0 seconds means never.
        """
        login = agent.login
        wanted: dict[str, float] = {}
        for contact in agent.snap.contacts:
            for leg in contact.connections:
                purpose = self._timer_purpose(agent, contact, leg)
                if purpose is not None:
                    wanted[leg.connection_id] = purpose[1]
        for key in [k for k in self._timers if k[0] == login and k[1] not in wanted]:
            self._timers.pop(key)[1].cancel()
        if not self._stopped:
            for leg_id, seconds in wanted.items():
                if seconds > 0 and (login, leg_id) not in self._timers:
                    self._arm(login, leg_id, seconds)
        live_ids = {c.contact_id for c in agent.snap.contacts}
        for contact_id in [c for c in agent.ring_overrides if c not in live_ids]:
            del agent.ring_overrides[contact_id]

    def _arm(self, login: str, leg_id: str, seconds: float) -> None:
        key = (login, leg_id)
        token = object()

        def fire() -> None:
            entry = self._timers.get(key)
            if entry is None or entry[0] is not token:
                return
            del self._timers[key]
            self._on_timer(self._agents[login], leg_id)

        self._timers[key] = (token, self._clock.call_later(seconds, fire))

    def _on_timer(self, agent: _Agent, leg_id: str) -> None:
        for contact in agent.snap.contacts:
            leg = contact.connection(leg_id)
            if leg is not None:
                break
        else:
            return
        purpose = self._timer_purpose(agent, contact, leg)
        if purpose is None:
            return
        if purpose[0] == "ring":
            self._end_offer(agent, contact, "missed")
        elif leg.role == "customer":
            self._customer_outcome(agent, contact, "answer")
        else:
            self._third_party_outcome(agent, contact, leg, "answer")

    # --- call control -------------------------------------------------------------------------

    def _accept(self, agent: _Agent, action: Accept) -> None:
        contact = self._contact(agent, action.contact_id)
        if not calls.is_ringing(contact):
            raise BackendError("InvalidStateException: contact is not ringing")
        now = self._now()
        changes = {
            agent.login: calls.put_contact(
                agent.snap, calls.set_roles(contact, ["agent"], "connected", now)
            )
        }
        link = self._consult_to(agent.login, contact.contact_id)
        if link is not None:
            source = self._agents[link.login]
            consult = source.snap.contact(link.contact_id)
            assert consult is not None  # the link is alive
            new = calls.set_leg(consult, link.leg_id, "connected", now)
            changes[link.login] = calls.put_contact(source.snap, new)
        self._commit(changes)

    def _reject(self, agent: _Agent, action: Reject) -> None:
        contact = self._contact(agent, action.contact_id)
        if not calls.is_ringing(contact):
            raise BackendError("InvalidStateException: contact is not ringing")
        self._end_offer(agent, contact, "rejected")

    def _end_offer(
        self, agent: _Agent, contact: Contact, state: Literal["missed", "rejected"]
    ) -> None:
        now = self._now()
        changes: _Changes = {}
        self._end(agent, contact, state, now, changes)
        self._commit(changes)

    def _hold(self, agent: _Agent, action: Hold) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        leg = self._leg(contact, action.connection_id)
        if leg.role == "agent":
            raise BackendError("InvalidParameterException: the agent connection cannot be held")
        if leg.status != "connected":
            raise BackendError("InvalidStateException: connection is not connected")
        new = calls.set_leg(contact, leg.connection_id, "hold", self._now())
        self._commit({agent.login: calls.put_contact(agent.snap, new)})

    def _resume(self, agent: _Agent, action: Resume) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        leg = self._leg(contact, action.connection_id)
        if leg.status != "hold":
            raise BackendError("InvalidStateException: connection is not on hold")
        new = calls.set_leg(contact, leg.connection_id, "connected", self._now())
        self._commit({agent.login: calls.put_contact(agent.snap, new)})

    def _hangup(self, agent: _Agent, action: Hangup) -> None:
        contact = self._live_contact(agent, action.contact_id)
        leg = self._leg(contact, action.connection_id)
        now = self._now()
        changes: _Changes = {}
        if leg.role == "third_party":
            self._third_party_gone(agent, contact, leg.connection_id, now, changes)
        else:
            # hanging up a call that still rings is refusing it; when the agent leaves (rather
            # than hanging up on the customer) a consulted agent keeps the customer
            state: ContactState = "rejected" if calls.is_ringing(contact) else "acw"
            self._end(agent, contact, state, now, changes, customer_stays=leg.role == "agent")
        self._commit(changes)

    def _clear(self, agent: _Agent, action: Clear) -> None:
        contact = self._contact(agent, action.contact_id)
        if not contact.ended:
            raise BackendError("contact is not in a clearable state")
        snap = calls.remove_contact(agent.snap, contact.contact_id)
        if snap.next_state is not None:
            snap = replace(snap, state=snap.next_state, next_state=None, state_since=self._now())
        elif not snap.contacts:
            # back to the state held before the call: entered again now (§3.3)
            snap = replace(snap, state_since=self._now())
        self._commit({agent.login: snap})

    def _add_party(self, agent: _Agent, action: AddParty) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        customer = contact.customer_leg
        if customer is None or customer.status not in ("connected", "hold"):
            raise BackendError("InvalidStateException: the customer is not on the call")
        if contact.third_party_leg is not None:
            raise BackendError("InvalidStateException: a third party is already on the call")
        target = self._check_endpoint(agent, action.endpoint)
        now = self._now()
        leg = Connection(
            self._new_id(),
            role="third_party",
            type="outbound",
            status="connecting",
            since=now,
            phone_number=action.endpoint.value,
        )
        new = calls.set_leg(contact, customer.connection_id, "hold", now)
        new = calls.with_legs(new, (*new.connections, leg))
        changes = {agent.login: calls.put_contact(agent.snap, new)}
        if target is not None:
            target_contact_id = self._new_id()
            changes[target.login] = self._offer(
                target,
                kind="transfer",
                contact_id=target_contact_id,
                customer_number=customer.phone_number or contact.ani or "",
                queue=contact.queue,
                queue_since=now,
                dnis=contact.dnis,
                attributes=contact.attributes,
            )
            self._consults[leg.connection_id] = _Consult(
                agent.login, contact.contact_id, leg.connection_id, target.login, target_contact_id
            )
        self._commit(changes)

    def _swap(self, agent: _Agent, action: Swap) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        customer, third = contact.customer_leg, contact.third_party_leg
        if customer is None or third is None:
            raise BackendError("InvalidStateException: swap needs a customer and a third party")
        statuses = {customer.status, third.status}
        if statuses != {"connected", "hold"}:
            raise BackendError(
                "InvalidStateException: swap needs one party connected and the other on hold"
            )
        now = self._now()
        new = contact
        for leg in (customer, third):
            new = calls.set_leg(
                new, leg.connection_id, "hold" if leg.status == "connected" else "connected", now
            )
        self._commit({agent.login: calls.put_contact(agent.snap, new)})

    def _conference(self, agent: _Agent, action: Conference) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        customer, third = contact.customer_leg, contact.third_party_leg
        if customer is None or third is None:
            raise BackendError(
                "InvalidStateException: conference needs a customer and a third party"
            )
        if third.status == "connecting":
            raise BackendError("InvalidStateException: the third party has not answered")
        new = calls.set_roles(
            contact, ["agent", "customer", "third_party"], "connected", self._now()
        )
        self._commit({agent.login: calls.put_contact(agent.snap, new)})

    def _transfer(self, agent: _Agent, action: Transfer) -> None:
        contact = self._answered_contact(agent, action.contact_id)
        now = self._now()
        if action.endpoint is None:
            # warm: the agent leaves; the customer stays with the third party
            if contact.third_party_leg is None:
                raise BackendError("InvalidStateException: no third party to transfer to")
            changes: _Changes = {}
            self._end(agent, contact, "acw", now, changes, customer_stays=True)
            self._commit(changes)
            return
        customer = contact.customer_leg
        if customer is None or customer.status not in ("connected", "hold"):
            raise BackendError("InvalidStateException: the customer is not on the call")
        if contact.third_party_leg is not None:
            raise BackendError("InvalidStateException: a third party is already on the call")
        target = self._check_endpoint(agent, action.endpoint)
        if action.endpoint.kind == "queue":
            target = next(
                (
                    other
                    for other in self._agents.values()
                    if other is not agent
                    and other.free_and_routable
                    and action.endpoint.value in other.info.queues
                ),
                None,
            )
        changes = {}
        self._end(agent, contact, "acw", now, changes)
        if target is not None:
            queue = action.endpoint.value if action.endpoint.kind == "queue" else contact.queue
            changes[target.login] = self._offer(
                target,
                kind="transfer",
                contact_id=self._new_id(),
                customer_number=customer.phone_number or contact.ani or "",
                queue=queue,
                queue_since=now,
                dnis=contact.dnis,
                attributes=contact.attributes,
            )
        self._commit(changes)

    def _send_digits(self, agent: _Agent, action: SendDigits) -> None:
        contact = self._live_contact(agent, action.contact_id)
        leg = self._leg(contact, action.connection_id)
        if leg.status != "connected":
            raise BackendError("InvalidStateException: connection is not connected")
        if not action.digits or not set(action.digits) <= _DTMF_CHARACTERS:
            raise BackendError(f"InvalidParameterException: invalid digits {action.digits!r}")
        self.dtmf.setdefault(contact.contact_id, []).append(action.digits)

    # --- agent ----------------------------------------------------------------------------------

    def _set_state(self, agent: _Agent, action: SetState) -> None:
        if action.state not in catalog.STATES:
            raise BackendError(
                f"ResourceNotFoundException: agent status {action.state.label} not found"
            )
        if not agent.snap.logged_in:
            raise BackendError("InvalidStateException: the agent is logged out")
        if agent.snap.contacts:
            snap = replace(agent.snap, next_state=action.state)  # Connect's enqueueNextState
        else:
            snap = replace(agent.snap, state=action.state, next_state=None, state_since=self._now())
        self._commit({agent.login: snap})

    def _login(self, agent: _Agent) -> None:
        if agent.snap.logged_in:
            return
        state = agent.state_before_logout or catalog.AVAILABLE
        agent.state_before_logout = None
        snap = replace(agent.snap, logged_in=True, state=state, state_since=self._now())
        self._commit({agent.login: snap})

    def _logout(self, agent: _Agent) -> None:
        if not agent.snap.logged_in:
            raise BackendError("InvalidStateException: the agent is already logged out")
        if agent.snap.contacts:
            raise BackendError("InvalidStateException: the agent is on a contact")
        agent.state_before_logout = agent.snap.state
        snap = replace(
            agent.snap,
            logged_in=False,
            state=catalog.OFFLINE,
            next_state=None,
            state_since=self._now(),
        )
        self._commit({agent.login: snap})

    def _dial(self, agent: _Agent, action: Dial) -> None:
        snap = agent.snap
        if not snap.logged_in:  # an Offline agent may dial, as in Amazon Connect
            raise BackendError("InvalidStateException: the agent is logged out")
        if any(c.state == "live" for c in snap.contacts):
            raise BackendError("InvalidStateException: the agent is already on a call")
        if action.endpoint.kind not in ("phone", "quick_connect"):
            raise BackendError(f"InvalidParameterException: cannot dial a {action.endpoint.kind}")
        self._check_endpoint(agent, action.endpoint)
        if action.queue is not None and action.queue not in catalog.QUEUES:
            raise BackendError(f"ResourceNotFoundException: queue {action.queue} not found")
        now = self._now()
        number = action.endpoint.value
        contact_id = self._new_id()
        contact = Contact(
            contact_id=contact_id,
            kind="outbound",
            topic=action.topic,
            state="live",
            since=now,
            connections=(
                calls.agent_leg(self._new_id(), now),
                calls.customer_leg(contact_id, "outbound", "connecting", number, now),
            ),
            queue=action.queue,
            queue_since=now if action.queue is not None else None,
            ani="",  # the agent's outbound caller id: not known to the simulator
            dnis=number,
        )
        self._commit({agent.login: calls.put_contact(snap, contact)})

    def _preview(self, agent: _Agent, contact_id: str) -> Contact:
        contact = self._live_contact(agent, contact_id)
        if contact.kind != "preview" or contact.customer_leg is not None:
            raise BackendError("InvalidStateException: contact is not an offered preview")
        return contact

    def _accept_preview(self, agent: _Agent, action: AcceptPreview) -> None:
        contact = self._preview(agent, action.contact_id)
        now = self._now()
        number = contact.dnis
        customer = calls.customer_leg(contact.contact_id, "outbound", "connecting", number, now)
        new = calls.set_roles(contact, ["agent"], "connecting", now)
        new = calls.with_legs(new, (*new.connections, customer))
        self._commit({agent.login: calls.put_contact(agent.snap, new)})

    def _skip_preview(self, agent: _Agent, action: SkipPreview) -> None:
        contact = self._preview(agent, action.contact_id)
        self._commit({agent.login: calls.remove_contact(agent.snap, contact.contact_id)})

    # --- outcomes shared by timers and the Simulator topic --------------------------------------

    def _customer_outcome(self, agent: _Agent, contact: Contact, result: _Outcome) -> None:
        now = self._now()
        changes: _Changes = {}
        if result == "answer":
            new = calls.set_roles(contact, ["agent", "customer"], "connected", now)
            changes[agent.login] = calls.put_contact(agent.snap, new)
        elif result == "hangup":
            self._end(agent, contact, "acw", now, changes)
        else:  # the agent is left in Connect's error state for the outcome (§3.3)
            self._end(agent, contact, "error", now, changes, failure=_FAILURE[result])
        self._commit(changes)

    def _third_party_outcome(
        self, agent: _Agent, contact: Contact, leg: Connection, result: _Outcome
    ) -> None:
        now = self._now()
        changes: _Changes = {}
        if result != "answer":
            self._third_party_gone(agent, contact, leg.connection_id, now, changes)
            self._commit(changes)
            return
        new = calls.set_leg(contact, leg.connection_id, "connected", now)
        changes[agent.login] = calls.put_contact(agent.snap, new)
        link = self._consult_from(agent.login, contact.contact_id, leg.connection_id)
        if link is not None:  # the consulted agent answers
            target = self._agents[link.target_login]
            offered = target.snap.contact(link.target_contact_id)
            assert offered is not None  # the link is alive
            answered = calls.set_roles(offered, ["agent"], "connected", now)
            changes[target.login] = calls.put_contact(target.snap, answered)
        self._commit(changes)

    # --- Simulator topic ------------------------------------------------------------------------

    def _simulation_table(self) -> dict[str, tuple[type[Any], Callable[[_Agent, Any], None]]]:
        return {
            "IncomingCall": (SimIncomingCall, self._sim_incoming_call),
            "CustomerHangup": (SimContactRef, self._sim_customer_hangup),
            "ThirdPartyAnswer": (SimContactRef, self._sim_third_party_answer),
            "ThirdPartyHangup": (SimContactRef, self._sim_third_party_hangup),
            "OutboundResult": (SimOutboundResult, self._sim_outbound_result),
            "Configure": (SimConfigure, self._sim_configure),
            "FailNext": (SimFailNext, self._sim_fail_next),
            "PreviewCall": (SimPreviewCall, self._sim_preview_call),
            "Reset": (NoData, self._sim_reset),
        }

    def _sim_contact(self, agent: _Agent, contact_id: str | None) -> Contact:
        """The named contact, else the agent's live contact; it must be live."""
        if contact_id is not None:
            contact = agent.snap.contact(contact_id)
            if contact is None:
                raise SimulatorError(f"no contact {contact_id}")
        else:
            contact = next((c for c in agent.snap.contacts if c.state == "live"), None)
            if contact is None:
                raise SimulatorError("no live contact")
        if contact.state != "live":
            raise SimulatorError("the contact has ended")
        return contact

    def _sim_incoming_call(self, agent: _Agent, data: SimIncomingCall) -> None:
        queue = data.queue if data.queue is not None else catalog.DEFAULT_QUEUE
        if queue not in catalog.QUEUES:
            raise SimulatorError(f"unknown queue {queue}")
        if data.ring_seconds is not None and data.ring_seconds < 0:
            raise SimulatorError("ringSeconds must not be negative")
        if not data.phone_number:
            raise SimulatorError("phoneNumber is required")
        agent.queued.append(
            _QueuedCall(
                contact_id=self._new_id(),
                phone_number=data.phone_number,
                dnis=data.dnis if data.dnis is not None else catalog.DEFAULT_DNIS,
                queue=queue,
                attributes=data.attributes,
                ring_seconds=data.ring_seconds,
                queue_since=self._now(),
            )
        )
        self._route_queued(agent)

    def _sim_customer_hangup(self, agent: _Agent, data: SimContactRef) -> None:
        contact = self._sim_contact(agent, data.contact_id)
        customer = contact.customer_leg
        if customer is None or customer.status == "disconnected":
            raise SimulatorError("no customer on the call")
        if calls.is_ringing(contact):
            self._end_offer(agent, contact, "missed")
            return
        now = self._now()
        if contact.third_party_leg is not None:
            # the agent and the third party go on talking
            new = calls.drop_leg(contact, customer.connection_id)
            self._commit({agent.login: calls.put_contact(agent.snap, new)})
            return
        changes: _Changes = {}
        self._end(agent, contact, "acw", now, changes)
        self._commit(changes)

    def _sim_third_party(self, agent: _Agent, data: SimContactRef) -> tuple[Contact, Connection]:
        contact = self._sim_contact(agent, data.contact_id)
        leg = contact.third_party_leg
        if leg is None:
            raise SimulatorError("no third party on the call")
        return contact, leg

    def _sim_third_party_answer(self, agent: _Agent, data: SimContactRef) -> None:
        contact, leg = self._sim_third_party(agent, data)
        if leg.status != "connecting":
            raise SimulatorError("the third party is not ringing")
        self._third_party_outcome(agent, contact, leg, "answer")

    def _sim_third_party_hangup(self, agent: _Agent, data: SimContactRef) -> None:
        contact, leg = self._sim_third_party(agent, data)
        self._third_party_outcome(agent, contact, leg, "hangup")

    def _sim_outbound_result(self, agent: _Agent, data: SimOutboundResult) -> None:
        contact = self._sim_contact(agent, data.contact_id)
        if calls.is_dialling(contact):
            self._customer_outcome(agent, contact, data.result)
            return
        third = contact.third_party_leg
        if third is not None and third.status == "connecting":
            self._third_party_outcome(agent, contact, third, data.result)
            return
        raise SimulatorError("nobody is being dialled on the contact")

    def _sim_configure(self, agent: _Agent, data: SimConfigure) -> None:
        for value in (data.answer_seconds, data.ring_seconds):
            if value is not None and value < 0:
                raise SimulatorError("timings must not be negative")
        if data.answer_seconds is not None:
            agent.answer_seconds = data.answer_seconds
        if data.ring_seconds is not None:
            agent.ring_seconds = data.ring_seconds

    def _sim_fail_next(self, agent: _Agent, data: SimFailNext) -> None:
        actions = catalog.FAILABLE.get(data.subtopic)
        if actions is None:
            raise SimulatorError(f"cannot fail subtopic {data.subtopic}")
        agent.failures.append((actions, data.error or catalog.DEFAULT_FAILURE))

    def _sim_preview_call(self, agent: _Agent, data: SimPreviewCall) -> None:
        snap = agent.snap
        if not snap.logged_in or snap.state.type == "offline":
            raise SimulatorError("the agent is offline")
        if snap.contacts:
            raise SimulatorError("the agent is on a contact")
        if not data.phone_number:
            raise SimulatorError("phoneNumber is required")
        now = self._now()
        contact = Contact(
            contact_id=self._new_id(),
            kind="preview",
            topic="OutboundCall",
            state="live",
            since=now,
            connections=(calls.agent_leg(self._new_id(), now),),
            ani="",
            dnis=data.phone_number,
            campaign=data.campaign or "",
        )
        self._commit({agent.login: calls.put_contact(snap, contact)})

    def _sim_reset(self, agent: _Agent, data: NoData) -> None:
        now = self._now()
        changes: _Changes = {agent.login: self._initial(agent.info, now)}
        for contact in agent.snap.contacts:
            self._ended(agent, contact, now, changes, customer_stays=False)
        agent.answer_seconds = catalog.DEFAULT_ANSWER_SECONDS
        agent.ring_seconds = catalog.DEFAULT_RING_SECONDS
        agent.queued.clear()
        agent.failures.clear()
        agent.state_before_logout = None
        agent.ring_overrides.clear()
        self._commit(changes)
