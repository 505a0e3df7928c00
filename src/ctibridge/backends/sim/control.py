"""The Simulator topic (docs/protocol.md §7): what a test or demo makes the world do -
incoming calls, customers and third parties answering or hanging up, failure injection."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ...model import (
    Connection,
    Contact,
)
from ...protocol.requests import (
    NoData,
    SimConfigure,
    SimContactRef,
    SimFailNext,
    SimIncomingCall,
    SimOutboundResult,
    SimPreviewCall,
)
from . import calls, catalog
from .timers import Timers
from .world import SimulatorError, _Agent, _Changes, _QueuedCall


class Control(Timers):
    @functools.cached_property
    def _simulations(self) -> dict[str, tuple[type[Any], Callable[[_Agent, Any], None]]]:
        return self._simulation_table()

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
