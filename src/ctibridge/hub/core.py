"""The hub: runs the engine against a backend and fans events out to app connections.

This is the I/O shell around the sans-IO engine: it feeds the engine commands (from apps),
snapshots (from the backend) and the time, and carries out the engine's outputs — backend
calls, journal appends and sends.  All of it runs on one asyncio loop, so the engine's outputs
are carried out in the order it returns them.

Group commit: a journal with ``append_many(entries)`` (entries = ``[(login, seq, data)]``) is
written once per loop tick instead of once per event.  Events published during a tick wait in
``_pending`` — with every send queued behind them, so no app's order changes — until
``_flush`` journals them in one call and only then hands them to the outboxes: the
journal-before-send rule holds.  Journals without ``append_many`` are written per event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from .. import protocol as p
from ..actions import BackendError
from ..backends.base import Backend
from ..clock import Clock
from ..engine import Broadcast, Engine, Execute, Output, Reply, Simulate
from ..journal import Journal, MemoryJournal
from ..model import AgentSnapshot
from ..protocol.requests import Request
from ..settings import Settings
from .transport import text_frame

log = logging.getLogger("ctibridge.hub")

Sender = Callable[[bytes], None]
AppendMany = Callable[[Sequence[tuple[str, int, bytes]]], None]


class AppConnection:
    """One app's connection to one agent: an ordered, bounded outbox drained by a writer.

    The outbox holds text (WebSocket text frames take ``str``): an event is decoded from its
    JSON bytes once and the same string is queued for every app."""

    def __init__(self, conn_id: str, login: str, limit: int) -> None:
        self.id = conn_id
        self.login = login
        self.outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.limit = limit
        self.overflowed = False
        # writes a prebuilt frame at once when the server offers it (hub/transport.py)
        self.direct: Callable[[bytes], bool] | None = None

    def push(self, data: str, frame: bytes | None = None) -> None:
        """Queue ``data`` for the writer; or, given its prebuilt ``frame`` and nothing of this
        app's waiting before it, write the frame at once (no writer, no per-app encoding)."""
        if self.overflowed:
            return
        direct = self.direct
        if frame is not None and direct is not None and self.outbox.empty() and direct(frame):
            return
        if self.outbox.qsize() >= self.limit:
            self.overflowed = True  # the writer closes the socket: a slow app never blocks others
            self.outbox.put_nowait(None)
            return
        self.outbox.put_nowait(data)

    def close(self) -> None:
        self.outbox.put_nowait(None)


