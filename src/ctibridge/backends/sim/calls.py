"""Pure functions on snapshot values: the simulator's building blocks.

They take the current time as an argument and never make ids, so every change the simulator
makes is a new frozen value computed from the old one.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec.structs import replace

from ...model import (
    ROLE_ORDER,
    AgentSnapshot,
    Connection,
    ConnectionRole,
    ConnectionStatus,
    ConnectionType,
    Contact,
    ContactFailure,
    ContactState,
)


def customer_leg(
    contact_id: str,
    type: ConnectionType,
    status: ConnectionStatus,
    number: str | None,
    now: int,
) -> Connection:
    """A new customer leg: its connection id is the contact id, as in Connect's samples."""
    return Connection(
        contact_id, role="customer", type=type, status=status, since=now, phone_number=number
    )


def agent_leg(connection_id: str, now: int) -> Connection:
    """A new agent leg, ringing (inbound) or dialling (outbound) until it connects."""
    return Connection(connection_id, role="agent", type="agent", status="connecting", since=now)


def set_status(leg: Connection, status: ConnectionStatus, now: int) -> Connection:
    """``leg`` in ``status``; ``since`` and ``previous_status`` move only when it changes."""
    if leg.status == status:
        return leg
    return replace(leg, status=status, previous_status=leg.status, since=now)


def with_legs(contact: Contact, legs: Iterable[Connection]) -> Contact:
    """``contact`` with ``legs``, listed agent, customer, third party."""
    ordered = sorted(legs, key=lambda leg: ROLE_ORDER[leg.role])
    return replace(contact, connections=tuple(ordered))


def set_leg(contact: Contact, connection_id: str, status: ConnectionStatus, now: int) -> Contact:
    return replace(
        contact,
        connections=tuple(
            set_status(leg, status, now) if leg.connection_id == connection_id else leg
            for leg in contact.connections
        ),
    )


def set_roles(
    contact: Contact, roles: Iterable[ConnectionRole], status: ConnectionStatus, now: int
) -> Contact:
    wanted = set(roles)
    return replace(
        contact,
        connections=tuple(
            set_status(leg, status, now) if leg.role in wanted else leg
            for leg in contact.connections
        ),
    )


def drop_leg(contact: Contact, connection_id: str) -> Contact:
    return replace(
        contact,
        connections=tuple(leg for leg in contact.connections if leg.connection_id != connection_id),
    )


def end(
    contact: Contact, state: ContactState, now: int, failure: ContactFailure | None = None
) -> Contact:
    """The call is over for the agent: agent and customer legs disconnected, third parties gone."""
    legs = (
        set_status(leg, "disconnected", now)
        for leg in contact.connections
        if leg.role != "third_party"
    )
    return replace(contact, state=state, since=now, connections=tuple(legs), failure=failure)


def drop_third_party(contact: Contact, connection_id: str, now: int) -> Contact:
    """The third party leaves; with no customer left either, the call is over (ACW)."""
    rest = drop_leg(contact, connection_id)
    return rest if rest.customer_leg is not None else end(rest, "acw", now)


def is_ringing(contact: Contact) -> bool:
    """Offered to the agent (from a queue or another agent) and not yet answered."""
    leg = contact.agent_leg
    return (
        contact.state == "live"
        and contact.kind in ("inbound", "transfer")
        and leg is not None
        and leg.status == "connecting"
    )


def is_dialling(contact: Contact) -> bool:
    """An outbound call (dialled or accepted preview) whose customer has not answered yet."""
    leg = contact.customer_leg
    return (
        contact.state == "live"
        and contact.kind in ("outbound", "preview")
        and leg is not None
        and leg.status == "connecting"
    )


def put_contact(snap: AgentSnapshot, contact: Contact) -> AgentSnapshot:
    """``snap`` with ``contact`` replaced (same id) or appended."""
    if snap.contact(contact.contact_id) is None:
        return replace(snap, contacts=(*snap.contacts, contact))
    return replace(
        snap,
        contacts=tuple(contact if c.contact_id == contact.contact_id else c for c in snap.contacts),
    )


def remove_contact(snap: AgentSnapshot, contact_id: str) -> AgentSnapshot:
    return replace(snap, contacts=tuple(c for c in snap.contacts if c.contact_id != contact_id))
