"""``previous_status`` for backends that only see a connection's current status (the Streams
snapshot, the Agent Event Stream): each connection's last status and the one before it."""

from __future__ import annotations

from collections.abc import Collection

from ..model import ConnectionStatus


class StatusHistory:
    def __init__(self) -> None:
        self._last: dict[str, tuple[ConnectionStatus, ConnectionStatus | None]] = {}

    def previous(self, connection_id: str, status: ConnectionStatus) -> ConnectionStatus | None:
        """The status before ``status`` (None for a new connection); records ``status``."""
        last = self._last.get(connection_id)
        if last is None:
            previous = None
        elif last[0] == status:
            previous = last[1]  # unchanged: the status before stays what it was
        else:
            previous = last[0]
        self._last[connection_id] = (status, previous)
        return previous

    def keep(self, connection_ids: Collection[str]) -> None:
        """Forget every connection but these (the live ones)."""
        self._last = {k: v for k, v in self._last.items() if k in connection_ids}
