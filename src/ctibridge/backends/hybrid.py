"""``HybridBackend``: the production setup — the Streams bridge and Connect's server side together.

* While an agent's bridge is up, its snapshots are the agent's truth and every command goes to
  the bridge (it can do every verb).
* While the bridge is down, the Agent Event Stream / GetCurrentUserData view is the truth, and
  the verbs Connect has server-side still work: UpdateState / SetNotReady / Logout
  (``PutUserStatus``) and ClearContact (``DismissUserContact``); the others fail with
  ``bridge unavailable``.
* Reconciliation: while both are up, the bridge's view and the server's are compared (login,
  state, next state, which contacts and whether they ended).  A disagreement that lasts longer
  than ``reconcile_seconds`` is logged and both sides are re-read (the bridge sends a fresh
  snapshot, GetCurrentUserData is asked); the bridge's snapshot stays the one apps see.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Sequence

from starlette.routing import BaseRoute

from ..actions import Action, BackendError, Clear, Logout, SetState
from ..clock import Clock, Timer
from ..model import AgentSnapshot, Directory
from .base import Guard, Notice, SnapshotSink
from .connect import ConnectBackend
from .streams import BRIDGE_UNAVAILABLE, StreamsBackend
from .tasks import spawn

log = logging.getLogger("ctibridge.hybrid")

# what the server side can do for an agent whose bridge is down
SERVER_SIDE = (SetState, Logout, Clear)

Essence = tuple[object, ...]


def essence(snap: AgentSnapshot) -> Essence:
    """What both views must agree on (the server side knows no connections)."""
    return (
        snap.logged_in,
        snap.state.label,
        snap.next_state.label if snap.next_state is not None else None,
        tuple(sorted((c.contact_id, c.ended) for c in snap.contacts)),
    )


class HybridBackend:
    name = "hybrid"
    dynamic_directory = True  # the hub re-reads directory() with every snapshot

    def __init__(
        self,
        clock: Clock,
        streams: StreamsBackend,
        connect: ConnectBackend,
        *,
        reconcile_seconds: float = 10.0,
    ) -> None:
        self._clock = clock
        self.streams = streams
        self.connect = connect
        self.reconcile_ms = round(reconcile_seconds * 1000)
        self._sink: SnapshotSink | None = None
        self._notice: Notice | None = None
        self._disagree_since: dict[str, int] = {}
        self._timer: Timer | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.stats: Counter[str] = Counter()

    # --- Backend interface ----------------------------------------------------------------------

    async def prepare(self) -> None:
        await self.connect.prepare()

    async def start(self, sink: SnapshotSink) -> None:
        self._sink = sink
        self.streams.bind_notice(self._bridge_lost)
        await self.streams.start(self._from_bridge)
        await self.connect.start(self._from_server)
        self._arm()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await self.streams.stop()
        await self.connect.stop()
        self._sink = None

    def bind_notice(self, notice: Notice) -> None:
        self._notice = notice

    def routes(self) -> list[BaseRoute]:
        return self.streams.routes()

    def bind_guard(self, guard: Guard) -> None:
        self.streams.bind_guard(guard)

    def logins(self) -> Sequence[str]:
        return self.connect.logins()

    def _bridged(self, login: str) -> bool:
        return self.streams.reported(login)

    def snapshot(self, login: str) -> AgentSnapshot:
        if self._bridged(login):
            return self.streams.snapshot(login)
        return self.connect.snapshot(login)

    def directory(self, login: str) -> Directory:
        bridge = self.streams.directory(login)
        if self.streams.alive(login) and bridge.states:
            return bridge
        return self.connect.directory(login)

    async def execute(self, login: str, action: Action) -> None:
        if self.streams.alive(login):
            await self.streams.execute(login, action)
        elif isinstance(action, SERVER_SIDE):
            self.stats["server_side_commands"] += 1
            await self.connect.execute(login, action)
        else:
            raise BackendError(BRIDGE_UNAVAILABLE)

    def status(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "running": self._sink is not None,
            "bridge": self.streams.status(),
            "server": self.connect.status(),
            "reconciliation": dict(self.stats),
            "disagreeing": sorted(self._disagree_since),
        }

    # --- the two views --------------------------------------------------------------------------

    def _from_bridge(self, login: str, snap: AgentSnapshot) -> None:
        if self._sink is not None:
            self._sink(login, snap)
        self._compare(login)

    def _from_server(self, login: str, snap: AgentSnapshot) -> None:
        if not self._bridged(login) and self._sink is not None:
            self._sink(login, snap)
        self._compare(login)

    def _bridge_lost(self, login: str) -> None:
        """The server's view takes over; apps are told the state again."""
        self._disagree_since.pop(login, None)
        if self._sink is not None and self.connect.report_of(login) is not None:
            self._sink(login, self.connect.snapshot(login))
        if self._notice is not None:
            self._notice(login)

    def _compare(self, login: str) -> None:
        if not self._bridged(login) or self.connect.report_of(login) is None:
            self._disagree_since.pop(login, None)
            return
        bridge, server = self.streams.snapshot(login), self.connect.snapshot(login)
        if essence(bridge) == essence(server):
            self._disagree_since.pop(login, None)
            return
        now = self._clock.now_ms()
        since = self._disagree_since.setdefault(login, now)
        if now - since < self.reconcile_ms:
            return
        self.stats["reconciliations"] += 1
        log.warning(
            "%s: the bridge and the Agent Event Stream disagree for %.1f s (bridge %s, server %s);"
            " re-syncing",
            login, (now - since) / 1000, essence(bridge), essence(server),
        )  # fmt: skip
        self._disagree_since[login] = now  # the next check waits a full period again
        self._spawn(self._resync(login))

    async def _resync(self, login: str) -> None:
        await self.streams.resync(login)
        try:
            await self.connect.resync([login])
        except BackendError as e:
            log.warning("re-sync of %s failed: %s", login, e.code)

    def _arm(self) -> None:
        self._timer = self._clock.call_later(max(self.reconcile_ms / 2000, 0.5), self._tick)

    def _tick(self) -> None:
        if self._sink is None:
            return
        for login in self.logins():
            self._compare(login)
        self._arm()

    def _spawn(self, work: Awaitable[None]) -> None:
        spawn(self._tasks, work, log)
