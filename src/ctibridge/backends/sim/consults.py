"""Agent-to-agent consults: a third-party leg of one agent's contact that is another agent,
ringing or talking on a contact of its own (kind transfer), and how ending one ends the other."""

from __future__ import annotations

from typing import Literal

from msgspec.structs import replace

from ...model import (
    AgentSnapshot,
    Contact,
    ContactFailure,
    ContactState,
)
from . import calls
from .world import SimWorld, _Agent, _Changes, _Consult


class Consults(SimWorld):
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

    def _end_offer(
        self, agent: _Agent, contact: Contact, state: Literal["missed", "rejected"]
    ) -> None:
        now = self._now()
        changes: _Changes = {}
        self._end(agent, contact, state, now, changes)
        self._commit(changes)
