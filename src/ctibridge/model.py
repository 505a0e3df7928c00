"""The agent snapshot: what every backend reports and the engine reasons about.

Modelled on the amazon-connect-streams agent snapshot (agent state, next state, contacts[],
each with connections[]) and on the Agent Event Stream's ``CurrentAgentSnapshot``, so every
backend maps onto it.  Values are frozen: a new state is a new value, which keeps diffs and
property tests simple.  Times are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Literal

import msgspec

# Amazon Connect's AgentStateType; error states are the ones a failed contact leaves the agent in
StateType = Literal["routable", "not_routable", "offline", "system", "error"]
ConnectionRole = Literal["agent", "customer", "third_party"]
# the order a contact's connections are listed in (events, snapshots): agent, customer, third party
ROLE_ORDER: dict[ConnectionRole, int] = {"agent": 0, "customer": 1, "third_party": 2}
ConnectionType = Literal["agent", "inbound", "outbound"]
ConnectionStatus = Literal["connecting", "connected", "hold", "disconnected"]
# live: the call is up; the others are the ended states Connect keeps until the contact is cleared.
ContactState = Literal["live", "acw", "missed", "rejected", "error"]
# how the contact reached the agent: from a queue, a transfer/consult from another agent,
# an outbound call the agent placed, or a campaign preview offered to the agent.
ContactKind = Literal["inbound", "transfer", "outbound", "preview"]
CallTopic = Literal["InboundCall", "OutboundCall"]
# why a contact ended in ``error``: the dialled customer was busy, did not answer, or the dial
# failed (each leaves the agent in its own Amazon Connect error state)
ContactFailure = Literal["busy", "no_answer", "failed"]

# where a call goes: a phone number, a quick connect, an agent or a queue (the apps' dial targets)
EndpointKind = Literal["phone", "quick_connect", "agent", "queue"]


class Endpoint(msgspec.Struct, frozen=True):
    kind: EndpointKind
    value: str


ENDED_STATES: frozenset[str] = frozenset({"acw", "missed", "rejected", "error"})


class AgentState(msgspec.Struct, frozen=True):
    """One of the agent's availability states (``label`` shown, ``code`` stable)."""

    label: str
    code: str
    type: StateType


class Connection(msgspec.Struct, frozen=True):
    connection_id: str
    role: ConnectionRole
    type: ConnectionType
    status: ConnectionStatus
    since: int
    phone_number: str | None = None
    # the status before the current one; None when the connection is new
    previous_status: ConnectionStatus | None = None


class Contact(msgspec.Struct, frozen=True):
    contact_id: str
    kind: ContactKind
    topic: CallTopic
    state: ContactState
    since: int
    connections: tuple[Connection, ...]
    queue: str | None = None
    queue_since: int | None = None
    ani: str | None = None
    dnis: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    campaign: str = ""
    failure: ContactFailure | None = None  # set when ``state`` is ``error``

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def connection(self, connection_id: str) -> Connection | None:
        for c in self.connections:
            if c.connection_id == connection_id:
                return c
        return None

    def by_role(self, role: ConnectionRole) -> Connection | None:
        for c in self.connections:
            if c.role == role:
                return c
        return None

    @property
    def agent_leg(self) -> Connection | None:
        return self.by_role("agent")

    @property
    def customer_leg(self) -> Connection | None:
        return self.by_role("customer")

    @property
    def third_party_leg(self) -> Connection | None:
        return self.by_role("third_party")


class AgentInfo(msgspec.Struct, frozen=True):
    login: str
    name: str
    extension: str = ""
    softphone_enabled: bool = True
    routing_profile: str = "Basic Routing Profile"
    queues: tuple[str, ...] = ()
    arn: str | None = None


class AgentSnapshot(msgspec.Struct, frozen=True):
    """Everything known about one agent at one moment.

    ``state`` is the availability state the agent chose (routable / not routable / offline);
    the system state shown while handling a contact (Busy, AfterCallWork, ...) is derived by the
    engine from ``contacts``, as Streams derives it from the snapshot.
    """

    info: AgentInfo
    logged_in: bool
    state: AgentState
    state_since: int
    next_state: AgentState | None = None
    muted: bool = False
    contacts: tuple[Contact, ...] = ()

    def contact(self, contact_id: str) -> Contact | None:
        for c in self.contacts:
            if c.contact_id == contact_id:
                return c
        return None

    @property
    def voice_contact(self) -> Contact | None:
        """The contact call control acts on: the first live one, else the first one."""
        for c in self.contacts:
            if not c.ended:
                return c
        return self.contacts[0] if self.contacts else None


class Directory(msgspec.Struct, frozen=True):
    """Names the backend knows, used to resolve command targets."""

    states: tuple[AgentState, ...]
    queues: tuple[str, ...] = ()
    quick_connects: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    def find_state(self, label: str | None, code: str | None) -> AgentState | None:
        for s in self.states:
            if (code is not None and s.code == code) or (
                code is None and label is not None and s.label == label
            ):
                return s
        # tolerate a label given as code and vice versa, case-insensitively
        wanted = {x.casefold() for x in (label, code) if x}
        for s in self.states:
            if s.label.casefold() in wanted or s.code.casefold() in wanted:
                return s
        return None
