"""Read-only views of a hub for the HTTP API: one agent's state, the agent list, health.

They read the engine's sessions and the hub's counters and change nothing, so they live apart from
the hub's command path (``core.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from .. import protocol as p

if TYPE_CHECKING:
    from .core import Hub


def agent_state(hub: Hub, login: str) -> dict[str, Any]:
    agent, call = hub.engine.session(login).statesync()
    return {"agent": _plain(agent), "call": _plain(call)}


def agents(hub: Hub, only: frozenset[str] | None = None) -> list[dict[str, Any]]:
    rows = []
    for login, s in hub.engine.sessions.items():
        if only is not None and login not in only:
            continue
        shown = hub.engine.shown_state(login)
        rows.append(
            {
                "login": login,
                "name": s.snapshot.info.name,
                "loginState": "LoggedIn" if s.snapshot.logged_in else "LoggedOut",
                "state": shown.label,
                "stateType": shown.type,
                "contacts": len(s.snapshot.contacts),
                "apps": len(hub.connections.get(login, {})),
            }
        )
    return rows


def health(hub: Hub) -> tuple[bool, dict[str, Any]]:
    journal = {**hub.journal.health(), "writable": hub.journal_error is None}
    if hub.journal_error is not None:
        journal["ok"], journal["error"] = False, hub.journal_error
    ok = hub.started and not hub.draining and bool(journal.get("ok"))
    status = "draining" if hub.draining else "ok" if ok else (
        "starting" if not hub.started else "degraded"
    )  # fmt: skip
    return ok, {
        "status": status,
        "backend": hub.backend.status(),
        "journal": journal,
        "connections": hub.connection_count,
        "auth": "off" if hub.insecure else "tokens",
    }


def _plain(env: p.Envelope) -> dict[str, Any]:
    result = msgspec.to_builtins(env)
    assert isinstance(result, dict)
    return result
