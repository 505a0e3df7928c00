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

from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

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
from ...model import (
    AgentSnapshot,
    Connection,
    Contact,
    ContactState,
    Directory,
)
from ...protocol.requests import (
    NoData,
)
from ..base import SnapshotSink
from . import calls, catalog
from .control import Control
from .world import _DTMF_CHARACTERS, SimulatorError, _Agent, _Changes, _Consult

__all__ = ["SimBackend", "SimulatorError"]


class SimBackend(Control):
    """The embedded Amazon Connect simulator (implements ``ctibridge.backends.base.Backend``):
    the Backend interface and Connect's verbs; the rest of the world is in the rooms below
    (world.py, consults.py, timers.py, control.py)."""

    name = "sim"
    executes_at_once = True  # execute_now: the hub calls it inline (backends.base.ExecutesAtOnce)

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

    async def execute(self, login: str, action: Action) -> None:
        self.execute_now(login, action)

    def execute_now(self, login: str, action: Action) -> None:
        """``execute``, synchronously (``backends.base.ExecutesAtOnce``): the hub calls it
        inline."""
        agent = self._agents[login]
        for i, (actions, error) in enumerate(agent.failures):
            if isinstance(action, actions):
                del agent.failures[i]
                raise BackendError(error)
        self._verbs[type(action)](agent, action)

    @cached_property
    def _verbs(self) -> dict[type[Any], Callable[[_Agent, Any], None]]:
        """Connect's verbs by the action that asks for each: one table, as the Simulator
        topic's (control.py)."""
        return {
            Accept: self._accept,
            Reject: self._reject,
            Hold: self._hold,
            Resume: self._resume,
            Hangup: self._hangup,
            Clear: self._clear,
            AddParty: self._add_party,
            Swap: self._swap,
            Conference: self._conference,
            Transfer: self._transfer,
            SendDigits: self._send_digits,
            SetState: self._set_state,
            SetMute: self._set_mute,
            Login: self._login,
            Logout: self._logout,
            Dial: self._dial,
            AcceptPreview: self._accept_preview,
            SkipPreview: self._skip_preview,
        }

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

    def _set_mute(self, agent: _Agent, action: SetMute) -> None:
        self._commit({agent.login: replace(agent.snap, muted=action.muted)})

    def _login(self, agent: _Agent, action: Login) -> None:
        if agent.snap.logged_in:
            return
        state = agent.state_before_logout or catalog.AVAILABLE
        agent.state_before_logout = None
        snap = replace(agent.snap, logged_in=True, state=state, state_since=self._now())
        self._commit({agent.login: snap})

    def _logout(self, agent: _Agent, action: Logout) -> None:
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
