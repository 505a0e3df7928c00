"""One agent's session: its snapshot, what its apps were last told, and the command in flight;
``update`` turns a new snapshot into the events that tell apps what changed."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import msgspec

from .. import protocol as p
from ..model import ROLE_ORDER, AgentSnapshot, AgentState, Connection, Contact, Directory
from ..protocol.requests import Request
from .tables import DROPPED
from .views import agent_buttons, connection_buttons, event_name, shown_state, situation

CALL_TOPICS = ("InboundCall", "OutboundCall")


# --- session state ----------------------------------------------------------------------------


class ConnView(msgspec.Struct, frozen=True):
    """What apps were last told about one connection."""

    status: str
    event: str
    buttons: frozenset[str]
    contact: Contact
    connection: Connection

    def same(self, other: ConnView) -> bool:
        return (self.status, self.event, self.buttons) == (other.status, other.event, other.buttons)


class AgentView(msgspec.Struct, frozen=True):
    logged_in: bool
    shown: AgentState
    since: int
    next_state: AgentState | None
    muted: bool
    buttons: frozenset[str]


class Inflight(msgspec.Struct):
    command_id: int
    origin: str
    request: Request
    deadline: int
    broadcasts: int = 0
    agent_events: int = 0
    ccp_events: int = 0
    contact_id: str | None = None


class AgentSession:
    """Everything the engine holds for one agent."""

    def __init__(
        self, login: str, snapshot: AgentSnapshot, directory: Directory, now: int, seq: int = 0
    ) -> None:
        self.login = login
        self.snapshot = snapshot
        self.directory = directory
        self.seq = seq
        self.conn_views: dict[tuple[str, str], ConnView] = {}
        self.contact_order: list[str] = []
        self.agent_view = self._agent_view(snapshot, None, now)
        self.queue: deque[tuple[str, Request]] = deque()
        self.inflight: Inflight | None = None
        for contact in snapshot.contacts:
            self.contact_order.append(contact.contact_id)
            for view in contact_views(contact):
                self.conn_views[(contact.contact_id, view.connection.connection_id)] = view

    # views -------------------------------------------------------------------------------------

    @staticmethod
    def _agent_view(
        snapshot: AgentSnapshot, previous: AgentView | None, now: int, before_since: int = 0
    ) -> AgentView:
        # a state's start is when the agent entered it (§3.3).  A chosen state starts at the
        # backend's time when the backend says it was (re-)entered since its last snapshot
        # (``before_since``: that snapshot's time); otherwise a state shown before keeps its
        # start, and one the agent comes to - back from a call, say, where the backend still
        # has the time it was chosen before the call - starts now
        shown = shown_state(snapshot)
        entered = shown == snapshot.state and (
            previous is None or snapshot.state_since > before_since
        )
        if entered:
            since = snapshot.state_since
        elif previous is not None and previous.shown == shown:
            since = previous.since
        else:
            since = now
        return AgentView(
            logged_in=snapshot.logged_in,
            shown=shown,
            since=since,
            next_state=snapshot.next_state,
            muted=snapshot.muted,
            buttons=agent_buttons(snapshot),
        )

    def agent_event(self, *, mute_only: bool = False) -> p.Envelope:
        v = self.agent_view
        return p.agent_state_event(self.snapshot, v.shown, v.since, v.buttons, mute_only=mute_only)

    def ccp_event(self) -> p.Envelope:
        """``Agent/CcpAgentState``: follows every change of the agent's state (§3.2)."""
        return p.ccp_agent_state(self.agent_view.shown)

    def user(self) -> p.AgentInfoMessage:
        return p.agent_info(self.snapshot)

    def statesync(self) -> list[p.Envelope]:
        """What a newly connected app gets first: the Agent and the call StateSync answers."""
        return [self.agent_statesync(), self.call_statesync("InboundCall")]

    def agent_statesync(self) -> p.Envelope:
        v = self.agent_view
        return p.agent_statesync(self.snapshot, v.shown, v.since, v.buttons)

    def call_statesync(self, topic: str) -> p.Envelope:
        """The call StateSync; it carries the contact's topic, or ``topic`` (the one asked
        for) when there is no contact."""
        contact = self.snapshot.voice_contact
        if contact is None:
            return p.call_statesync(topic, None, {})
        buttons = {
            conn_id: view.buttons
            for (contact_id, conn_id), view in self.conn_views.items()
            if contact_id == contact.contact_id
        }
        return p.call_statesync(contact.topic, contact, buttons)

    def owns(self, some_id: str) -> bool:
        for contact in self.snapshot.contacts:
            if contact.contact_id == some_id or contact.connection(some_id) is not None:
                return True
        return False

    # diff ----------------------------------------------------------------------------------------

    def update(self, snapshot: AgentSnapshot, now: int) -> list[p.Envelope]:
        """Adopt a new snapshot; return the events it causes, in order."""
        events: list[p.Envelope] = []
        new_views: dict[tuple[str, str], ConnView] = {}
        new_ids = [c.contact_id for c in snapshot.contacts]
        order = new_ids + [cid for cid in self.contact_order if cid not in new_ids]
        for contact_id in order:
            contact = snapshot.contact(contact_id)
            ranked: list[tuple[int, int, ConnView]] = []
            if contact is not None:
                for i, view in enumerate(contact_views(contact)):
                    key = (contact_id, view.connection.connection_id)
                    new_views[key] = view
                    old = self.conn_views.get(key)
                    if old is None or not old.same(view):
                        ranked.append((ROLE_ORDER[view.connection.role], i, view))
            for key, old in self.conn_views.items():
                if key[0] == contact_id and key not in new_views:
                    ranked.append((ROLE_ORDER[old.connection.role], 99, _dropped(old, now)))
            if not ranked:
                continue
            ranked.sort(key=lambda r: (r[0], r[1]))
            user = p.agent_info(snapshot)
            for _, _, view in ranked:
                events.append(
                    p.call_event(view.contact, view.connection, view.event, view.buttons, user)
                )
        self.conn_views = new_views
        self.contact_order = new_ids

        previous = self.agent_view
        before = self.snapshot
        self.snapshot = snapshot
        v = self.agent_view = self._agent_view(snapshot, previous, now, before.state_since)
        if v.logged_in != previous.logged_in and not v.logged_in:
            # with the state and rules the agent had when it logged out (published sample)
            events.append(
                p.logout_success(before, previous.shown, previous.since, previous.buttons)
            )
            return events
        if v.logged_in != previous.logged_in:
            events.append(p.login_success(snapshot))
        if (v.shown, v.since) != (previous.shown, previous.since) or (
            v.logged_in != previous.logged_in
        ):
            events += [self.agent_event(), self.ccp_event()]
        elif msgspec.structs.replace(previous, muted=v.muted, buttons=v.buttons) == v and (
            v.muted != previous.muted
        ):
            events.append(self.agent_event(mute_only=True))
        elif v != previous:
            events.append(self.agent_event())
        return events


def _ordered(contact: Contact) -> list[Connection]:
    return sorted(contact.connections, key=lambda c: ROLE_ORDER[c.role])


def contact_views(contact: Contact) -> Iterable[ConnView]:
    sit = situation(contact)
    for conn in _ordered(contact):
        yield ConnView(
            status=conn.status,
            event=event_name(contact, conn),
            buttons=connection_buttons(contact, conn, sit),
            contact=contact,
            connection=conn,
        )


def _dropped(old: ConnView, now: int) -> ConnView:
    conn = old.connection
    if conn.status != "disconnected":  # an already disconnected leg keeps its previous status
        conn = msgspec.structs.replace(
            conn, status="disconnected", previous_status=conn.status, since=now
        )
    return ConnView(
        status="disconnected",
        event=DROPPED,
        buttons=frozenset(),
        contact=old.contact,
        connection=conn,
    )
