"""Serving a hub with uvicorn: the server settings that come from ``[limits]``, and a graceful
shutdown that drains the hub before uvicorn closes the connections."""

from __future__ import annotations

import asyncio
import gc
import logging
from types import FrameType
from typing import Any

import uvicorn

from .app import create_app
from .core import Hub
from .transport import CorkedWebSocketProtocol

log = logging.getLogger("ctibridge.hub")


def uvicorn_config(hub: Hub, **overrides: Any) -> uvicorn.Config:
    """A uvicorn config for ``hub`` (its app, host, port, frame size, keepalive and the corked
    WebSocket protocol)."""
    limits = hub.settings.limits
    options: dict[str, Any] = {
        "host": hub.settings.host,
        "port": hub.settings.port,
        "log_level": "warning",
        # logging is configured by the caller (``hub.logs.configure``), not by uvicorn
        "log_config": None,
        # credentials travel in the query string: uvicorn's access log would print them
        "access_log": False,
        # frames over 64 KiB still reach the hub and get FRAME_TOO_LARGE, up to this size
        "ws_max_size": limits.max_message_bytes,
        "ws_ping_interval": limits.ping_interval_s or None,
        "ws_ping_timeout": limits.ping_timeout_s or None,
        "lifespan": "on",
        # one socket write per connection per loop tick, and prebuilt fan-out frames (transport.py)
        "ws": CorkedWebSocketProtocol,
        "timeout_graceful_shutdown": limits.drain_timeout_s + limits.close_timeout_s,
    }
    options.update(overrides)
    return uvicorn.Config(create_app(hub), **options)


# gen0 threshold: a command allocates a few hundred container objects that die within its tick;
# at CPython's 700 a young collection ran every few commands, at 10,000 one every ~20 commands
# at the same cost each (the young generation is garbage by then). gen1/gen2 counts unchanged.
GC_GEN0_THRESHOLD = 10_000


def settle_gc() -> None:
    """Once the hub is serving: move everything that exists after start-up (modules, the
    simulator's agents, the engine's sessions, uvicorn and Starlette: ~35,000 objects) into
    the permanent generation, so that a full collection - which pauses the loop - walks only
    what the hub creates while it serves, and raise the young generation's threshold (above).
    In a saturated bench hub: 6-8 full collections of 18-49 ms each in 30 s before, none after
    (docs/performance.md).  Objects made later are collected as before; the frozen ones are
    the long-lived hub itself (an object of theirs freed by reference count is still freed)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class HubServer(uvicorn.Server):
    """uvicorn that, on SIGTERM/SIGINT, first drains the hub (in-flight commands finish, every
    app receives what was queued for it and a 1012 close), and only then lets uvicorn stop
    listening, close what is left and run the lifespan shutdown (journal flushed).  The
    listener stays open while draining, so a load balancer's health check gets an answer
    (``/healthz`` 503 "draining") instead of a refused connection, and new sockets get 1012."""

    def __init__(self, hub: Hub, config: uvicorn.Config, *, settle: bool = False) -> None:
        super().__init__(config)
        self.hub = hub
        # settle_gc() once serving: for a process that is the hub (serve()), not for a hub
        # embedded in a process of other work (tests), whose collector is not the hub's to tune
        self.settle = settle

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.settle:
            settle_gc()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal once it has shut down; a hub that drained exits 0
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()

    async def shutdown(self, sockets: Any = None) -> None:
        # the one line an operator sees for a SIGTERM: what is being drained, and for how long
        apps = sum(len(conns) for conns in self.hub.connections.values())
        timeout = self.hub.settings.limits.drain_timeout_s
        log.info(
            "shutting down: draining %d app connection(s), at most %gs", apps, timeout,
            extra={"apps": apps},
        )  # fmt: skip
        try:
            await self.hub.drain()
        except asyncio.CancelledError:
            raise
        except Exception:  # draining is best effort; the journal is flushed regardless
            pass
        await super().shutdown(sockets)


def serve(hub: Hub, **overrides: Any) -> None:
    """Run ``hub`` until SIGTERM/SIGINT (blocking)."""
    config = uvicorn_config(hub, **overrides)
    HubServer(hub, config, settle=True).run()
