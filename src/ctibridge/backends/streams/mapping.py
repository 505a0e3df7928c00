"""From a Streams snapshot to the model's :class:`AgentSnapshot` (pure, no I/O).

Streams reports connection states but not the state before; :class:`SnapshotMapper` remembers
each connection's last status so ``previous_status`` is right.  It also remembers which topic a
contact is filed under (§3: the topic of the request that created it).

Deliberate normalisations, so every backend gives the engine the same conventions as the sim:

* Only voice contacts (``voice``, ``queue_callback``) are call-control contacts; chats, tasks and
  emails are left out.  Monitoring connections are left out.
* Roles: the ``agent`` connection, the initial connection (the customer), every other connection
  a third party.  Connections are listed agent, customer, third parties.
* Ids (docs/protocol.md §4.1, connection roles): the customer leg goes on the wire with
  ``connectionId == contactId``, as in the published samples and every other backend; Streams
  gives that leg an id of its own, which :meth:`SnapshotMapper.streams_leg` gives back when a
  command targets the leg.
* An ended contact (Streams ``ended`` = ACW, ``missed``, ``rejected``, ``error``) keeps its agent
  and customer legs, disconnected, and no third parties — as Connect shows it to the agent.
* ``logged_in`` is "not Offline": the CCP has no other notion of being logged out.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...model import (
    ROLE_ORDER,
    AgentInfo,
    AgentSnapshot,
    AgentState,
    CallTopic,
    Connection,
    ConnectionRole,
    ConnectionStatus,
    ConnectionType,
    Contact,
    ContactKind,
    ContactState,
    StateType,
)
from ..history import StatusHistory
from .wire import StreamsConnection, StreamsContact, StreamsSnapshot, StreamsState

VOICE_TYPES = frozenset({"voice", "queue_callback"})

# Streams ContactStateType -> the model's contact state
CONTACT_STATE: dict[str, ContactState] = {
    "init": "live",
    "incoming": "live",
    "pending": "live",
    "connecting": "live",
    "connected": "live",
    "paused": "live",
    "ended": "acw",
    "missed": "missed",
    "rejected": "rejected",
    "error": "error",
}
# Streams ConnectionStateType -> connection status
CONNECTION_STATUS: dict[str, ConnectionStatus] = {
    "init": "connecting",
    "connecting": "connecting",
    "connected": "connected",
    "hold": "hold",
    "disconnected": "disconnected",
    "silent_monitor": "connected",
    "barge": "connected",
}
# Streams ContactInitiationMethod -> how the contact reached the agent
KIND: dict[str, ContactKind] = {
    "inbound": "inbound",
    "callback": "inbound",
    "api": "inbound",
    "flow": "inbound",
    "transfer": "transfer",
    "queue_transfer": "transfer",
    "outbound": "outbound",
    "agent_reply": "outbound",
    "external_outbound": "outbound",
    "campaign_preview": "preview",
}
STATE_TYPE: dict[str, StateType] = {
    "routable": "routable",
    "not_routable": "not_routable",
    "offline": "offline",
    "system": "system",
    "error": "error",  # Connect's agent error states (MissedCallAgent, ...): §3.3
    "init": "offline",
}
OFFLINE = AgentState(label="Offline", code="Offline", type="offline")


def agent_state(state: StreamsState) -> AgentState:
    """A Streams agent state as the model's (label and code are the state's name)."""
    return AgentState(label=state.name, code=state.name, type=STATE_TYPE.get(state.type, "system"))


def logged_out(info: AgentInfo, since: int) -> AgentSnapshot:
    """What is known of an agent whose bridge has never reported."""
    return AgentSnapshot(info=info, logged_in=False, state=OFFLINE, state_since=since)


class SnapshotMapper:
    """Maps one agent's Streams snapshots, remembering what a single snapshot cannot say."""

    def __init__(self) -> None:
        self._status = StatusHistory()
        self.topics: dict[str, CallTopic] = {}
        self.pending_topic: CallTopic | None = None  # set by Dial, taken by the next outbound
        self.customer_legs: dict[str, str] = {}  # contact id -> Streams id of its customer leg

    def map(
        self, raw: StreamsSnapshot, info: AgentInfo, states: Iterable[AgentState]
    ) -> AgentSnapshot:
        known = {s.label: s for s in states}
        avail = raw.availability
        chosen = known.get(avail.state) or AgentState(
            label=avail.state,
            code=avail.state,
            type=STATE_TYPE.get(avail.type or raw.state.type, "not_routable"),
        )
        if chosen.type == "system":  # a state type the directory does not know: not routable
            chosen = AgentState(label=chosen.label, code=chosen.code, type="not_routable")
        contacts = tuple(
            self._contact(c) for c in raw.contacts if c.type in VOICE_TYPES and c.connections
        )
        live_ids = {leg.connection_id for c in contacts for leg in c.connections}
        self._status.keep(live_ids)
        current = {c.contact_id for c in contacts}
        for cid in [cid for cid in self.topics if cid not in current]:
            del self.topics[cid]
        for cid in [cid for cid in self.customer_legs if cid not in current]:
            del self.customer_legs[cid]
        return AgentSnapshot(
            info=info,
            logged_in=chosen.type != "offline",
            state=chosen,
            state_since=avail.timeStamp,
            next_state=agent_state(raw.nextState) if raw.nextState is not None else None,
            muted=raw.muted,
            contacts=contacts,
        )

    def _contact(self, raw: StreamsContact) -> Contact:
        state = CONTACT_STATE.get(raw.state.type, "live")
        initial = next((c for c in raw.connections if c.initial and c.type != "agent"), None)
        kind = KIND.get(raw.initiationMethod or "")
        if kind is None:
            kind = "outbound" if initial is not None and initial.type == "outbound" else "inbound"
        topic = self.topics.get(raw.contactId)
        if topic is None:
            if kind == "outbound" and self.pending_topic is not None:
                topic, self.pending_topic = self.pending_topic, None
            else:
                topic = "OutboundCall" if kind in ("outbound", "preview") else "InboundCall"
            self.topics[raw.contactId] = topic
        legs = []
        for conn in raw.connections:
            role = _role(conn)
            if role is None or (state != "live" and role == "third_party"):
                continue
            if role == "customer":
                self.customer_legs[raw.contactId] = conn.connectionId
            wire_id = raw.contactId if role == "customer" else conn.connectionId
            legs.append(self._leg(conn, wire_id, role, kind, state != "live"))
        legs.sort(key=lambda leg: ROLE_ORDER[leg.role])
        customer = initial.endpoint.phoneNumber if initial and initial.endpoint else None
        system = raw.systemEndpoint.phoneNumber if raw.systemEndpoint is not None else None
        # ANI calls, DNIS is called (§4.1): on an outbound contact the customer is the dialled one
        ani, dnis = (system, customer) if kind in ("outbound", "preview") else (customer, system)
        return Contact(
            contact_id=raw.contactId,
            kind=kind,
            topic=topic,
            state=state,
            since=raw.state.timestamp,
            connections=tuple(legs),
            queue=raw.queue.name if raw.queue is not None else None,
            queue_since=raw.queueTimestamp,
            ani=ani,
            dnis=dnis,
            attributes=tuple(sorted((a.name, a.value) for a in raw.attributes.values())),
        )

    def streams_leg(self, contact_id: str, connection_id: str) -> str:
        """The Streams id of the leg the wire calls ``connection_id`` (the customer leg's wire
        id is its contact's id; every other leg keeps its Streams id)."""
        if connection_id == contact_id:
            return self.customer_legs.get(contact_id, connection_id)
        return connection_id

    def _leg(
        self,
        conn: StreamsConnection,
        connection_id: str,
        role: ConnectionRole,
        kind: ContactKind,
        ended: bool,
    ) -> Connection:
        status = "disconnected" if ended else CONNECTION_STATUS.get(conn.state.type, "connected")
        previous = self._status.previous(connection_id, status)
        type_: ConnectionType
        if role == "agent":
            type_ = "agent"
        elif role == "customer":
            type_ = "outbound" if kind in ("outbound", "preview") else "inbound"
        else:
            type_ = "outbound"
        endpoint = conn.endpoint
        number = None
        if role != "agent" and endpoint is not None:
            number = endpoint.phoneNumber or endpoint.name
        return Connection(
            connection_id=connection_id,
            role=role,
            type=type_,
            status=status,
            since=conn.state.timestamp,
            phone_number=number,
            previous_status=previous,
        )


def _role(conn: StreamsConnection) -> ConnectionRole | None:
    if conn.type == "agent":
        return "agent"
    if conn.type == "monitoring":
        return None
    return "customer" if conn.initial else "third_party"
