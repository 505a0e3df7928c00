"""The engine: per-agent sessions that turn commands and snapshots into actions and events.

Sans-IO: every method takes the current time as ``now`` (ms) and returns a list of outputs for
the adapter to carry out — ``Execute``/``Simulate`` (call the backend, then report back with
:meth:`Engine.result`, or :meth:`Engine.expire` at the command's deadline), ``Broadcast``
(journal, then send to every app of the agent), ``Reply`` (send to one app only) and
``Finished`` (a command is done: for metrics and the audit log).  Nothing here awaits, reads a
clock or logs.

Commands of one agent run one at a time in arrival order (across all its apps).  Events caused
while a command is in flight carry its ``requestId``; a command that changed nothing visible is
still answered (§3: every request is answered), and one without a result by its deadline fails
with ``code`` ``timeout``.
"""

from __future__ import annotations

from .. import protocol as p
from ..errors import BackendTimeout, CtiBridgeError, RequestError
from ..model import AgentSnapshot, AgentState, Directory
from ..protocol.registry import ID_CARRYING, QUERIES
from ..protocol.requests import OptionalId, Request
from .commands import AGENT_PLANNERS, CALL_PLANNERS, Context, Refused
from .outputs import Broadcast, Execute, Finished, Outcome, Output, Reply, Simulate
from .session import CALL_TOPICS, AgentSession, Inflight, contact_views

DEFAULT_DEADLINE_MS = 10_000
# agent requests answered by SetAgentState + CcpAgentState, and those answered by a Mute event
STATE_REQUESTS = frozenset({"UpdateState", "SetNotReady"})
MUTE_REQUESTS = frozenset({"Mute", "Unmute"})


class UnknownAgent(RequestError, KeyError):
    """No session for this login (a KeyError too, as a lookup that failed)."""

    error_type = "UNKNOWN_AGENT"


class Engine:
    """All agent sessions of one hub."""

    def __init__(self, deadline_ms: int = DEFAULT_DEADLINE_MS) -> None:
        self.deadline_ms = deadline_ms
        self.sessions: dict[str, AgentSession] = {}
        self._command_ids = 0

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

    def on_snapshot(self, login: str, snapshot: AgentSnapshot, now: int) -> list[Output]:
        """The backend reported a new snapshot of ``login``: the events that tell apps."""
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
                outs = [
                    Reply(login, flight.origin, env),
                    self._done(s, flight.origin, req, outcome, "SIMULATOR_FAILED", code),
                ]
            else:
                # a backend's failure is reported with the subtopic's own failure type
                outs = self._failure(s, req, code, origin=flight.origin, outcome=outcome)
        else:
            outs = self._answer(s, flight)
            outs.append(self._done(s, flight.origin, req, "ok"))
        s.inflight = None
        return outs + self._pump(s, now)

    def expire(self, login: str, now: int) -> list[Output]:
        """Fail the in-flight command if its deadline has passed."""
        s = self.session(login)
        flight = s.inflight
        if flight is None or now < flight.deadline:
            return []
        return self.result(login, flight.command_id, BackendTimeout(), now)

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
        done = self._done(s, origin, req, outcome, type_, code)
        return [Broadcast(s.login, p.with_seq(env, s.seq)), done]

    def _done(
        self,
        s: AgentSession,
        origin: str,
        req: Request,
        outcome: Outcome,
        error_type: str | None = None,
        code: str | None = None,
    ) -> Finished:
        flight = s.inflight
        if flight is not None and flight.request is req:
            contact_id = flight.contact_id
        else:
            contact = s.snapshot.voice_contact
            contact_id = contact.contact_id if contact is not None else None
        return Finished(s.login, origin, req, outcome, error_type, code, contact_id)

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
            views = list(contact_views(contact))
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
            return [Reply(login, origin, self.query(login, req)), self._done(s, origin, req, "ok")]
        forbidden = self._forbidden(s, req)
        if forbidden is not None:
            done = self._done(s, origin, req, "forbidden", "FORBIDDEN", forbidden)
            env = p.error_event(
                req.topic, "FORBIDDEN", forbidden, p.ERROR_TEXT["FORBIDDEN"], req.raw,
                req.request_id,
            )  # fmt: skip
            return [Reply(login, origin, env), done]
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