class Hub:
    def __init__(
        self,
        backend: Backend,
        clock: Clock,
        settings: Settings | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.settings = settings or Settings()
        self.engine = Engine(deadline_ms=self.settings.command_deadline_ms)
        self.journal: Journal = journal or MemoryJournal(self.settings.journal_capacity)
        self.connections: dict[str, dict[str, AppConnection]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = False
        self.stats: dict[str, int] = {"commands": 0, "events": 0, "errors": 0}
        self._append_many: AppendMany | None = getattr(self.journal, "append_many", None)
        self._pending: list[tuple[str, int, bytes]] = []  # journal entries of this tick
        # sends waiting for them: (app, text, prebuilt frame or None)
        self._pending_sends: list[tuple[AppConnection, str, bytes | None]] = []

    # lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> None:
        now = self.clock.now_ms()
        for login in self.backend.logins():
            self.engine.add_agent(
                login,
                self.backend.snapshot(login),
                self.backend.directory(login),
                now,
                seq=self.journal.last_seq(login),
            )
            self.connections[login] = {}
        await self.backend.start(self._on_snapshot)
        self.started = True

    async def stop(self) -> None:
        self._flush()
        for conns in self.connections.values():
            for conn in conns.values():
                conn.close()
        for task in list(self._tasks):
            task.cancel()
        await self.backend.stop()
        self.journal.close()
        self.started = False

    # apps ----------------------------------------------------------------------------------------

    def knows(self, login: str) -> bool:
        return login in self.engine.sessions

    def attach(self, login: str, resume_from: int | None = None) -> AppConnection:
        """Register a new app connection; queue its sync (or resume replay) before live events."""
        conn = AppConnection(f"c{next(self._ids)}", login, self.settings.send_queue_limit)
        self._flush()  # the replay and the sync must see every event published so far
        if resume_from is not None:
            replay = self.journal.since(login, resume_from)
            if replay is not None:
                for data in replay:
                    conn.push(data.decode())
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
        self.connections[login][conn.id] = conn
        return conn

    def detach(self, conn: AppConnection) -> None:
        self.connections.get(conn.login, {}).pop(conn.id, None)

    def receive(self, login: str, origin: str, frame: bytes | str) -> Request | None:
        """Handle one frame from an app; protocol errors are answered to ``origin`` only."""
        try:
            request = p.decode_request(frame)
            if request.topic == "Simulator" and self.backend.name != "sim":
                raise p.ProtocolError(
                    "UNKNOWN_TOPIC", "Simulator", topic="Simulator", request=request.raw,
                    request_id=request.request_id,
                )  # fmt: skip
        except p.ProtocolError as err:
            self.stats["errors"] += 1
            self._reply(login, origin, p.protocol_error_event(err))
            return None
        self.submit(login, origin, request)
        return request

    def submit(self, login: str, origin: str, request: Request) -> None:
        self.stats["commands"] += 1
        self._run(self.engine.submit(login, origin, request, self.clock.now_ms()))

    # engine outputs ------------------------------------------------------------------------------

    def _on_snapshot(self, login: str, snapshot: AgentSnapshot) -> None:
        if login not in self.engine.sessions:
            return
        self._run(self.engine.snapshot(login, snapshot, self.clock.now_ms()))

    def _run(self, outputs: list[Output], only: AppConnection | None = None) -> None:
        for out in outputs:
            if isinstance(out, Broadcast):
                self._publish(out)
            elif isinstance(out, Reply):
                if only is not None and out.origin == only.id:
                    only.push(p.encode(out.envelope).decode())
                else:
                    self._reply(out.login, out.origin, out.envelope)
            elif isinstance(out, Execute | Simulate):
                task = asyncio.get_running_loop().create_task(self._carry_out(out))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _publish(self, out: Broadcast) -> None:
        data = p.encode(out.envelope)  # encoded (and decoded to text) once for every app
        seq = out.envelope.seq
        assert isinstance(seq, int)
        self.stats["events"] += 1
        conns = self.connections.get(out.login)
        if self._append_many is None:
            self.journal.append(out.login, seq, data)
            if conns:
                text, frame = data.decode(), text_frame(data)
                for conn in conns.values():
                    conn.push(text, frame)
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append((out.login, seq, data))
        if conns:
            text, frame = data.decode(), text_frame(data)
            self._pending_sends.extend((conn, text, frame) for conn in conns.values())

    def _flush(self) -> None:
        """Group commit: journal this tick's events in one call, then send what waited."""
        if not self._pending:
            return
        entries, sends = self._pending, self._pending_sends
        self._pending, self._pending_sends = [], []
        assert self._append_many is not None
        self._append_many(entries)
        for conn, text, frame in sends:
            conn.push(text, frame)

    def _reply(self, login: str, origin: str, envelope: p.Envelope) -> None:
        conn = self.connections.get(login, {}).get(origin)
        if conn is None:
            return
        text = p.encode(envelope).decode()
        if self._pending:
            self._pending_sends.append((conn, text, None))  # behind events waiting for the journal
        else:
            conn.push(text)

    async def _carry_out(self, out: Execute | Simulate) -> None:
        error: str | None = None
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
                log.exception("backend failed on %s", out)
                error = f"internal error: {type(e).__name__}"
        self._run(self.engine.result(out.login, out.command_id, error, self.clock.now_ms()))

    # read-only views ---------------------------------------------------------------------------

    def agent_state(self, login: str) -> dict[str, Any]:
        agent, call = self.engine.session(login).statesync()
        return {"agent": _plain(agent), "call": _plain(call)}

    def agents(self) -> list[dict[str, Any]]:
        rows = []
        for login, s in self.engine.sessions.items():
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


def _plain(env: p.Envelope) -> dict[str, Any]:
    result = msgspec.to_builtins(env)
    assert isinstance(result, dict)
    return result
