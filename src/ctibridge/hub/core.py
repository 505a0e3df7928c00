"""The hub: runs the engine against a backend and fans events out to app connections.

This is the I/O shell around the sans-IO engine: it feeds the engine commands (from apps),
snapshots (from the backend) and the time, and carries out the engine's outputs — backend
calls, journal appends and sends.  All of it runs on one asyncio loop, so the engine's outputs
are carried out in the order it returns them.

The production rules live here too, not in the engine:

* every broadcast of one engine step is appended to the journal and committed *before* any of
  it is sent, so an event an app has seen survives a crash (§6);
* each app has a bounded outbox: an app that reads too slowly is dropped (close 1013), so it
  never delays the other apps;
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
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

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

_THROTTLE_MARKERS = ("Throttl", "TooManyRequests", "429")


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
    ) -> None:
        self.id = conn_id
        self.login = login
        self.app = app
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.limit = limit
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

    def push(self, data: str, frame: bytes | None = None) -> bool:
        """Queue ``data``; False if the connection is closing (or just overflowed).

        Given ``data``'s prebuilt ``frame`` and nothing of this app's waiting before it, the
        frame is written at once instead (no writer, no per-app encoding)."""
        if self.close_code is not None:
            return False
        direct = self.direct
        if (
            frame is not None
            and direct is not None
            and not self.sending
            and self.outbox.empty()
            and direct(frame)
        ):
            return True
        if self.outbox.qsize() >= self.limit:
            self.shut(CLOSE_TOO_SLOW, f"too slow: {self.limit} messages waiting", now=True)
            return False
        self.outbox.put_nowait(data)
        return True

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
        self.audit = audit or AuditLog(self.settings.audit.path, secrets)
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

    def attach(self, login: str, resume_from: int | None = None, app: str = "") -> AppConnection:
        """Register a new app connection; queue its sync (or resume replay) before live events.

        Raises :class:`LimitExceeded` when the agent or the hub has no room for it.
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
        bucket = TokenBucket(limits.rate_per_s, limits.rate_burst, time.monotonic())
        conn = AppConnection(f"c{next(self._ids)}", login, limits.send_queue, app, bucket)
        if resume_from is not None:
            replay = self.journal.since(login, resume_from)
            if replay is not None:
                conn.limit += len(replay)  # the replay itself never makes an app "too slow"
                for data in replay:
                    conn.push(data.decode())
                if self.boot_seq.get(login, 0) and resume_from <= self.boot_seq[login]:
                    # the app last saw the hub's previous life: after the replay (which ends
                    # with what changed while the hub was down) it also gets the current truth
                    self._run(self.engine.sync(login, conn.id), only=conn)
            else:
                self._run(self.engine.sync(login, conn.id), only=conn)
                gap = p.error_event(
                    "System",
                    "RESUME_GAP",
                    f"events after seq {resume_from} are no longer in the journal",
                    p.ERROR_TEXT["RESUME_GAP"],
                    None,
                    None,
                )
                conn.push(p.encode(gap).decode())
        else:
            self._run(self.engine.sync(login, conn.id), only=conn)
        conns[conn.id] = conn
        self.connection_count += 1
        self.metrics.connections.inc()
        self.metrics.connects.inc()
        return conn

    def detach(self, conn: AppConnection) -> None:
        if self.connections.get(conn.login, {}).pop(conn.id, None) is not None:
            self.connection_count -= 1
            self.metrics.connections.dec()

    def receive(self, login: str, origin: str, frame: bytes | str) -> Request | None:
        """Handle one frame from an app; protocol errors are answered to ``origin`` only."""
        arrival = time.perf_counter()
        self.metrics.frames.inc()
        conn = self.connections.get(login, {}).get(origin)
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
        self._pending[id(request)] = (time.perf_counter() if arrival is None else arrival, app)
        self._run(self.engine.submit(login, origin, request, self.clock.now_ms()))

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
        if login not in self.engine.sessions:
            return
        if getattr(self.backend, "dynamic_directory", False):
            # learnt from Connect at run time (states, queues, quick connects): re-read each time
            self.engine.directory(login, self.backend.directory(login))
        outputs = self.engine.snapshot(login, snapshot, self.clock.now_ms())
        self._save_state(login)
        self._run(outputs)

    def announce(self, login: str) -> None:
        """Tell the agent's apps its (last known) state again: the backend lost its link."""
        if login in self.engine.sessions:
            self._run(self.engine.announce(login))

    def _run(self, outputs: list[Output], only: AppConnection | None = None) -> None:
        encoded = [p.encode(o.envelope) for o in outputs if isinstance(o, Broadcast)]
        self._journal([o for o in outputs if isinstance(o, Broadcast)], encoded)
        broadcasts = iter(encoded)
        for out in outputs:
            if isinstance(out, Broadcast):
                self._publish(out.login, next(broadcasts))
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

    def _journal(self, broadcasts: list[Broadcast], encoded: list[bytes]) -> None:
        """Append and commit one engine step's events - before any of them is sent."""
        start = time.perf_counter()
        try:
            for out, data in zip(broadcasts, encoded, strict=True):
                seq = out.envelope.seq
                assert isinstance(seq, int)
                self.journal.append(out.login, seq, data)
            self.journal.commit()
        except Exception:
            # the apps connected now still get the events; resume across this gap will not
            log.exception("journal append failed", extra={"kind": "journal"})
            self.metrics.journal_errors.inc()
            self.count_error("JOURNAL")
            return
        if broadcasts:
            self.metrics.journal_lag.observe(time.perf_counter() - start)

    def _publish(self, login: str, data: bytes) -> None:
        self.stats["events"] += 1
        self.metrics.published.inc()
        conns = self.connections.get(login)
        if not conns:
            return
        text, frame = data.decode(), text_frame(data)  # once for every app
        for conn in list(conns.values()):
            self._send(conn, text, frame)

    def _reply(self, login: str, origin: str, envelope: p.Envelope) -> None:
        conn = self.connections.get(login, {}).get(origin)
        if conn is not None:
            self._send(conn, p.encode(envelope).decode())

    def _send(self, conn: AppConnection, data: str, frame: bytes | None = None) -> None:
        if conn.push(data, frame):
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
        topic: str
        raw: dict[str, Any] | None
        try:
            request = p.decode_request(frame)
            topic, raw, rid = request.topic, request.raw, request.request_id
        except p.ProtocolError as bad:
            topic, raw, rid = bad.topic, bad.request, bad.request_id
        limits = self.settings.limits
        code = f"more than {limits.rate_per_s:g} messages/s (burst {limits.rate_burst})"
        if conn.rate_limited == 0:
            log.warning(
                "app rate limited", extra={"agent": conn.login, "app": conn.app, "conn": conn.id}
            )
        conn.rate_limited += 1
        limited = p.ProtocolError("RATE_LIMITED", code, topic=topic, request=raw, request_id=rid)
        self._protocol_error(conn.login, conn.id, limited)

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

    # the journaled snapshot ----------------------------------------------------------------------

    def _save_state(self, login: str) -> None:
        try:
            self.journal.save_state(login, msgspec.json.encode(self.engine.session(login).snapshot))
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
        journal = self.journal.health()
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
