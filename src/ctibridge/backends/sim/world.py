"""The simulated instance's state and the plumbing every handler uses: the agents, their
queued calls, ids, the clock, and ``_commit`` - check first, then commit every touched agent's
new snapshot in one go (see backend.py)."""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from ...actions import (
    Action,
    BackendError,
    Endpoint,
)
from ...clock import Clock, Timer
from ...errors import RequestError
from ...model import (
    AgentInfo,
    AgentSnapshot,
    AgentState,
    Connection,
    Contact,
    ContactFailure,
    ContactKind,
)
from ...protocol.requests import (
    OutboundResultKind,
)
from ..base import SnapshotSink
from . import calls, catalog

_Changes = dict[str, AgentSnapshot]
_TimerPurpose = Literal["ring", "answer"]
_Outcome = OutboundResultKind | Literal["hangup"]

_DTMF_CHARACTERS = frozenset("0123456789*#,ABCDabcd")
# Simulator/OutboundResult outcome of a dialled customer -> why the contact ended in error
_FAILURE: dict[str, ContactFailure] = {"busy": "busy", "noAnswer": "no_answer", "failed": "failed"}


class SimulatorError(RequestError):
    """A ``Simulator`` request that cannot be carried out; ``code`` says why."""

    error_type = "SIMULATOR_FAILED"


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


class SimWorld:
    """The simulator's state; the rooms (consults, timers, control, the verbs) build on it."""

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

    def restore(self, login: str, snapshot: AgentSnapshot) -> None:
        """Take an agent's world over from another node (cluster failover): the snapshot the
        previous owner journaled, calls in progress included; its timers restart from it."""
        agent = self._agents[login]
        agent.snap = snapshot
        self._sync_timers(agent)

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

    # the rooms built on this one (consults.py, timers.py) provide these; _commit runs them

    def _prune_consults(self) -> None:
        raise NotImplementedError

    def _sync_timers(self, agent: _Agent) -> None:
        raise NotImplementedError
