"""``StreamsBackend``: agents driven through the Streams bridge page in each agent's browser.

Each agent has at most one bridge: the page ``/bridge?agent=LOGIN`` served by the hub, which
runs amazon-connect-streams (the CCP, softphone on) and holds a WebSocket to ``/bridge/ws``.
The bridge sends a snapshot on every Streams refresh; the backend maps it
(:mod:`.mapping`) and hands it to the hub.  ``execute`` sends the action to the bridge and waits
for its result — which the bridge sends only after the snapshot that shows the action's effect,
so the events an action causes carry its requestId.

Liveness: every bridge message counts as a sign of life; a bridge silent for
``timeout_seconds`` (or whose socket closed) is gone.  Commands then fail with
``bridge unavailable`` and the agent's apps get a SetAgentState with the last known state.

Trust: the bridge socket passes the hub's Origin and token checks (``bind_guard``), and every
snapshot must come from a CCP signed in as the agent itself (Streams'
``agent.getConfiguration().username`` is the login): a bridge signed in as anyone else is
closed with 4403 and logged, before any of its snapshots is taken, and is sent no command.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec
from starlette.routing import BaseRoute

from ...actions import (
    Action,
    BackendError,
    Dial,
    Hangup,
    Hold,
    Login,
    Logout,
    Resume,
    SendDigits,
    SetState,
)
from ...clock import Clock, Timer
from ...config import BridgeConfig
from ...model import AgentInfo, AgentSnapshot, AgentState, Directory
from ..base import Guard, Notice, SnapshotSink
from ..tasks import spawn
from . import wire
from .mapping import SnapshotMapper, agent_state, logged_out

log = logging.getLogger("ctibridge.bridge")

# the verbs that name a leg: the customer leg's wire id (its contact's id) becomes its Streams id
LEG_ACTIONS = (Hold, Resume, Hangup, SendDigits)

BRIDGE_UNAVAILABLE = "bridge unavailable"
CLOSE_FORBIDDEN = 4403
CLOSE_REPLACED = 4409
CLOSE_SILENT = 4408


class BridgeLink:
    """One bridge's socket, as the backend needs it (sending and closing)."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.send = send
        self.close = close


@dataclass
class _Agent:
    info: AgentInfo
    snap: AgentSnapshot
    directory: Directory
    mapper: SnapshotMapper = field(default_factory=SnapshotMapper)
    link: BridgeLink | None = None
    last_seen: int = 0
    connected_since: int | None = None
    pending: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    state_before_logout: AgentState | None = None
    snapshots: int = 0
    reported: bool = False  # a snapshot since the bridge connected


