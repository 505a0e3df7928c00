"""The hub: runs the engine against a backend and fans events out to app connections.

This is the I/O shell around the sans-IO engine: it feeds the engine commands (from apps),
snapshots (from the backend) and the time, and carries out the engine's outputs — backend
calls, journal appends and sends.  All of it runs on one asyncio loop, so the engine's outputs
are carried out in the order it returns them.

The production rules live here too, not in the engine:

* every broadcast of one engine step is appended to the journal and committed *before* any of
  it is sent, so an event an app has seen survives a crash (§6);
* each app has a bounded outbox (messages, bytes, and how far behind it is): an app that reads
  too slowly is dropped (close 1013), so it never delays the other apps;
* an engine step whose events cannot be journaled (a full disk) sends none of them: the hub
  withholds the agent's events, refuses its commands (``journal unavailable``), reports 503 on
  ``/healthz``, and retries the journal until it takes writes again, then resyncs the apps;
* a resume replay is read from the journal in pages (off the event loop for SQLite), each page
  only when the app's outbox has room for it; live events meanwhile wait behind it, counted
  against the same limit; each token may start only so many resumes per second;
* per-connection rate limits and connection limits (``[limits]``);
* on start, ``seq`` continues from the journal and the agent's last journaled snapshot is
  compared with the backend's: whatever changed while the hub was down is published as events;
* ``drain`` (SIGTERM) lets in-flight commands finish and apps take their last events, then
  closes them with 1012;
* every finished command goes to the metrics and the audit log.

Fan-out is cheap per app: each event is encoded once for all its apps, and where the server
offers it (``hub/transport.py``) its WebSocket frame is built once too, and an engine step's
events for an agent are written straight to each app's socket as one write — but only for an
app with nothing queued, whose connection is open, not closing and not paused by flow control;
any other app gets them one by one through its outbox as usual, so order per app and the
slow-app limit are unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from .. import auth
from .. import protocol as p
from ..backends.base import Backend, LearnsDirectory, LosesLink, Prepares, Simulates
from ..clock import Clock
from ..engine import Broadcast, Engine, Finished, Output, Reply
from ..journal import CommitsAsync, GroupCommits, Journal, open_journal
from ..model import AgentSnapshot
from ..protocol.registry import QUERIES
from ..protocol.requests import Request
from ..settings import Settings
from . import cluster_seam, journaling
from . import steps as steps_out
from .audit import AuditLog, audit_entry
from .calls import BackendCalls
from .closecodes import CLOSE_NORMAL, CLOSE_RESTART, CLOSE_TOO_SLOW
from .cluster_seam import CLUSTER_UNAVAILABLE, ClusterSeam
from .connection import AppConnection
from .limits import LimitExceeded, TokenBucket
from .metrics import HubMetrics
from .replay import resume_replay
from .steps import Step
from .tick import at_tick_end

log = logging.getLogger("ctibridge.hub")

JOURNAL_UNAVAILABLE = "journal unavailable"


class Hub:
    def __init__(
        self,
        backend: Backend,
        clock: Clock,
        settings: Settings | None = None,
        journal: Journal | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.settings = settings or Settings()
        a = self.settings.auth
        # a hub that checks tokens needs a usable key: refuse to exist without one
        self._secret = None if a.insecure else auth.check_secret(a.secret)
        self.engine = Engine(deadline_ms=self.settings.command_deadline_ms)
        self.journal: Journal = journal or open_journal(self.settings.journal)
        secrets = (a.secret,) if a.secret else ()
        # the journal's last write failed (its message): events are withheld, commands refused
        self.journal_error: str | None = None
        self._withheld: set[str] = set()  # agents with events not sent since the failure
        # per agent whose lease moved on with a commit: the apps whose StateSync, held behind
        # it, showed events never journaled (sent a new one once the node follows: steps.py)
        self._unsynced: dict[str, list[AppConnection]] = {}
        self._recovery: asyncio.Task[None] | None = None
        # HTTP origin -> the answers sent to it while its command is submitted (errors that go
        # to the sender only are then the HTTP response)
        self._http_answers: dict[str, list[p.Envelope]] = {}
        self._http_waiters: dict[str, asyncio.Event] = {}
        self._resume_buckets: dict[str, TokenBucket] = {}
        self.audit = audit or AuditLog(
            self.settings.audit.path, secrets, self.settings.audit.dtmf_visible_digits
        )
        self.metrics = HubMetrics()
        self.audit.on_drop = lambda n: self.metrics.count(self.metrics.audit_dropped, n=n)
        self.connections: dict[str, dict[str, AppConnection]] = {}
        self.connection_count = 0
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = False
        self.draining = False
        # per agent: the journal's last seq when this hub started (the previous life's end)
        self.boot_seq: dict[str, int] = {}
        # id(request) -> (arrival, app) until the engine reports it finished
        self._pending: dict[int, tuple[float, str]] = {}
        # the engine's Execute/Simulate outputs, each a backend call with its deadline
        self.calls = BackendCalls(self, self._tasks)
        # decided once, not per snapshot: a runtime Protocol check costs ~20 us
        self._learns_directory = isinstance(backend, LearnsDirectory) and backend.dynamic_directory
        self._http_buckets: dict[str, TokenBucket] = {}
        self.stats: dict[str, int] = {"commands": 0, "events": 0, "errors": 0}
        self.cluster: ClusterSeam | None = None  # cluster mode: set by the node (cluster_seam.py)
        # group commit (carry_out): the engine steps held until the end of this loop tick
        self._group = isinstance(self.journal, GroupCommits) and self.journal.group_commit
        # ... awaited on a journal whose commit is a round trip (the cluster's): the steps made
        # meanwhile are held behind it (steps.commits)
        self.commits_async = self._group and isinstance(self.journal, CommitsAsync)
        self._steps: list[Step] = []
        self._inflight: list[Step] = []  # the steps of the commit under way
        self._in_round = False  # a commit round under way (else one is about to start)
        self._committing: asyncio.Task[None] | None = None
        self._round_done: asyncio.Future[None] | None = None  # the commit under way is out
        self._next_done: asyncio.Future[None] | None = None  # the next one (of _steps) is out

    @property
    def insecure(self) -> bool:
        return self.settings.auth.insecure

    @property
    def simulates(self) -> bool:
        """The backend carries out the Simulator topic (only the simulator does)."""
        return isinstance(self.backend, Simulates)

    # lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        if isinstance(self.backend, Prepares):  # read their agents and state from Connect first
            await self.backend.prepare()
        now = self.clock.now_ms()
        for login in self.backend.logins():
            fresh = self.backend.snapshot(login)
            seq = self.journal.last_seq(login)
            self.boot_seq[login] = seq
            saved = journaling.saved_snapshot(self, login)
            directory = self.backend.directory(login)
            self.engine.add_agent(login, saved or fresh, directory, now, seq=seq)
            self.connections[login] = {}
            if saved is not None:
                # the agent as apps last saw it -> as the backend has it now: the difference is
                # published (and journaled) like any other change
                self._on_snapshot(login, fresh)
            else:
                journaling.save_state(self, login)
        self.carry_out([])  # commit the saved states
        if isinstance(self.backend, LosesLink):  # backends that can lose their link (bridge)
            self.backend.bind_notice(self.announce)
        await self.backend.start(self._on_snapshot)
        if self.cluster is not None:
            await self.cluster.start()
        self.started = True

    async def drain(self, timeout: float | None = None) -> None:
        """Stop taking frames, let in-flight commands finish, flush every app's outbox and close
        it with 1012 — all within ``timeout`` seconds (``[limits] drain_timeout_s``)."""
        self.draining = True
        limit = self.settings.limits.drain_timeout_s if timeout is None else timeout
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.engine.busy():
            await asyncio.sleep(0.01)
        for conns in self.connections.values():
            for conn in conns.values():
                conn.shut(CLOSE_RESTART, "server shutting down; resume later")
        while time.monotonic() < deadline and self.connection_count:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.draining = True
        await self.flushed()
        for conns in self.connections.values():
            for conn in conns.values():
                conn.shut(CLOSE_RESTART, "server shutting down; resume later", now=True)
        for task in list(self._tasks):
            task.cancel()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.backend.stop()
        self.journal.close()
        self.audit.close()
        self.started = False

    # auth ----------------------------------------------------------------------------------------

    def authenticate(self, token: str | None) -> auth.Grant | None:
        """The grant ``token`` carries (AuthError if none); None when the hub runs insecure."""
        if self._secret is None:
            return None
        return auth.verify(self._secret, token, int(time.time()))

    # apps ----------------------------------------------------------------------------------------

    def knows(self, login: str) -> bool:
        return login in self.engine.sessions

    def attach(
        self,
        login: str,
        resume_from: int | None = None,
        app: str = "",
        resume_key: str = "",
    ) -> AppConnection:
        """Register a new app connection; queue its sync (or start its resume replay) before
        live events.  ``resume_key`` names whose resume budget a resume spends (the token).

        Raises :class:`LimitExceeded` when the agent or the hub has no room for it, or when
        ``resume_key`` resumed too often.
        """
        limits = self.settings.limits
        conns = self.connections[login]
        if len(conns) >= limits.max_connections_per_agent:
            raise LimitExceeded(
                CLOSE_TOO_SLOW,
                f"too many connections for this agent (max {limits.max_connections_per_agent})",
                "agent_limit",
            )
        if self.connection_count >= limits.max_connections:
            raise LimitExceeded(
                CLOSE_TOO_SLOW,
                f"too many connections to this hub (max {limits.max_connections})",
                "hub_limit",
            )
        if resume_from is not None and not self._resume_allowed(resume_key):
            raise LimitExceeded(
                CLOSE_TOO_SLOW,
                f"more than {limits.resume_rate_per_s:g} resumes/s for this token",
                "resume_rate",
            )
        self.flush()  # events produced before this app came are journaled and out first
        bucket = TokenBucket(limits.rate_per_s, limits.rate_burst, time.monotonic())
        conn = AppConnection(
            f"c{next(self._ids)}", login, limits.send_queue, app, bucket,
            max_bytes=limits.send_queue_bytes, max_age_s=limits.send_queue_age_s,
        )  # fmt: skip
        if resume_from is not None:
            conn.held = []  # live events wait until the replay is out
            until = self.journal.last_seq(login)  # what was sent so far: the replay's end
            truth: list[str] = []
            if self.boot_seq.get(login, 0) and resume_from <= self.boot_seq[login]:
                # the app last saw the hub's previous life: after the replay (which ends with
                # what changed while the hub was down) it also gets the truth as of now
                sync = self.engine.sync(login, conn.id)
                truth = [p.encode(o.envelope).decode() for o in sync if isinstance(o, Reply)]
            replay = resume_replay(self, conn, resume_from, until, truth)
            task = asyncio.get_running_loop().create_task(replay)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.carry_out(self.engine.sync(login, conn.id), only=conn)
        conns[conn.id] = conn
        self.connection_count += 1
        self.metrics.connections.inc()
        self.metrics.connects.inc()
        return conn

    def _resume_allowed(self, key: str) -> bool:
        limits = self.settings.limits
        now = time.monotonic()
        bucket = self._resume_buckets.get(key)
        if bucket is None:
            if len(self._resume_buckets) >= 10_000:  # forget idle tokens' budgets (all full)
                self._resume_buckets.clear()
            bucket = TokenBucket(limits.resume_rate_per_s, limits.resume_burst, now)
            self._resume_buckets[key] = bucket
        return bucket.take(now)

    def detach(self, conn: AppConnection) -> None:
        conn.shut(CLOSE_NORMAL, "")  # a replay still being read for it stops
        if self.connections.get(conn.login, {}).pop(conn.id, None) is not None:
            self.connection_count -= 1
            self.metrics.connections.dec()

    def receive(self, login: str, origin: str, frame: bytes | str) -> Request | None:
        """Handle one frame from an app; protocol errors are answered to ``origin`` only."""
        arrival = time.perf_counter()
        self.metrics.count(self.metrics.frames)
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None and conn.close_code is not None:
            return None  # closing (its token expired, it is too slow): it drives nothing more
        if conn is not None and conn.bucket is not None and not conn.bucket.take(time.monotonic()):
            self._rate_limited(conn, frame)
            return None
        try:
            request = p.decode_request(frame)
            if request.topic == "Simulator" and not self.simulates:
                raise p.ProtocolError(
                    "UNKNOWN_TOPIC", "Simulator", topic="Simulator", request=request.raw,
                    request_id=request.request_id,
                )  # fmt: skip
        except p.ProtocolError as err:
            self._protocol_error(login, origin, err)
            return None
        self.submit(login, origin, request, app=conn.app if conn else "", arrival=arrival)
        return request

    def submit(
        self,
        login: str,
        origin: str,
        request: Request,
        *,
        app: str = "",
        arrival: float | None = None,
    ) -> None:
        self.stats["commands"] += 1
        if self.cluster is not None and self.cluster.route(login, origin, request, app):
            return  # another node's agent: sent to its owner (or answered), or queued
        self.run(login, origin, request, app=app, arrival=arrival)

    def run(
        self, login: str, origin: str, request: Request, *, app: str = "",
        arrival: float | None = None,
    ) -> None:  # fmt: skip
        """Carry a command out on this hub (the owner's, in a cluster: ``cluster_seam.run``)."""
        if self.journal_error is not None and request.subtopic not in QUERIES:
            self._journal_refusal(login, origin, request)
            return
        self._pending[id(request)] = (time.perf_counter() if arrival is None else arrival, app)
        self.carry_out(self.engine.submit(login, origin, request, self.clock.now_ms()))

    async def submit_http(
        self, login: str, origin: str, request: Request, app: str
    ) -> list[p.Envelope]:
        """:meth:`submit` for an HTTP request: the answers meant for the sender alone that it
        caused at once (FORBIDDEN, journal unavailable), for the HTTP response to carry.  In a
        cluster they may come from the owner, another node: the cluster says when they are in."""
        answers: list[p.Envelope] = []
        self._http_answers[origin] = answers
        try:
            self.submit(login, origin, request, app=app)
            await self.flushed()  # its answers may be held behind the tick's commit
            if self.cluster is not None:
                await self.cluster.settled(origin)
        finally:
            del self._http_answers[origin]
        return answers

    async def query_http(self, login: str, origin: str, request: Request, app: str) -> p.Envelope:
        """A query (StateSync, GetStates, CcpAgentState) over HTTP: through the agent's queue
        like any request - counted, and answered after the commands before it - and its answer
        is the HTTP response."""
        answers: list[p.Envelope] = []
        arrived = asyncio.Event()
        self._http_answers[origin] = answers
        self._http_waiters[origin] = arrived
        try:
            self.submit(login, origin, request, app=app)
            if not answers:  # behind a command in flight: its deadline bounds the wait
                await arrived.wait()
        finally:
            del self._http_answers[origin], self._http_waiters[origin]
        return answers[0]

    def _journal_refusal(self, login: str, origin: str, request: Request) -> None:
        """A command while events cannot be journaled: its failure, to the sender only (a
        broadcast would have to be journaled first)."""
        env = self._journal_error_event(request)
        self.count_error(env.message.type)  # type: ignore[union-attr]
        self.metrics.count(self.metrics.commands, request.topic, request.subtopic, "refused")
        self._reply(login, origin, env)

    def _journal_error_event(self, request: Request) -> p.Envelope:
        try:
            type_, text = p.failure_for(request.subtopic)
        except KeyError:
            type_, text = "INVALID_DATA", p.ERROR_TEXT["INVALID_DATA"]
        code = JOURNAL_UNAVAILABLE if self.cluster is None else CLUSTER_UNAVAILABLE
        return p.error_event(request.topic, type_, code, text, request.raw, request.request_id)

    def refuse_frame(self, conn: AppConnection, frame: bytes | str, type_: str, code: str) -> None:
        """Answer ``frame`` with a protocol error of ``type_`` (it is not carried out)."""
        topic: str
        raw: dict[str, Any] | None
        try:
            request = p.decode_request(frame)
            topic, raw, rid = request.topic, request.raw, request.request_id
        except p.ProtocolError as bad:
            topic, raw, rid = bad.topic, bad.request, bad.request_id
        err = p.ProtocolError(type_, code, topic=topic, request=raw, request_id=rid)
        self._protocol_error(conn.login, conn.id, err)

    def http_allowed(self, login: str) -> bool:
        """Spend one of the agent's HTTP budget; False when it is used up."""
        limits = self.settings.limits
        bucket = self._http_buckets.get(login)
        now = time.monotonic()
        if bucket is None:
            bucket = TokenBucket(limits.http_rate_per_s, limits.http_rate_burst, now)
            self._http_buckets[login] = bucket
        return bucket.take(now)

    def count_error(self, type_: str) -> None:
        self.stats["errors"] += 1
        self.metrics.count(self.metrics.errors, type_)

    # engine outputs ------------------------------------------------------------------------------

    def _on_snapshot(self, login: str, snapshot: AgentSnapshot) -> None:
        if login not in self.engine.sessions or not cluster_seam.owned(self, login):
            return
        if self._learns_directory:
            # learnt from Connect at run time (states, queues, quick connects): re-read each time
            self.engine.directory(login, self.backend.directory(login))
        outputs = self.engine.on_snapshot(login, snapshot, self.clock.now_ms())
        journaling.save_state(self, login)
        self.carry_out(outputs)

    def announce(self, login: str) -> None:
        """Tell the agent's apps its (last known) state again: the backend lost its link."""
        if login in self.engine.sessions and cluster_seam.owned(self, login):
            self.carry_out(self.engine.announce(login))

    def carry_out(
        self, outputs: list[Output], only: AppConnection | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        """Carry out one engine step's outputs, in order: its events journaled (appended and
        committed) before any of them is sent, then its answers, backend calls and bookkeeping;
        then ``then``.

        With a journal that groups commits (:class:`~ctibridge.journal.GroupCommits`) a step
        with events - and every step after it until the group is out, so that order holds - is
        held until the end of the loop tick: then all of the tick's events are appended and
        committed at once (one transaction) and only then sent (:meth:`flush`).  Its backend
        calls start at once: they send nothing themselves.  A journal whose commit is awaited
        (:class:`~ctibridge.journal.CommitsAsync`) holds the steps made while a commit is under
        way, an owned agent's new app's StateSync (``only``) too, until it is out
        (``steps.commits``): what that app is sent starts after the events it reflects."""
        if self._held(outputs, only):
            self._steps.append((outputs, only, then))
            if only is not None:  # its StateSync has the held events of its agent in it
                only.floor = max(only.floor, self.engine.session(only.login).seq)
        else:
            if self._steps:
                self.flush()  # a new app's answers come after the events already produced
            self._carry_out([(outputs, only, then)])
        self.calls.start_all(outputs)

    def _held(self, outputs: list[Output], only: AppConnection | None) -> bool:
        if not self._group:
            return False
        busy = bool(self._steps) or self._committing is not None
        if only is not None:  # a follower's events are not held: its apps' answers go at once
            if not (busy and self.commits_async and cluster_seam.owned(self, only.login)):
                return False
        elif not (busy or _broadcasts(outputs)):
            return False
        return busy or at_tick_end(self._tick_end)  # (no loop: carried out now)

    def _tick_end(self) -> None:
        if self.commits_async:
            steps_out.start_commits(self)
        else:
            self.flush()

    def flush(self) -> None:
        """Journal and send the engine steps held since the tick began (one commit); with an
        awaited commit, start it (:meth:`flushed` waits for it)."""
        if self.commits_async and steps_out.start_commits(self):
            return
        steps, self._steps = self._steps, []
        if steps:
            self._carry_out(steps)

    async def flushed(self) -> None:
        """Return once the steps held now are journaled and sent."""
        self.flush()
        done = steps_out.barrier(self)
        if done is not None:
            await asyncio.shield(done)

    def holds(self, login: str) -> bool:
        """Are events of ``login`` held, or being committed?"""
        return any(
            isinstance(o, Broadcast) and o.login == login
            for outputs, _, _ in (*self._inflight, *self._steps) for o in outputs
        )  # fmt: skip

    def _carry_out(self, steps: list[Step]) -> None:
        broadcasts, encoded = steps_out.encoded(steps)
        if self.commits_async and not broadcasts and at_tick_end(self._tick_end):
            # nothing to wait for: a snapshot saved goes with the next commit, never blocking
            steps_out.deliver(self, steps, broadcasts, encoded, journaling.NOTHING)
            return
        refused = journaling.write_step(self, broadcasts, encoded)
        steps_out.deliver(self, steps, broadcasts, encoded, refused)

    def resync_withheld(self) -> None:
        """Apps of agents whose events were withheld get the current state (StateSync)."""
        withheld, self._withheld = self._withheld, set()
        for login in withheld:
            for conn in list(self.connections.get(login, {}).values()):
                self.carry_out(self.engine.sync(login, conn.id), only=conn)

    def _reply(self, login: str, origin: str, envelope: p.Envelope) -> None:
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None:
            self._send(conn, p.encode(envelope).decode())
        elif self.cluster is not None and self.cluster.reply(login, origin, envelope):
            pass  # an app of another node: the answer went there
        else:
            answers = self._http_answers.get(origin)
            if answers is not None:
                answers.append(envelope)
                waiter = self._http_waiters.get(origin)
                if waiter is not None:
                    waiter.set()

    def _send(
        self, conn: AppConnection, data: str, frame: bytes | None = None, seq: int | None = None
    ) -> None:
        if conn.push(data, frame, seq):
            self.metrics.count(self.metrics.sent)
        else:
            self._unsent(conn)

    def _unsent(self, conn: AppConnection) -> None:
        """A push that did not go: the app is closing, or it just overflowed (then drop it)."""
        if conn.overflowed and conn.id in self.connections.get(conn.login, {}):
            self.detach(conn)
            self.metrics.disconnects.labels("slow").inc()
            log.warning(
                "app too slow, dropped",
                extra={"agent": conn.login, "app": conn.app, "conn": conn.id,
                       "code": CLOSE_TOO_SLOW, "queued": conn.outbox.qsize()},
            )  # fmt: skip

    def _protocol_error(self, login: str, origin: str, err: p.ProtocolError) -> None:
        self.count_error(err.type)
        self._reply(login, origin, p.protocol_error_event(err))

    def _rate_limited(self, conn: AppConnection, frame: bytes | str) -> None:
        limits = self.settings.limits
        code = f"more than {limits.rate_per_s:g} messages/s (burst {limits.rate_burst})"
        if conn.rate_limited == 0:
            log.warning(
                "app rate limited", extra={"agent": conn.login, "app": conn.app, "conn": conn.id}
            )
        conn.rate_limited += 1
        self.refuse_frame(conn, frame, "RATE_LIMITED", code)

    def _finished(self, done: Finished) -> None:
        arrival, app = self._pending.pop(id(done.request), (None, ""))
        req = done.request
        self.metrics.count(self.metrics.commands, req.topic, req.subtopic, done.outcome)
        elapsed = None if arrival is None else time.perf_counter() - arrival
        if elapsed is not None:
            self.metrics.observe(self.metrics.latency, elapsed, req.subtopic)
        if done.error_type is not None:
            self.count_error(done.error_type)
        if req.subtopic in QUERIES:
            return  # reads are counted, not audited
        self.audit.record(audit_entry(done, app, self.clock.now_ms(), elapsed))


def _broadcasts(outputs: list[Output]) -> bool:
    return any(isinstance(o, Broadcast) for o in outputs)
