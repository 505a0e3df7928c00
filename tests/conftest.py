"""Shared fixtures: a real hub (uvicorn, loopback port) over the simulator with a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ctibridge.backends.sim import SimBackend
from ctibridge.client import Client
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub, create_app
from ctibridge.hub.transport import CorkedWebSocketProtocol
from ctibridge.settings import Settings

SAMPLES = Path(__file__).parent / "fixtures" / "samples"


def sample(name: str) -> dict[str, Any]:
    data = json.loads((SAMPLES / name).read_text())
    assert isinstance(data, dict)
    return data


class _Server(uvicorn.Server):
    """uvicorn without its 0.1 s polling at shutdown: the suite starts and stops a server per
    test, and uvicorn's tick (0.1 s) plus its fixed grace sleep (0.1 s) would dominate it."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stop_requested = asyncio.Event()

    async def main_loop(self) -> None:
        await self.stop_requested.wait()

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        if self.server_state.tasks:
            await asyncio.wait(set(self.server_state.tasks), timeout=5)
        await self.lifespan.shutdown()


class LiveHub:
    """A hub served over real sockets; ``clock`` drives the simulator's timers."""

    def __init__(self, hub: Hub, clock: ManualClock, server: _Server, port: int) -> None:
        self.hub = hub
        self.clock = clock
        self.server = server
        self.port = port
        self.url = f"ws://127.0.0.1:{port}"
        self.http = f"http://127.0.0.1:{port}"
        self.clients: list[Client] = []

    async def connect(self, agent: str = "agent1", **kwargs: Any) -> Client:
        client = await Client.connect(self.url, agent, **kwargs)
        self.clients.append(client)
        return client

    async def advance(self, seconds: float) -> None:
        """Move simulated time; let the resulting events reach the sockets."""
        self.clock.advance(seconds)
        await asyncio.sleep(0)


async def start_live_hub(settings: Settings | None = None, seed: int = 7) -> LiveHub:
    clock = ManualClock()
    settings = settings or Settings(sim_seed=seed)
    backend = SimBackend(clock, seed=seed, agents=settings.sim_agents)
    hub = Hub(backend, clock, settings)
    config = uvicorn.Config(
        create_app(hub), host="127.0.0.1", port=0, log_level="warning", ws_max_size=1 << 20,
        lifespan="on", ws=CorkedWebSocketProtocol,  # the server `ctibridge serve` runs
    )  # fmt: skip
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    live = LiveHub(hub, clock, server, port)
    live._task = task  # type: ignore[attr-defined]
    return live


async def stop_live_hub(live: LiveHub) -> None:
    for client in live.clients:
        await client.close()
    live.server.should_exit = True
    live.server.stop_requested.set()
    await asyncio.wait_for(live._task, 10)  # type: ignore[attr-defined]


@pytest.fixture
async def live() -> AsyncIterator[LiveHub]:
    hub = await start_live_hub()
    try:
        yield hub
    finally:
        await stop_live_hub(hub)


Connect = Callable[..., Awaitable[Client]]
