"""The simulator's timers: a connecting leg rings out (missed) or is answered after its
seconds; each agent's timers are re-derived from its snapshot after every commit.  Also the
outcomes of a dialled party, which a timer or the Simulator topic decides."""

from __future__ import annotations

from ...model import (
    Connection,
    Contact,
)
from . import calls
from .consults import Consults
from .world import _FAILURE, _Agent, _Changes, _Outcome, _TimerPurpose


class Timers(Consults):
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
