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

Fan-out is cheap per app: each event is encoded and decoded to text once for all its apps, and
where the server offers it (``hub/transport.py``) its WebSocket frame is built once too and
written straight to each app's socket — but only for an app with nothing queued, whose
connection is open, not closing and not paused by flow control; any other app gets it through
its outbox as usual, so order per app and the slow-app limit are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from .. import auth
from .. import protocol as p
from ..actions import BackendError
from ..backends.base import Backend
from ..clock import Clock
from ..engine import Broadcast, Engine, Execute, Finished, Output, Reply, Simulate
from ..journal import Journal, open_journal
from ..model import AgentSnapshot
from ..protocol.registry import QUERIES
from ..protocol.requests import Request
from ..settings import Settings
from .audit import AuditLog
from .limits import LimitExceeded, TokenBucket
from .metrics import HubMetrics
from .transport import text_frame

log = logging.getLogger("ctibridge.hub")

CLOSE_RESTART = 1012  # the hub is shutting down or restarting: reconnect (and resume) later
CLOSE_TOO_SLOW = 1013  # try again later: the app read too slowly, or the hub is full
CLOSE_UNAUTHORIZED = 4401  # no token, or a token that does not authenticate
CLOSE_FORBIDDEN = 4403  # the token does not name this agent, or the page's origin is not allowed
CLOSE_UNKNOWN_AGENT = 4404
CLOSE_IDLE = 4408  # nothing received for [limits] idle_timeout_s

JOURNAL_UNAVAILABLE = "journal unavailable"
JOURNAL_RETRY_S = 0.5  # how often a failing journal is tried again
_THROTTLE_MARKERS = ("Throttl", "TooManyRequests", "429")


