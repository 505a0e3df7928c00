"""What the tables say about one snapshot: situations, buttons, event names, shown state."""

from __future__ import annotations

from ..model import AgentSnapshot, AgentState, Connection, Contact
from .tables import (
    AGENT_BUTTON_NEEDS,
    CAMPAIGN_EVENT,
    CAMPAIGN_SITUATION_EVENT,
    ENABLED_CALL_BUTTONS,
    ENDED_EVENT,
    LIVE_EVENT,
    SITUATIONS,
    SYSTEM_CASE_OF_END,
    SYSTEM_CASE_OF_FAILURE,
    SYSTEM_STATE,
    AgentCondition,
    Situation,
    SystemCase,
)

NO_BUTTONS: frozenset[str] = frozenset()


def situation(contact: Contact) -> Situation:
    if contact.ended:
        return "ended"
    agent = contact.agent_leg
    customer = contact.customer_leg
    third = contact.third_party_leg
    if contact.kind == "preview" and customer is None:
        return "preview"
    if customer is not None and customer.status == "connecting":
        return "dialling"
    if agent is None or agent.status == "disconnected":
        return "idle"
    if agent.status == "connecting":
        return "dialling" if contact.kind in ("outbound", "preview") else "ringing"
    key = (
        customer.status if customer is not None and customer.status != "disconnected" else None,
        third.status if third is not None and third.status != "disconnected" else None,
    )
    return SITUATIONS.get(key, "idle")


def connection_buttons(contact: Contact, connection: Connection, sit: Situation) -> frozenset[str]:
    if connection.status == "disconnected" and connection.role != "agent":
        return NO_BUTTONS
    return ENABLED_CALL_BUTTONS[sit].get(connection.role, NO_BUTTONS)


def event_name(contact: Contact, connection: Connection) -> str:
    if contact.ended:
        name = (
            ENDED_EVENT[contact.state] if connection.role == "agent" else LIVE_EVENT["disconnected"]
        )
    else:
        name = LIVE_EVENT[connection.status]
    if contact.topic != "OutboundCall":
        return name
    # outbound contacts speak the published campaign vocabulary (§4.1)
    if not contact.ended and connection.status != "disconnected":
        by_situation = CAMPAIGN_SITUATION_EVENT.get(situation(contact))
        if by_situation is not None:
            return by_situation
    return CAMPAIGN_EVENT.get((name, connection.role), name)


def system_case(snapshot: AgentSnapshot) -> SystemCase | None:
    contact = snapshot.voice_contact
    if contact is None or not snapshot.logged_in:
        return None
    if contact.ended:
        if contact.state == "error" and contact.failure is not None:
            return SYSTEM_CASE_OF_FAILURE[contact.failure]
        return SYSTEM_CASE_OF_END[contact.state]
    sit = situation(contact)
    if sit == "ringing":
        return "ringing"
    if sit in ("dialling", "preview"):
        return "dialling"
    return "talking"


def shown_state(snapshot: AgentSnapshot) -> AgentState:
    """The state apps see: the chosen state, or a system state while handling a contact."""
    case = system_case(snapshot)
    return snapshot.state if case is None else SYSTEM_STATE[case]


def on_connected_call(snapshot: AgentSnapshot) -> bool:
    contact = snapshot.voice_contact
    if contact is None or contact.ended:
        return False
    agent = contact.agent_leg
    return agent is not None and agent.status == "connected"


def agent_conditions(snapshot: AgentSnapshot) -> frozenset[AgentCondition]:
    held: set[AgentCondition] = set()
    if snapshot.logged_in:
        held.add("logged_in")
    if shown_state(snapshot).type != "routable":
        held.add("not_routable")
    if all(c.ended for c in snapshot.contacts):
        held.add("no_live_contact")
    held.add("muted" if snapshot.muted else "unmuted")
    return frozenset(held)


def agent_buttons(snapshot: AgentSnapshot) -> frozenset[str]:
    held = agent_conditions(snapshot)
    return frozenset(name for name, needs in AGENT_BUTTON_NEEDS.items() if needs <= held)
