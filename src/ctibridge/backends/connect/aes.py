"""From Connect's server-side view of an agent to the model's :class:`AgentSnapshot` (pure).

Two sources say the same thing in different words: Agent Event Stream records
(``CurrentAgentSnapshot``) and ``GetCurrentUserData`` entries.  Both are read into one
:class:`AgentReport`, and :class:`ReportMapper` turns a report into a snapshot, so a re-sync and
the stream can never disagree by construction.

Connect's server side knows contacts, not connections: a voice contact's legs are derived from
its state with ``LEGS`` (the agent leg gets a stable made-up id; the customer leg's id is the
contact id, as in Connect's published samples).  Deliberate choices:

* ``ENDED`` is ACW (the contact waits to be cleared), as Connect's own docs describe it.
* An outbound contact whose customer has not answered is ``DIALLING`` (both legs connecting);
  which contacts are outbound the backend knows from StartOutboundVoiceContact and
  ``InitiationMethod``.
* ``logged_in``: a ``LOGOUT`` record, or an Offline status, means logged out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from ...model import (
    AgentInfo,
    AgentSnapshot,
    AgentState,
    CallTopic,
    Connection,
    ConnectionStatus,
    Contact,
    ContactKind,
    ContactState,
    StateType,
)
from ..history import StatusHistory

LEG_NAMESPACE = uuid.UUID("6f1c4b5e-2d0a-4c11-9b7e-3c5d2a9e8f10")

# Connect contact state -> (contact state, agent leg, customer leg)
LEGS: dict[str, tuple[ContactState, ConnectionStatus, ConnectionStatus]] = {
    "INCOMING": ("live", "connecting", "connected"),
    "PENDING": ("live", "connecting", "connected"),
    "CONNECTING": ("live", "connecting", "connected"),
    "CONNECTED": ("live", "connected", "connected"),
    "CONNECTED_ONHOLD": ("live", "connected", "hold"),
    "PAUSED": ("live", "connected", "hold"),
    "ENDED": ("acw", "disconnected", "disconnected"),
    "MISSED": ("missed", "disconnected", "disconnected"),
    "REJECTED": ("rejected", "disconnected", "disconnected"),
    "ERROR": ("error", "disconnected", "disconnected"),
}
DIALLING: tuple[ContactState, ConnectionStatus, ConnectionStatus] = (
    "live", "connecting", "connecting",
)  # fmt: skip
RINGING_STATES = frozenset({"INCOMING", "PENDING", "CONNECTING"})
# the Agent Event Stream's INCOMING and PENDING are queued callbacks offered to the agent: Connect
# dials the customer only once the agent takes it, so there is no customer leg yet
CALLBACK_OFFERED = frozenset({"INCOMING", "PENDING"})

KIND: dict[str, ContactKind] = {
    "INBOUND": "inbound",
    "CALLBACK": "inbound",
    "API": "inbound",
    "WEBRTC_API": "inbound",
    "FLOW": "inbound",
    "TRANSFER": "transfer",
    "QUEUE_TRANSFER": "transfer",
    "OUTBOUND": "outbound",
    "EXTERNAL_OUTBOUND": "outbound",
    "AGENT_REPLY": "outbound",
    "CAMPAIGN_PREVIEW": "preview",
}
STATUS_TYPE: dict[str, StateType] = {
    "ROUTABLE": "routable",
    "CUSTOM": "not_routable",
    "OFFLINE": "offline",
}
OFFLINE = AgentState(label="Offline", code="Offline", type="offline")
PLACED_MS = 120_000  # a placed call not routed to the agent by then was not answered


class ContactReport(msgspec.Struct, frozen=True):
    contact_id: str
    state: str  # INCOMING | ... | CONNECTED_ONHOLD | ENDED | ...
    since: int
    initiation_method: str = ""
    queue: str | None = None
    queue_arn: str | None = None
    queue_since: int | None = None
    # the first contact of a transfer chain (AES InitialContactId): its attributes are the call's
    initial_contact_id: str | None = None


class AgentReport(msgspec.Struct, frozen=True):
    """What Connect's server side says about one agent at one moment."""

    status: str
    since: int
    logged_in: bool = True
    status_arn: str | None = None
    status_type: str | None = None
    next_status: str | None = None
    contacts: tuple[ContactReport, ...] = ()
    # from the Agent Event Stream only
    username: str | None = None
    name: str | None = None
    routing_profile: str | None = None
    queues: tuple[tuple[str, str], ...] = ()  # (name, ARN) of the routing profile's queues


