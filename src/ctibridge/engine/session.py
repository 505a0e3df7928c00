"""The engine: per-agent sessions that turn commands and snapshots into actions and events.

Sans-IO: every method takes the current time as ``now`` (ms) and returns a list of outputs for
the adapter to carry out — ``Execute``/``Simulate`` (call the backend, then report back with
:meth:`Engine.result`), ``Broadcast`` (journal, then send to every app of the agent) and
``Reply`` (send to one app only).  Nothing here awaits, reads a clock or logs.

Commands of one agent run one at a time in arrival order (across all its apps).  Events caused
while a command is in flight carry its ``requestId``; a command that changed nothing visible is
still answered (§3: every request is answered), and one without a result by its deadline fails
with ``code`` ``timeout``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Literal

import msgspec

from .. import protocol as p
from ..actions import Action
from ..errors import BackendTimeout, CtiBridgeError, RequestError
from ..model import AgentSnapshot, AgentState, Connection, Contact, Directory
from ..protocol.registry import ID_CARRYING, QUERIES
from ..protocol.requests import OptionalId, Request
from .commands import AGENT_PLANNERS, CALL_PLANNERS, Context, Refused
from .views import agent_buttons, connection_buttons, event_name, shown_state, situation

DEFAULT_DEADLINE_MS = 10_000
CALL_TOPICS = ("InboundCall", "OutboundCall")
# agent requests answered by SetAgentState + CcpAgentState, and those answered by a Mute event
STATE_REQUESTS = frozenset({"UpdateState", "SetNotReady"})
MUTE_REQUESTS = frozenset({"Mute", "Unmute"})
ROLE_RANK = {"agent": 0, "customer": 1, "third_party": 2}


# --- outputs --------------------------------------------------------------------------------


class Broadcast(msgspec.Struct, frozen=True):
    """Journal, then send to every app of ``login`` (``envelope`` carries its ``seq``)."""

    login: str
    envelope: p.Envelope


class Reply(msgspec.Struct, frozen=True):
    """Send to the app ``origin`` only; not journaled, no ``seq``."""

    login: str
    origin: str
    envelope: p.Envelope


class Execute(msgspec.Struct, frozen=True):
    login: str
    command_id: int
    action: Action


class Simulate(msgspec.Struct, frozen=True):
    login: str
    command_id: int
    subtopic: str
    data: object


Output = Broadcast | Reply | Execute | Simulate

Outcome = Literal["ok", "refused", "failed", "timeout", "forbidden"]


class Finished(msgspec.Struct, frozen=True):
    """A command the engine is done with - for the adapter's audit log and metrics, never sent.

    ``outcome``: ``ok`` (answered or carried out), ``refused`` (a precondition failed, nothing was
    tried), ``failed`` (the backend refused it), ``timeout`` (no backend result by the deadline),
    ``forbidden`` (it named another agent's contact).  ``error_type``/``code`` are those of the
    error event apps got, if any.
    """

    login: str
    origin: str
    request: Request
    outcome: Outcome
    error_type: str | None = None
    code: str | None = None
    # the agent's voice contact when the command started (what it acted on), if any
    contact_id: str | None = None


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
            for view in _contact_views(contact):
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
                for i, view in enumerate(_contact_views(contact)):
                    key = (contact_id, view.connection.connection_id)
                    new_views[key] = view
                    old = self.conn_views.get(key)
                    if old is None or not old.same(view):
                        ranked.append((ROLE_RANK[view.connection.role], i, view))
            for key, old in self.conn_views.items():
                if key[0] == contact_id and key not in new_views:
                    ranked.append((ROLE_RANK[old.connection.role], 99, _dropped(old, now)))
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
    return sorted(contact.connections, key=lambda c: ROLE_RANK[c.role])


def _contact_views(contact: Contact) -> Iterable[ConnView]:
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
        event="DROPPED",
        buttons=frozenset(),
        contact=old.contact,
        connection=conn,
    )


# --- the engine -------------------------------------------------------------------------------


class UnknownAgent(RequestError, KeyError):
    """No session for this login (a KeyError too, as a lookup that failed)."""

    error_type = "UNKNOWN_AGENT"


class Engine:
    """All agent sessions of one hub."""

    def __init__(self, deadline_ms: int = DEFAULT_DEADLINE_MS) -> None:
        self.deadline_ms = deadline_ms
        self.sessions: dict[str, AgentSession] = {}
        self._command_ids = 0
        self._finished: list[Finished] = []

    def add_agent(
        self, login: str, snapshot: AgentSnapshot, directory: Directory, now: int, seq: int = 0
    ) -> None:
        self.sessions[login] = AgentSession(login, snapshot, directory, now, seq)

    def session(self, login: str) -> AgentSession:
        try:
            return self.sessions[login]
        except KeyError:
            raise UnknownAgent(login) from None

    # inputs --------------------------------------------------------------------------------------

    def sync(self, login: str, origin: str) -> list[Output]:
        """The answers a newly connected app gets first (§1): Agent and call StateSync."""
        return [Reply(login, origin, env) for env in self.session(login).statesync()]

    def submit(self, login: str, origin: str, request: Request, now: int) -> list[Output]:
        s = self.session(login)
        s.queue.append((origin, request))
        return self._pump(s, now) if s.inflight is None else []

    def snapshot(self, login: str, snapshot: AgentSnapshot, now: int) -> list[Output]:
        s = self.session(login)
        return self._broadcast(s, s.update(snapshot, now))

    def directory(self, login: str, directory: Directory) -> None:
        self.session(login).directory = directory

    def announce(self, login: str) -> list[Output]:
        """Broadcast the agent's current SetAgentState, changed or not (the backend lost its
        link to Connect: apps learn that the state they see is the last one known)."""
        s = self.session(login)
        return self._broadcast(s, [s.agent_event()])

    def result(
        self, login: str, command_id: int, failure: CtiBridgeError | None, now: int
    ) -> list[Output]:
        """The backend finished command ``command_id``: ``failure`` None = done, else why not
        (a BackendError from Connect, a RequestError the simulator refused, our InternalError).
        """
        s = self.session(login)
        flight = s.inflight
        if flight is None or flight.command_id != command_id:
            return []  # already timed out
        req = flight.request
        outs: list[Output]
        if failure is not None:
            outcome: Outcome = "timeout" if isinstance(failure, BackendTimeout) else "failed"
            code = failure.code
            if req.topic == "Simulator":
                env = p.error_event(
                    "Simulator",
                    "SIMULATOR_FAILED",
                    code,
                    p.ERROR_TEXT["SIMULATOR_FAILED"],
                    req.raw,
                    req.request_id,
                )
                outs = [Reply(login, flight.origin, env)]
                self._done(s, flight.origin, req, outcome, "SIMULATOR_FAILED", code)
            else:
                # a backend's failure is reported with the subtopic's own failure type
                outs = self._failure(s, req, code, origin=flight.origin, outcome=outcome)
        else:
            outs = self._answer(s, flight)
            self._done(s, flight.origin, req, "ok")
        s.inflight = None
        return outs + self._pump(s, now)

    def expire(self, login: str, now: int) -> list[Output]:
        """Fail the in-flight command if its deadline has passed."""
        s = self.session(login)
        flight = s.inflight
        if flight is None or now < flight.deadline:
            return []
        return self.result(login, flight.command_id, BackendTimeout(), now)

    def take_finished(self) -> list[Finished]:
        """The commands finished since the last call, in the order they finished."""
        done, self._finished = self._finished, []
        return done

    # what the adapter may read -------------------------------------------------------------------

    def busy(self) -> bool:
        """Some agent has a command in flight or waiting (a draining hub waits for them)."""
        return any(s.inflight is not None or s.queue for s in self.sessions.values())

    def in_flight(self, login: str) -> tuple[int, int] | None:
        """``(command_id, deadline)`` of the agent's command in flight, if any."""
        flight = self.session(login).inflight
        return None if flight is None else (flight.command_id, flight.deadline)

    def shown_state(self, login: str) -> AgentState:
        """The agent state apps were last shown."""
        return self.session(login).agent_view.shown

    def owner_of(self, some_id: str) -> str | None:
        for login, s in self.sessions.items():
            if s.owns(some_id):
                return login
        return None

    # internals -----------------------------------------------------------------------------------

    def _broadcast(self, s: AgentSession, envelopes: list[p.Envelope]) -> list[Output]:
        outs: list[Output] = []
        flight = s.inflight
        rid = flight.request.request_id if flight is not None else None
        for env in envelopes:
            s.seq += 1
            if flight is not None:
                flight.broadcasts += 1
                if env.topic == "Agent":
                    flight.agent_events += 1
                if env.subtopic == "CcpAgentState":
                    flight.ccp_events += 1
            outs.append(Broadcast(s.login, p.with_request_id(p.with_seq(env, s.seq), rid)))
        return outs

    def _failure(
        self,
        s: AgentSession,
        req: Request,
        code: str,
        kind: str | None = None,
        *,
        origin: str,
        outcome: Outcome,
    ) -> list[Output]:
        type_, text = (kind, p.ERROR_TEXT[kind]) if kind else p.failure_for(req.subtopic)
        env = p.error_event(req.topic, type_, code, text, req.raw, req.request_id)
        s.seq += 1
        self._done(s, origin, req, outcome, type_, code)
        return [Broadcast(s.login, p.with_seq(env, s.seq))]

    def _done(
        self,
        s: AgentSession,
        origin: str,
        req: Request,
        outcome: Outcome,
        error_type: str | None = None,
        code: str | None = None,
    ) -> None:
        flight = s.inflight
        if flight is not None and flight.request is req:
            contact_id = flight.contact_id
        else:
            contact = s.snapshot.voice_contact
            contact_id = contact.contact_id if contact is not None else None
        done = Finished(s.login, origin, req, outcome, error_type, code, contact_id)
        self._finished.append(done)

    def _answer(self, s: AgentSession, flight: Inflight) -> list[Output]:
        """Make sure a successful command is answered by at least one event; a state change
        request by SetAgentState then CcpAgentState (§3.2), also when nothing changed."""
        req = flight.request
        if req.topic == "Agent":
            if req.subtopic in STATE_REQUESTS and not flight.ccp_events:
                answer = [] if flight.agent_events else [s.agent_event()]
                return self._broadcast(s, [*answer, s.ccp_event()])
            if flight.agent_events:
                return []
            return self._broadcast(s, [s.agent_event(mute_only=req.subtopic in MUTE_REQUESTS)])
        if flight.broadcasts:
            return []
        contact = s.snapshot.voice_contact
        if req.topic in CALL_TOPICS and contact is not None:
            views = list(_contact_views(contact))
            agent = views[0]
            env = p.call_event(
                agent.contact, agent.connection, agent.event, agent.buttons, s.user()
            )
            return self._broadcast(s, [env])
        return self._broadcast(s, [s.agent_event()])

    def _pump(self, s: AgentSession, now: int) -> list[Output]:
        outs: list[Output] = []
        while s.inflight is None and s.queue:
            origin, req = s.queue.popleft()
            outs += self._start(s, origin, req, now)
        return outs

    def _start(self, s: AgentSession, origin: str, req: Request, now: int) -> list[Output]:
        login = s.login
        if req.subtopic in QUERIES:
            self._done(s, origin, req, "ok")
            return [Reply(login, origin, self.query(login, req))]
        forbidden = self._forbidden(s, req)
        if forbidden is not None:
            self._done(s, origin, req, "forbidden", "FORBIDDEN", forbidden)
            env = p.error_event(
                req.topic, "FORBIDDEN", forbidden, p.ERROR_TEXT["FORBIDDEN"], req.raw,
                req.request_id,
            )  # fmt: skip
            return [Reply(login, origin, env)]
        self._command_ids += 1
        command_id = self._command_ids
        contact = s.snapshot.voice_contact
        contact_id = contact.contact_id if contact is not None else None
        if req.topic == "Simulator":
            s.inflight = Inflight(
                command_id, origin, req, now + self.deadline_ms, contact_id=contact_id
            )
            return [Simulate(login, command_id, req.subtopic, req.data)]
        planners = AGENT_PLANNERS if req.topic == "Agent" else CALL_PLANNERS
        ctx = Context(snapshot=s.snapshot, directory=s.directory, topic=req.topic)
        try:
            action = planners[req.subtopic](ctx, req.data)
        except Refused as e:
            return self._failure(s, req, e.code, e.error_type, origin=origin, outcome="refused")
        s.inflight = Inflight(
            command_id, origin, req, now + self.deadline_ms, contact_id=contact_id
        )
        return [Execute(login, command_id, action)]

    def query(self, login: str, req: Request) -> p.Envelope:
        """Answer StateSync / GetStates / CcpAgentState (to the requester only)."""
        s = self.session(login)
        if req.subtopic == "StateSync":
            env = s.agent_statesync() if req.topic == "Agent" else s.call_statesync(req.topic)
        elif req.subtopic == "GetStates":
            env = p.get_states(s.directory.states)
        else:
            env = p.ccp_agent_state(s.agent_view.shown)
        return p.with_request_id(env, req.request_id)

    def _forbidden(self, s: AgentSession, req: Request) -> str | None:
        """Ids that are not this agent's are refused before anything else (§5 FORBIDDEN): the
        error's code, or None when the request may go ahead.  Another agent's id and an id that
        exists nowhere get the same answer, so an app cannot learn which contactIds exist."""
        if req.subtopic not in ID_CARRYING or not isinstance(req.data, OptionalId):
            return None
        some_id = req.data.id
        if some_id is None or s.owns(some_id):
            return None
        return f"{some_id} is not a contact of {s.login}"