class StreamsBackend:
    """Implements ``ctibridge.backends.base.Backend`` over the bridge pages."""

    name = "streams"
    dynamic_directory = True  # the hub re-reads directory() with every snapshot

    def __init__(
        self,
        clock: Clock,
        config: BridgeConfig,
        agents: Sequence[str] | Mapping[str, AgentInfo],
        *,
        ccp_url: str = "",
        region: str = "",
    ) -> None:
        self._clock = clock
        self.config = config
        self.ccp_url = ccp_url
        self.region = region
        now = clock.now_ms()
        infos = (
            dict(agents)
            if isinstance(agents, Mapping)
            else {login: AgentInfo(login=login, name=login) for login in agents}
        )
        self._agents = {
            login: _Agent(info=info, snap=logged_out(info, now), directory=Directory(states=()))
            for login, info in infos.items()
        }
        self._sink: SnapshotSink | None = None
        self._notice: Notice | None = None
        self.guard: Guard | None = None
        self._ids = itertools.count(1)
        self._watchdog: Timer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- Backend interface ----------------------------------------------------------------------

    async def start(self, sink: SnapshotSink) -> None:
        self._sink = sink
        self._arm_watchdog()

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for login, agent in self._agents.items():
            if agent.link is not None:
                link = agent.link
                self._lost(login, "the hub is stopping", notify=False)
                with contextlib.suppress(Exception):
                    await link.close(1001, "the hub is stopping")
        self._sink = None

    def bind_notice(self, notice: Notice) -> None:
        self._notice = notice

    def bind_guard(self, guard: Guard) -> None:
        """The hub's Origin and token checks, for the bridge socket (``routes.py``)."""
        self.guard = guard

    def routes(self) -> list[BaseRoute]:
        """The bridge page, its scripts and its WebSocket, mounted by the hub's app."""
        from .routes import bridge_routes

        return bridge_routes(self)

    def logins(self) -> Sequence[str]:
        return list(self._agents)

    def snapshot(self, login: str) -> AgentSnapshot:
        return self._agents[login].snap

    def directory(self, login: str) -> Directory:
        return self._agents[login].directory

    def alive(self, login: str) -> bool:
        return self._agents[login].link is not None

    def reported(self, login: str) -> bool:
        """The bridge is up and has sent a snapshot since it connected."""
        agent = self._agents[login]
        return agent.link is not None and agent.reported

    async def resync(self, login: str) -> None:
        """Ask the bridge for a fresh snapshot and directory."""
        link = self._agents[login].link
        if link is not None:
            with contextlib.suppress(Exception):
                await link.send(wire.encode(wire.Resync()))

    async def execute(self, login: str, action: Action) -> None:
        agent = self._agents[login]
        link = agent.link
        if link is None or not agent.reported:  # not before its CCP showed who is signed in
            raise BackendError(BRIDGE_UNAVAILABLE)
        command = self._translate(agent, action)
        command_id = next(self._ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        agent.pending[command_id] = future
        if isinstance(action, Dial):
            agent.mapper.pending_topic = action.topic
        try:
            await link.send(wire.encode(wire.Command(id=command_id, action=command)))
            await future
        except BackendError:
            if isinstance(action, Dial):
                agent.mapper.pending_topic = None
            raise
        except Exception as e:  # the socket failed while sending
            raise BackendError(BRIDGE_UNAVAILABLE) from e
        finally:
            agent.pending.pop(command_id, None)

    def status(self) -> dict[str, object]:
        now = self._clock.now_ms()
        return {
            "backend": self.name,
            "running": self._sink is not None,
            "agents": len(self._agents),
            "bridges": {
                login: {
                    "connected": a.link is not None,
                    "lastSeenMsAgo": now - a.last_seen if a.link is not None else None,
                    "snapshots": a.snapshots,
                }
                for login, a in self._agents.items()
            },
        }

    # --- commands -------------------------------------------------------------------------------

    def _translate(self, agent: _Agent, action: Action) -> Action:
        """The CCP knows no login/logout but the Offline state: both become a state change.
        A leg is named by its Streams id (mapping.py puts the customer leg on the wire as the
        contact's id)."""
        if isinstance(action, LEG_ACTIONS):
            streams_id = agent.mapper.streams_leg(action.contact_id, action.connection_id)
            return msgspec.structs.replace(action, connection_id=streams_id)
        if isinstance(action, Logout):
            offline = next((s for s in agent.directory.states if s.type == "offline"), None)
            if offline is None:
                raise BackendError("the agent has no Offline state")
            return SetState(state=offline)
        if isinstance(action, Login):
            states = agent.directory.states
            target = agent.state_before_logout or next(
                (s for s in states if s.type == "routable"), None
            )
            if target is None:
                raise BackendError("the agent has no routable state")
            return SetState(state=target)
        return action

    # --- the bridge side ------------------------------------------------------------------------

    def knows(self, login: str) -> bool:
        return login in self._agents

    def attach(self, login: str, link: BridgeLink) -> None:
        """A bridge page connected for ``login``; a newer bridge replaces an older one."""
        agent = self._agents[login]
        old = agent.link
        if old is not None:
            self._lost(login, "replaced by a newer bridge", notify=False)
            self._spawn(old.close(CLOSE_REPLACED, "replaced by a newer bridge"))
        agent.link = link
        agent.reported = False
        agent.last_seen = agent.connected_since = self._clock.now_ms()
        self._spawn(link.send(wire.encode(wire.Resync())))
        log.info("bridge for %s connected", login)

    def detach(self, login: str, link: BridgeLink) -> None:
        """The bridge's socket closed."""
        if self._agents[login].link is link:
            self._lost(login, "socket closed")

    def receive(self, login: str, link: BridgeLink, frame: str | bytes) -> None:
        agent = self._agents[login]
        if agent.link is not link:
            return  # a replaced bridge still talking
        try:
            message = wire.decode(frame)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            log.warning("bridge for %s sent a malformed message: %s", login, e)
            return
        agent.last_seen = self._clock.now_ms()
        match message:
            case wire.Snapshot():
                user = message.snapshot.configuration.username
                if user != login:
                    self._impostor(login, link, user)
                    return
                self._on_snapshot(login, agent, message.snapshot)
            case wire.DirectoryReport():
                agent.directory = _directory(message)
                if self._sink is not None:  # the hub reads the directory on every report
                    self._sink(login, agent.snap)
            case wire.Result():
                future = agent.pending.get(message.id)
                if future is not None and not future.done():
                    if message.error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(BackendError(message.error))
            case wire.Hello():
                if message.agent != login:
                    log.warning("bridge for %s says it is %s", login, message.agent)
            case wire.Heartbeat():
                pass
            case wire.Bye():
                # lost now, not when the socket times out: commands fail at once
                self._lost(login, "the bridge page closed")
                self._spawn(link.close(1000, "the bridge page closed"))

    def _on_snapshot(self, login: str, agent: _Agent, raw: wire.StreamsSnapshot) -> None:
        info = agent.info
        config = raw.configuration
        if config.name:
            info = msgspec.structs.replace(
                info,
                name=config.name,
                extension=config.extension,
                softphone_enabled=config.softphoneEnabled,
                routing_profile=config.routingProfile or info.routing_profile,
                queues=agent.directory.queues or info.queues,
                arn=config.agentARN or info.arn,
            )
            agent.info = info
        snap = agent.mapper.map(raw, info, agent.directory.states)
        if snap.logged_in:
            agent.state_before_logout = snap.state
        agent.snap = snap
        agent.snapshots += 1
        agent.reported = True
        if self._sink is not None:
            self._sink(login, snap)

    def _impostor(self, login: str, link: BridgeLink, user: str) -> None:
        """A CCP signed in as someone else (or saying nothing): refuse the bridge."""
        log.warning("bridge for %s refused: its CCP is signed in as %r", login, user)
        self._lost(login, "signed in as another user")
        self._spawn(link.close(CLOSE_FORBIDDEN, "the CCP is signed in as another user"))

    def _lost(self, login: str, why: str, *, notify: bool = True) -> None:
        agent = self._agents[login]
        agent.link = None
        agent.connected_since = None
        for future in agent.pending.values():
            if not future.done():
                future.set_exception(BackendError(BRIDGE_UNAVAILABLE))
        agent.pending.clear()
        log.warning("bridge for %s lost: %s", login, why)
        if notify and self._notice is not None:
            self._notice(login)

    # --- liveness -------------------------------------------------------------------------------

    def _arm_watchdog(self) -> None:
        self._watchdog = self._clock.call_later(self.config.heartbeat_seconds, self._check)

    def _check(self) -> None:
        if self._sink is None:
            return
        now = self._clock.now_ms()
        limit = round(self.config.timeout_seconds * 1000)
        for login, agent in self._agents.items():
            link = agent.link
            if link is not None and now - agent.last_seen > limit:
                self._lost(login, f"silent for {(now - agent.last_seen) / 1000:.1f} s")
                self._spawn(link.close(CLOSE_SILENT, "no heartbeat"))
        self._arm_watchdog()

    def _spawn(self, work: Awaitable[None]) -> None:
        spawn(self._tasks, work, log)


def _directory(report: wire.DirectoryReport) -> Directory:
    """The usable entries of a directory report (an entry without a name or type is skipped)."""
    states = [
        wire.StreamsState(name=s.name, type=s.type) for s in report.states if s.name and s.type
    ]
    endpoints = [e for e in report.endpoints if e.name]
    return Directory(
        states=tuple(agent_state(s) for s in states),
        queues=tuple(q.name for q in report.queues if q.name),
        quick_connects=tuple(e.name for e in endpoints if e.name),
        agents=tuple(e.name for e in endpoints if e.name and e.type == "agent"),
    )
