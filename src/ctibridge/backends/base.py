"""The one small interface every backend implements (sim, streams bridge, connect, hybrid)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..actions import Action
from ..model import AgentSnapshot, Directory

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
        """The latest snapshot of ``login`` (KeyError for an unknown agent)."""

    def directory(self, login: str) -> Directory:
        """States, queues, quick connects and agents ``login`` may use."""

    async def execute(self, login: str, action: Action) -> None:
        """Carry out ``action`` for ``login``.

        Returns once Connect accepted it (the resulting snapshot may already have been sent to
        the sink, or may follow); raises ``BackendError`` when it was refused.
        """

    def status(self) -> dict[str, object]:
        """Health details for ``/healthz``."""