class AesEvent(msgspec.Struct, frozen=True):
    agent_arn: str
    event_id: str
    event_type: str  # STATE_CHANGE | HEART_BEAT | LOGIN | LOGOUT
    timestamp: int
    report: AgentReport | None


def ms(value: Any) -> int | None:
    """ISO-8601 text, a datetime (boto3) or epoch seconds -> epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    if isinstance(value, int | float):
        return round(value * 1000)
    return round(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)


def user_id(ref: str) -> str:
    """A user id from a user id, a user ARN or an agent ARN."""
    return ref.rsplit("/", 1)[-1]


def _voice(contacts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [c for c in contacts if str(c.get("Channel", "VOICE")).upper() == "VOICE"]


def from_aes(record: Mapping[str, Any]) -> AesEvent:
    """One Agent Event Stream record (KeyError/ValueError when it is not one)."""
    event_type = str(record["EventType"])
    current = record.get("CurrentAgentSnapshot")
    report = None
    if isinstance(current, Mapping) and current.get("AgentStatus"):
        status = current["AgentStatus"]
        nxt = current.get("NextAgentStatus") or {}
        config = current.get("Configuration") or {}
        profile = config.get("RoutingProfile") or {}
        name = " ".join(x for x in (config.get("FirstName"), config.get("LastName")) if x)
        contacts = tuple(
            ContactReport(
                contact_id=str(c["ContactId"]),
                state=str(c.get("State", "CONNECTED")),
                since=ms(c.get("StateStartTimestamp")) or 0,
                initiation_method=str(c.get("InitiationMethod") or ""),
                queue=(c.get("Queue") or {}).get("Name"),
                queue_arn=(c.get("Queue") or {}).get("ARN"),
                queue_since=ms(c.get("QueueTimestamp")),
                initial_contact_id=c.get("InitialContactId") or None,
            )
            for c in _voice(current.get("Contacts") or [])
        )
        report = AgentReport(
            status=str(status["Name"]),
            since=ms(status.get("StartTimestamp")) or 0,
            logged_in=event_type != "LOGOUT",
            status_arn=status.get("ARN"),
            status_type=status.get("Type"),
            next_status=nxt.get("Name"),
            contacts=contacts,
            username=config.get("Username"),
            name=name or None,
            routing_profile=profile.get("Name"),
            queues=tuple(
                (str(q["Name"]), str(q.get("ARN", "")))
                for q in profile.get("InboundQueues") or []
                if q.get("Name")
            ),
        )
    return AesEvent(
        agent_arn=str(record["AgentARN"]),
        event_id=str(record["EventId"]),
        event_type=event_type,
        timestamp=ms(record["EventTimestamp"]) or 0,
        report=report,
    )


def from_user_data(entry: Mapping[str, Any], queue_names: Mapping[str, str]) -> AgentReport:
    """One ``GetCurrentUserData`` entry (``queue_names``: queue ARN -> name, as far as known)."""
    status = entry.get("Status") or {}
    contacts = tuple(
        ContactReport(
            contact_id=str(c["ContactId"]),
            state=str(c.get("AgentContactState", "CONNECTED")),
            since=ms(c.get("StateStartTimestamp")) or 0,
            initiation_method=str(c.get("InitiationMethod") or ""),
            queue=queue_names.get(str((c.get("Queue") or {}).get("Arn", ""))),
            queue_arn=(c.get("Queue") or {}).get("Arn"),
        )
        for c in _voice(entry.get("Contacts") or [])
    )
    return AgentReport(
        status=str(status.get("StatusName") or "Offline"),
        since=ms(status.get("StatusStartTimestamp")) or 0,
        status_arn=status.get("StatusArn"),
        next_status=entry.get("NextStatus") or None,
        contacts=contacts,
    )


class ReportMapper:
    """Maps one agent's reports, remembering what a single report cannot say: each leg's
    previous status, the topic and number of contacts this hub dialled, contact attributes."""

    def __init__(self) -> None:
        self._status = StatusHistory()
        self.dialled: dict[str, tuple[str, CallTopic]] = {}  # contact id -> (number, topic)
        # StartOutboundVoiceContact: Connect dials the customer through the flow and queues the
        # call; the agent sees the contact only then.  Until it appears it is shown as dialling
        # (since when), and forgotten after PLACED_MS (the customer never answered).
        self.placed: dict[str, int] = {}
        self.attributes: dict[str, tuple[tuple[str, str], ...]] = {}
        self.queue_since: dict[str, int] = {}

    def map(
        self, report: AgentReport, info: AgentInfo, states: Iterable[AgentState], now: int = 0
    ) -> AgentSnapshot:
        known = {s.label: s for s in states}
        state = known.get(report.status) or AgentState(
            label=report.status,
            code=report.status,
            type=STATUS_TYPE.get(report.status_type or "", "not_routable"),
        )
        logged_in = report.logged_in and state.type != "offline"
        reported = {c.contact_id for c in report.contacts}
        for cid in reported:
            self.placed.pop(cid, None)  # routed to the agent: Connect's view from now on
        for cid in [c for c, since in self.placed.items() if now - since > PLACED_MS]:
            del self.placed[cid]
            self.dialled.pop(cid, None)
        contacts = tuple(self._contact(c) for c in report.contacts) + tuple(
            self._contact(ContactReport(contact_id=cid, state="CONNECTING", since=since), True)
            for cid, since in self.placed.items()
        )
        live = {leg.connection_id for c in contacts for leg in c.connections}
        self._status.keep(live)
        nxt = report.next_status
        return AgentSnapshot(
            info=info,
            logged_in=logged_in,
            state=state if logged_in or state.type == "offline" else OFFLINE,
            state_since=report.since,
            next_state=known.get(nxt) if nxt else None,
            contacts=contacts,
        )

    def _contact(self, report: ContactReport, placing: bool = False) -> Contact:
        cid = report.contact_id
        dialled = self.dialled.get(cid)
        kind = "outbound" if dialled else KIND.get(report.initiation_method.upper(), "inbound")
        contact_state, agent, customer = LEGS.get(report.state, LEGS["CONNECTED"])
        # the agent's own outbound call rings the customer first; a call this hub placed through
        # a flow reaches the agent like an inbound one, the customer connected (LEGS)
        ringing_out = kind in ("outbound", "preview") and report.state in RINGING_STATES
        if placing or (ringing_out and dialled is None):
            contact_state, agent, customer = DIALLING
        topic: CallTopic
        if dialled is not None:
            topic = dialled[1]
        else:
            topic = "OutboundCall" if kind in ("outbound", "preview") else "InboundCall"
        if report.queue_since is not None:
            self.queue_since.setdefault(cid, report.queue_since)
        number = dialled[0] if dialled else None
        outbound = kind in ("outbound", "preview")
        legs: tuple[Connection, ...] = (
            self._leg(
                str(uuid.uuid5(LEG_NAMESPACE, cid)), "agent", "agent", agent, report.since, None
            ),
        )
        if report.state not in CALLBACK_OFFERED:
            legs += (
                self._leg(
                    cid,
                    "customer",
                    "outbound" if kind in ("outbound", "preview") else "inbound",
                    customer,
                    report.since,
                    number,
                ),
            )
        return Contact(
            contact_id=cid,
            kind=kind,
            topic=topic,
            state=contact_state,
            since=report.since,
            connections=legs,
            queue=report.queue,
            queue_since=self.queue_since.get(cid),
            # ANI calls, DNIS is called (§4.1): on an outbound contact the customer is dialled
            ani=None if outbound else number,
            dnis=number if outbound else None,
            attributes=self.attributes.get(cid, ()),
        )

    def _leg(
        self,
        connection_id: str,
        role: Any,
        type_: Any,
        status: ConnectionStatus,
        since: int,
        number: str | None,
    ) -> Connection:
        previous = self._status.previous(connection_id, status)
        return Connection(
            connection_id=connection_id,
            role=role,
            type=type_,
            status=status,
            since=since,
            phone_number=number,
            previous_status=previous,
        )
