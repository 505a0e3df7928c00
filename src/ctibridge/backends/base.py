"""The one small interface every backend implements (sim, streams bridge, connect, hybrid),
and the capabilities only some have, each a small protocol the hub checks with ``isinstance``
(so mypy knows the method exists where the hub calls it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..actions import Action
from ..model import AgentSnapshot, Directory

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

SnapshotSink = Callable[[str, AgentSnapshot], None]
"""Called with (login, snapshot) whenever an agent's snapshot changes, on the event loop."""


@runtime_checkable
class Backend(Protocol):
    name: str

    async def start(self, sink: SnapshotSink) -> None:
        """Begin reporting snapshots to ``sink``."""

    async def stop(self) -> None: ...

    def logins(self) -> Sequence[str]:
        """The agents this backend knows."""

    def snapshot(self, login: str) -> AgentSnapshot:
        """The latest snapshot of ``login`` (KeyError for an unknown agent) - a getter: the
        snapshots themselves reach the hub through the sink."""

    def directory(self, login: str) -> Directory:
        """States, queues, quick connects and agents ``login`` may use."""

    async def execute(self, login: str, action: Action) -> None:
        """Carry out ``action`` for ``login``.

        Returns once Connect accepted it (the resulting snapshot may already have been sent to
        the sink, or may follow); raises ``BackendError`` when it was refused.
        """

    def status(self) -> dict[str, object]:
        """Health details for ``/healthz``."""


Notice = Callable[[str], None]
"""Called with a login when the backend lost its link to Connect for that agent."""

Guard = Callable[[Any, str], Awaitable[object]]
"""Accepts a backend's WebSocket for a login after the hub's checks; False when it refused it."""


@runtime_checkable
class Prepares(Protocol):
    async def prepare(self) -> None:
        """Read the agents and their state from Connect, before ``logins`` is asked."""


@runtime_checkable
class LosesLink(Protocol):
    def bind_notice(self, notice: Notice) -> None:
        """Tell ``notice`` the agents whose link to Connect was lost (the bridge page closed)."""


@runtime_checkable
class LearnsDirectory(Protocol):
    """States, queues and quick connects are learnt from Connect at run time: the hub re-reads
    ``directory`` with every snapshot."""

    dynamic_directory: bool


@runtime_checkable
class ExecutesAtOnce(Protocol):
    """Carries out actions synchronously (the simulator): while ``executes_at_once`` the hub
    calls :meth:`execute_now` inline, without a task or a deadline timer per command - nothing
    can come between the call and its result, so its deadline cannot pass.  (False when
    ``execute`` was wrapped in something that takes time.)"""

    executes_at_once: bool

    def execute_now(self, login: str, action: Action) -> None:
        """:meth:`Backend.execute`, done before it returns."""


@runtime_checkable
class Simulates(Protocol):
    """Carries out the ``Simulator`` topic (docs/protocol.md §7): only the simulator."""

    def simulate(self, login: str, subtopic: str, data: object) -> None:
        """Raises a RequestError (SimulatorError) when the command cannot be carried out."""


@runtime_checkable
class Restores(Protocol):
    """Takes an agent's world over from a journaled snapshot (cluster failover: the new owner
    continues the calls the previous owner's simulator had): only the simulator."""

    def restore(self, login: str, snapshot: AgentSnapshot) -> None: ...


@runtime_checkable
class ServesPages(Protocol):
    """Serves pages and sockets of its own from the hub's app (the Streams bridge)."""

    def routes(self) -> list[BaseRoute]: ...

    def bind_guard(self, guard: Guard) -> None:
        """The hub's Origin and token checks, for the backend's own WebSocket."""