class ClusterSeam(Protocol):
    """What a cluster node (``ctibridge.cluster.node``) decides for the hub; the hub has none in
    single-process mode.  The node calls back through :meth:`Hub.adopt`, :meth:`Hub.follow` and
    :meth:`Hub.deliver`."""

    def owns(self, login: str) -> bool:
        """Does this node run ``login``'s engine session and backend link now?"""

    def route(self, login: str, origin: str, request: Request, app: str) -> bool:
        """True when the node has taken the command (sent it to the owner, or answered it)."""

    def reply(self, login: str, origin: str, envelope: p.Envelope) -> bool:
        """True when ``origin`` is an app of another node and the answer was sent there."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class AppConnection:
    """One app's connection to one agent: an ordered, bounded outbox drained by a writer.

    The hub pushes messages as text (WebSocket text frames take ``str``: an event is decoded
    from its JSON bytes once for all its apps); the transport's writer takes them in order and
    ends at the ``None`` that :meth:`shut` queues, closing with ``close_code``.  A push beyond
    ``limit`` shuts the connection at once (1013) — the transport's ``on_shut`` stops its writer
    even mid-send — and the hub forgets it: a slow app never holds up the others.
    """

    def __init__(
        self,
        conn_id: str,
        login: str,
        limit: int,
        app: str = "",
        bucket: TokenBucket | None = None,
        *,
        max_bytes: int = 0,
        max_age_s: float = 0.0,
    ) -> None:
        self.id = conn_id
        self.login = login
        self.app = app
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.limit = limit
        self.max_bytes = max_bytes  # 0: no bound
        self.max_age_s = max_age_s  # 0: no bound
        self.queued_bytes = 0
        self._stamps: deque[tuple[float, int]] = deque()  # per waiting message: (queued at, size)
        # while a resume replay is being read: live messages wait here, (seq, text), in order
        self.held: list[tuple[int | None, str]] | None = None
        self.bucket = bucket
        self.close_code: int | None = None
        self.close_reason = ""
        self.on_shut: Callable[[], None] | None = None
        self.rate_limited = 0
        # writes a prebuilt frame at once when the server offers it (hub/transport.py): True if
        # written, False if the connection cannot take it now (then it goes through the outbox)
        self.direct: Callable[[bytes], bool] | None = None
        self.sending = False  # the writer holds a message it has not handed to the socket yet

    @property
    def overflowed(self) -> bool:
        return self.close_code == CLOSE_TOO_SLOW

    def push(self, data: str, frame: bytes | None = None, seq: int | None = None) -> bool:
        """Queue ``data``; False if the connection is closing (or just overflowed).

        Given ``data``'s prebuilt ``frame`` and nothing of this app's waiting before it, the
        frame is written at once instead (no writer, no per-app encoding)."""
        if self.close_code is not None:
            return False
        if self.held is not None:  # behind a replay
            if len(self.held) + self.outbox.qsize() >= self.limit:
                self.shut(CLOSE_TOO_SLOW, f"too slow: {self.limit} messages waiting", now=True)
                return False
            self.held.append((seq, data))
            return True
        direct = self.direct
        if (
            frame is not None
            and direct is not None
            and not self.sending
            and self.outbox.empty()
            and direct(frame)
        ):
            return True
        return self.enqueue(data)

    def enqueue(self, data: str) -> bool:
        """Queue ``data`` for the writer, or drop the app (1013) when it is too far behind."""
        if self.close_code is not None:
            return False
        reason = self._too_slow(len(data))
        if reason is not None:
            self.shut(CLOSE_TOO_SLOW, reason, now=True)
            return False
        self.outbox.put_nowait(data)
        self.queued_bytes += len(data)
        self._stamps.append((time.monotonic(), len(data)))
        return True

    def _too_slow(self, size: int) -> str | None:
        if self.outbox.qsize() >= self.limit:
            return f"too slow: {self.limit} messages waiting"
        if not self._stamps:
            return None  # nothing waiting: any one message may go
        if self.max_bytes and self.queued_bytes + size > self.max_bytes:
            return f"too slow: over {self.max_bytes} bytes waiting"
        if self.max_age_s and time.monotonic() - self._stamps[0][0] > self.max_age_s:
            return f"too slow: more than {self.max_age_s:g} s behind"
        return None

    def room(self, count: int) -> bool:
        """Could ``count`` more messages be queued now (a replay page waits until they can)?"""
        if self.outbox.qsize() + count > self.limit:
            return False
        return not self.max_bytes or self.queued_bytes <= self.max_bytes // 2

    async def next(self) -> str | None:
        """The next message for the writer (None: close)."""
        data = await self.outbox.get()
        if data is not None and self._stamps:
            self.queued_bytes -= self._stamps.popleft()[1]
        return data

    def shut(self, code: int, reason: str, *, now: bool = False) -> None:
        """Close with ``code``: after the queued messages, or at once with ``now``."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self.outbox.put_nowait(None)
        if now and self.on_shut is not None:
            self.on_shut()

    def close(self) -> None:
        self.shut(1000, "")


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
        self._recovery: asyncio.Task[None] | None = None
        # HTTP origin -> the answers sent to it while its command is submitted (errors that go
        # to the sender only are then the HTTP response)
        self._http_answers: dict[str, list[p.Envelope]] = {}
        self._resume_buckets: dict[str, TokenBucket] = {}
        self.audit = audit or AuditLog(
            self.settings.audit.path, secrets, self.settings.audit.dtmf_visible_digits
        )
        self.metrics = HubMetrics()
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
        self._http_buckets: dict[str, TokenBucket] = {}
        self.stats: dict[str, int] = {"commands": 0, "events": 0, "errors": 0}
        self.cluster: ClusterSeam | None = None  # cluster mode: set by the node

    @property
    def insecure(self) -> bool:
        return self.settings.auth.insecure

    # lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        prepare = getattr(self.backend, "prepare", None)
        if prepare is not None:  # backends that read their agents and state from Connect first
            await prepare()
        now = self.clock.now_ms()
        for login in self.backend.logins():
            fresh = self.backend.snapshot(login)
            seq = self.journal.last_seq(login)
            self.boot_seq[login] = seq
            saved = self._saved_snapshot(login)
            directory = self.backend.directory(login)
            self.engine.add_agent(login, saved or fresh, directory, now, seq=seq)
            self.connections[login] = {}
            if saved is not None:
                # the agent as apps last saw it -> as the backend has it now: the difference is
                # published (and journaled) like any other change
                self._on_snapshot(login, fresh)
            else:
                self._save_state(login)
        self._run([])  # commit the saved states
        bind_notice = getattr(self.backend, "bind_notice", None)
        if bind_notice is not None:  # backends that can lose their link to Connect (bridge)
            bind_notice(self.announce)
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
        while time.monotonic() < deadline and any(
            s.inflight is not None or s.queue for s in self.engine.sessions.values()
        ):
            await asyncio.sleep(0.01)
        for conns in self.connections.values():
            for conn in conns.values():
                conn.shut(CLOSE_RESTART, "server shutting down; resume later")
        while time.monotonic() < deadline and self.connection_count:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.draining = True
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
            replay = self._replay(conn, resume_from, until, truth)
            task = asyncio.get_running_loop().create_task(replay)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._run(self.engine.sync(login, conn.id), only=conn)
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

    async def _replay(
        self, conn: AppConnection, resume_from: int, until: int, truth: list[str]
    ) -> None:
        """Send ``conn`` the journaled events after ``resume_from`` up to ``until`` (the last
        one sent when it connected), a page at a time, each page read when its outbox has room
        for it (off the loop when the journal allows); then ``truth`` (a StateSync pair as of
        its connecting, or nothing), then the live events that waited meanwhile."""
        login = conn.login
        size = max(1, self.settings.limits.replay_page)
        off_loop = getattr(self.journal, "reads_off_loop", False)
        after = resume_from
        if after < 0 or after > until:  # unreadable, or a seq this journal never held
            self._replay_gap(conn, after)
            return
        try:
            while after < until:
                while not conn.room(size) and conn.close_code is None:
                    await asyncio.sleep(0.02)  # the app first takes what it was sent
                count = min(size, until - after)
                if off_loop:
                    page = await asyncio.to_thread(self.journal.since, login, after, count)
                else:
                    page = self.journal.since(login, after, count)
                    await asyncio.sleep(0)  # other work runs between pages
                if conn.close_code is not None:
                    return
                if page is None or len(page) != count:
                    self._replay_gap(conn, after)
                    return
                for data in page:
                    if not conn.enqueue(data.decode()):
                        return
                after += count
        except Exception:  # a journal that cannot be read: the app starts afresh
            log.exception("resume replay failed", extra={"agent": login, "conn": conn.id})
            self._replay_gap(conn, after)
            return
        held, conn.held = conn.held or [], None
        for text in truth:
            if not conn.enqueue(text):
                return
        for _, text in held:  # all of them came after `until`
            if not conn.enqueue(text):
                return

    def _replay_gap(self, conn: AppConnection, after: int) -> None:
        """The journal no longer has what ``conn`` asked for: the current state + RESUME_GAP.
        Events that waited behind the replay are in that state; answers still go."""
        held, conn.held = conn.held or [], None
        self._run(self.engine.sync(conn.login, conn.id), only=conn)
        gap = p.error_event(
            "System",
            "RESUME_GAP",
            f"events after seq {after} are no longer in the journal",
            p.ERROR_TEXT["RESUME_GAP"],
            None,
            None,
        )
        conn.push(p.encode(gap).decode())
        for seq, text in held:
            if seq is None:
                conn.push(text)

    def detach(self, conn: AppConnection) -> None:
        conn.shut(1000, "")  # a replay still being read for it stops
        if self.connections.get(conn.login, {}).pop(conn.id, None) is not None:
            self.connection_count -= 1
            self.metrics.connections.dec()

    def receive(self, login: str, origin: str, frame: bytes | str) -> Request | None:
        """Handle one frame from an app; protocol errors are answered to ``origin`` only."""
        arrival = time.perf_counter()
        self.metrics.frames.inc()
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None and conn.close_code is not None:
            return None  # closing (its token expired, it is too slow): it drives nothing more
        if conn is not None and conn.bucket is not None and not conn.bucket.take(time.monotonic()):
            self._rate_limited(conn, frame)
            return None
        try:
            request = p.decode_request(frame)
            if request.topic == "Simulator" and self.backend.name != "sim":
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
            return
        if self.journal_error is not None and request.subtopic not in QUERIES:
            self._journal_refusal(login, origin, request)
            return
        self._pending[id(request)] = (time.perf_counter() if arrival is None else arrival, app)
        self._run(self.engine.submit(login, origin, request, self.clock.now_ms()))

    def submit_http(self, login: str, origin: str, request: Request, app: str) -> list[p.Envelope]:
        """:meth:`submit` for an HTTP request: the answers meant for the sender alone that it
        caused at once (FORBIDDEN, journal unavailable), for the HTTP response to carry."""
        answers: list[p.Envelope] = []
        self._http_answers[origin] = answers
        try:
            self.submit(login, origin, request, app=app)
        finally:
            del self._http_answers[origin]
        return answers

    def _journal_refusal(self, login: str, origin: str, request: Request) -> None:
        """A command while events cannot be journaled: its failure, to the sender only (a
        broadcast would have to be journaled first)."""
        env = self._journal_error_event(request)
        self.count_error(env.message.type)  # type: ignore[union-attr]
        self.metrics.commands.labels(request.topic, request.subtopic, "refused").inc()
        self._reply(login, origin, env)

    def _journal_error_event(self, request: Request) -> p.Envelope:
        try:
            type_, text = p.failure_for(request.subtopic)
        except KeyError:
            type_, text = "INVALID_DATA", p.ERROR_TEXT["INVALID_DATA"]
        return p.error_event(
            request.topic,
            type_,
            getattr(self.journal, "unavailable_code", JOURNAL_UNAVAILABLE),
            text,
            request.raw,
            request.request_id,
        )

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
        self.metrics.errors.labels(type_).inc()

    # engine outputs ------------------------------------------------------------------------------

    def _on_snapshot(self, login: str, snapshot: AgentSnapshot) -> None:
        if login not in self.engine.sessions or not self._owned(login):
            return
        if getattr(self.backend, "dynamic_directory", False):
            # learnt from Connect at run time (states, queues, quick connects): re-read each time
            self.engine.directory(login, self.backend.directory(login))
        outputs = self.engine.snapshot(login, snapshot, self.clock.now_ms())
        self._save_state(login)
        self._run(outputs)

    def announce(self, login: str) -> None:
        """Tell the agent's apps its (last known) state again: the backend lost its link."""
        if login in self.engine.sessions and self._owned(login):
            self._run(self.engine.announce(login))

    def _run(self, outputs: list[Output], only: AppConnection | None = None) -> None:
        steps = [o for o in outputs if isinstance(o, Broadcast)]
        encoded = [p.encode(o.envelope) for o in steps]
        journaled = self._journal(steps, encoded)
        broadcasts = iter(encoded)
        for out in outputs:
            if isinstance(out, Broadcast):
                data = next(broadcasts)
                if journaled:
                    seq = out.envelope.seq
                    self._publish(out.login, data, seq if isinstance(seq, int) else None)
                else:  # never sent: after a restart its seq could name another event
                    self._withheld.add(out.login)
            elif isinstance(out, Reply):
                if only is not None and out.origin == only.id:
                    only.push(p.encode(out.envelope).decode())
                else:
                    self._reply(out.login, out.origin, out.envelope)
            elif isinstance(out, Execute | Simulate):
                task = asyncio.get_running_loop().create_task(self._carry_out(out))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        for done in self.engine.take_finished():
            self._finished(done)
            withheld = self.journal_error is not None and done.login in self._withheld
            if withheld and done.request.subtopic not in QUERIES:
                # its events may have been withheld: the sender hears why (the StateSync sent
                # when the journal recovers shows what the command did)
                self._reply(done.login, done.origin, self._journal_error_event(done.request))
        if journaled and steps and self._withheld and self.journal_error is None:
            self._resync_withheld()

    def _journal(self, broadcasts: list[Broadcast], encoded: list[bytes]) -> bool:
        """Append and commit one engine step's events - before any of them is sent.  False
        when that failed: then none of them may be sent."""
        start = time.perf_counter()
        try:
            for out, data in zip(broadcasts, encoded, strict=True):
                seq = out.envelope.seq
                assert isinstance(seq, int)
                self.journal.append(out.login, seq, data)
            self.journal.commit()
        except Exception as e:
            self._journal_failed(e)
            return False
        if broadcasts:
            self.metrics.journal_lag.observe(time.perf_counter() - start)
            if self.journal_error is not None:
                self._journal_recovered()
        return True

    def _journal_failed(self, e: Exception) -> None:
        if self.journal_error is None:
            log.exception("journal write failed: withholding events, refusing commands",
                          extra={"kind": "journal"})  # fmt: skip
        self.journal_error = f"{type(e).__name__}: {e}"
        self.metrics.journal_errors.inc()
        self.metrics.journal_available.set(0)
        self.count_error("JOURNAL")
        if self._recovery is None or self._recovery.done():
            with contextlib.suppress(RuntimeError):  # no loop: the next step tries again
                self._recovery = asyncio.get_running_loop().create_task(self._retry_journal())
                self._tasks.add(self._recovery)
                self._recovery.add_done_callback(self._tasks.discard)

    def _journal_recovered(self) -> None:
        log.warning("journal writes succeed again", extra={"kind": "journal"})
        self.journal_error = None
        self.metrics.journal_available.set(1)

    async def _retry_journal(self) -> None:
        """Write the agents' states until the journal takes them: then it is back."""
        while self.journal_error is not None and not self.draining:
            await asyncio.sleep(JOURNAL_RETRY_S)
            if self.journal_error is None:
                break
            try:
                for login in self.engine.sessions:
                    self.journal.save_state(login, self._state_bytes(login))
                self.journal.commit()
            except Exception as e:
                self.journal_error = f"{type(e).__name__}: {e}"
                continue
            self._journal_recovered()
        if self.journal_error is None and self._withheld:
            self._resync_withheld()

    def _resync_withheld(self) -> None:
        """Apps of agents whose events were withheld get the current state (StateSync)."""
        withheld, self._withheld = self._withheld, set()
        for login in withheld:
            for conn in list(self.connections.get(login, {}).values()):
                self._run(self.engine.sync(login, conn.id), only=conn)

    def _publish(self, login: str, data: bytes, seq: int | None = None) -> None:
        self.stats["events"] += 1
        self.metrics.published.inc()
        conns = self.connections.get(login)
        if not conns:
            return
        text, frame = data.decode(), text_frame(data)  # once for every app
        for conn in list(conns.values()):
            self._send(conn, text, frame, seq)

    def _reply(self, login: str, origin: str, envelope: p.Envelope) -> None:
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None:
            self._send(conn, p.encode(envelope).decode())
        elif self.cluster is not None and self.cluster.reply(login, origin, envelope):
            pass
        else:
            answers = self._http_answers.get(origin)
            if answers is not None:
                answers.append(envelope)

    def _send(
        self, conn: AppConnection, data: str, frame: bytes | None = None, seq: int | None = None
    ) -> None:
        if conn.push(data, frame, seq):
            self.metrics.sent.inc()
        elif conn.overflowed and conn.id in self.connections.get(conn.login, {}):
            self.detach(conn)
            self.metrics.disconnects.labels("slow").inc()
            log.warning(
                "app too slow, dropped",
                extra={"agent": conn.login, "app": conn.app, "conn": conn.id, "code": 1013,
                       "queued": conn.outbox.qsize()},
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
        self.metrics.commands.labels(req.topic, req.subtopic, done.outcome).inc()
        elapsed = None if arrival is None else time.perf_counter() - arrival
        if elapsed is not None:
            self.metrics.latency.labels(req.subtopic).observe(elapsed)
        if done.error_type is not None:
            self.count_error(done.error_type)
        if req.subtopic in QUERIES:
            return  # reads are counted, not audited
        self.audit.record(
            {
                "ts": p.iso(self.clock.now_ms()),
                "agent": done.login,
                "app": app,
                "conn": done.origin,
                "source": req.source,
                "topic": req.topic,
                "subtopic": req.subtopic,
                "requestId": req.request_id,
                "contactId": done.contact_id,
                "data": (req.raw or {}).get("data"),
                "outcome": done.outcome,
                "errorType": done.error_type,
                "code": done.code,
                "ms": None if elapsed is None else round(elapsed * 1000, 3),
            }
        )

    async def _carry_out(self, out: Execute | Simulate) -> None:
        error: str | None = None
        start = time.perf_counter()
        try:
            if isinstance(out, Execute):
                timeout = self.settings.command_deadline_ms / 1000
                await asyncio.wait_for(self.backend.execute(out.login, out.action), timeout)
            else:
                simulate = getattr(self.backend, "simulate", None)
                if simulate is None:
                    raise BackendError("the backend has no simulator")
                simulate(out.login, out.subtopic, out.data)
        except TimeoutError:
            error = "timeout"
        except BackendError as e:
            error = e.code
        except Exception as e:
            code = getattr(e, "code", None)
            if isinstance(code, str):  # SimulatorError and other coded refusals
                error = code
            else:
                log.exception("backend failed", extra={"agent": out.login, "kind": "backend"})
                self.count_error("BACKEND")
                error = f"internal error: {type(e).__name__}"
        if isinstance(out, Execute):
            throttled = error is not None and any(m in error for m in _THROTTLE_MARKERS)
            outcome = "ok" if error is None else "throttled" if throttled else (
                "timeout" if error == "timeout" else "error"
            )  # fmt: skip
            self.metrics.backend_calls.labels(type(out.action).__name__, outcome).inc()
            self.metrics.backend_latency.observe(time.perf_counter() - start)
            if throttled:
                self.metrics.backend_throttles.inc()
        self._run(self.engine.result(out.login, out.command_id, error, self.clock.now_ms()))

    # cluster seams (ctibridge.cluster.node drives these) ------------------------------------------

    def _owned(self, login: str) -> bool:
        return self.cluster is None or self.cluster.owns(login)

    def adopt(self, login: str) -> None:
        """This node has just become ``login``'s owner: continue from the journal's seq and
        snapshot, and publish whatever the backend shows differently (the failover diff)."""
        now = self.clock.now_ms()
        seq = self.journal.last_seq(login)
        saved = self._saved_snapshot(login)
        restore = getattr(self.backend, "restore", None)
        if saved is not None and restore is not None:  # the simulator: its world is journaled
            restore(login, saved)
        fresh = self.backend.snapshot(login)
        self.engine.add_agent(login, saved or fresh, self.backend.directory(login), now, seq=seq)
        self.connections.setdefault(login, {})
        if saved is not None:
            self._on_snapshot(login, fresh)
        else:
            self._save_state(login)
            self._run([])

    def follow(self, login: str, events: list[tuple[int, bytes]], state: bytes | None) -> None:
        """Events another node (the owner) journaled: send them to this node's apps, and keep
        this node's view of the agent (StateSync, queries) at the owner's snapshot."""
        if login not in self.engine.sessions:
            return
        for seq, data in events:
            self._publish(login, data, seq)
        if state:
            try:
                snapshot = msgspec.json.decode(state, type=AgentSnapshot)
            except msgspec.DecodeError:
                snapshot = None
            if snapshot is not None:  # the owner's session, rebuilt (it sent the events)
                directory = self.backend.directory(login)
                now = self.clock.now_ms()
                self.engine.add_agent(
                    login, snapshot, directory, now, seq=self.journal.last_seq(login)
                )
                return
        self.engine.session(login).seq = self.journal.last_seq(login)  # the owner's, not ours

    def deliver(self, login: str, origin: str, text: str) -> None:
        """An answer the owner sent to ``origin``, an app of this node."""
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None:
            self._send(conn, text)

    # the journaled snapshot ----------------------------------------------------------------------

    def _state_bytes(self, login: str) -> bytes:
        return msgspec.json.encode(self.engine.session(login).snapshot)

    def _save_state(self, login: str) -> None:
        try:
            self.journal.save_state(login, self._state_bytes(login))
        except Exception:
            log.exception("journal save failed", extra={"agent": login, "kind": "journal"})
            self.metrics.journal_errors.inc()

    def _saved_snapshot(self, login: str) -> AgentSnapshot | None:
        data = self.journal.state(login)
        if data is None:
            return None
        try:
            return msgspec.json.decode(data, type=AgentSnapshot)
        except msgspec.DecodeError:
            log.warning("journaled snapshot unreadable; starting from the backend's",
                        extra={"agent": login})  # fmt: skip
            return None

    # read-only views ---------------------------------------------------------------------------

    def agent_state(self, login: str) -> dict[str, Any]:
        agent, call = self.engine.session(login).statesync()
        return {"agent": _plain(agent), "call": _plain(call)}

    def agents(self, only: frozenset[str] | None = None) -> list[dict[str, Any]]:
        rows = []
        for login, s in self.engine.sessions.items():
            if only is not None and login not in only:
                continue
            rows.append(
                {
                    "login": login,
                    "name": s.snapshot.info.name,
                    "loginState": "LoggedIn" if s.snapshot.logged_in else "LoggedOut",
                    "state": s.agent_view.shown.label,
                    "stateType": s.agent_view.shown.type,
                    "contacts": len(s.snapshot.contacts),
                    "apps": len(self.connections.get(login, {})),
                }
            )
        return rows

    def health(self) -> tuple[bool, dict[str, Any]]:
        journal = {**self.journal.health(), "writable": self.journal_error is None}
        if self.journal_error is not None:
            journal["ok"], journal["error"] = False, self.journal_error
        ok = self.started and not self.draining and bool(journal.get("ok"))
        status = "draining" if self.draining else "ok" if ok else (
            "starting" if not self.started else "degraded"
        )  # fmt: skip
        return ok, {
            "status": status,
            "backend": self.backend.status(),
            "journal": journal,
            "connections": self.connection_count,
            "auth": "off" if self.insecure else "tokens",
        }


def _plain(env: p.Envelope) -> dict[str, Any]:
    result = msgspec.to_builtins(env)
    assert isinstance(result, dict)
    return result
