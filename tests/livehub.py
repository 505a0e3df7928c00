"""A real hub (uvicorn, loopback port) over the simulator with a manual clock, for tests.

Imported by tests/conftest.py (the ``live`` fixture) and by tests that start hubs of their own
(``from livehub import start_live_hub``); a module of its own because every test directory may
have a ``conftest`` that would shadow the top one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import uvicorn

from ctibridge.backends.sim import SimBackend
from ctibridge.client import Client
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub
from ctibridge.hub.server import uvicorn_config
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
        self.keep_hub = False  # stop serving but leave the hub (lifespan) running

    async def main_loop(self) -> None:
        await self.stop_requested.wait()

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        if self.server_state.tasks:
            await asyncio.wait(set(self.server_state.tasks), timeout=5)
        if not self.keep_hub:
            await self.lifespan.shutdown()


async def serve_hub(hub: Hub, port: int) -> tuple[_Server, asyncio.Task[None], int]:
    server = _Server(uvicorn_config(hub, host="127.0.0.1", port=port))
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task, server.servers[0].sockets[0].getsockname()[1]


def _new_hub(settings: Settings, seed: int) -> tuple[Hub, ManualClock]:
    clock = ManualClock()
    backend = SimBackend(clock, seed=seed, agents=settings.sim_agents)
    return Hub(backend, clock, settings), clock


class LiveHub:
    """A hub served over real sockets; ``clock`` drives the simulator's timers."""

    def __init__(self, hub: Hub, clock: ManualClock, settings: Settings, seed: int) -> None:
        self.hub = hub
        self.clock = clock
        self.settings = settings
        self.seed = seed
        self.port = 0
        self.clients: list[Client] = []

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self) -> None:
        """Serve ``hub`` (on the same port as before, once it has one)."""
        self.server, self._task, self.port = await serve_hub(self.hub, self.port)

    async def stop_serving(self, *, stop_hub: bool = True) -> None:
        """Stop uvicorn, closing every app's socket; with ``stop_hub=False`` the hub (engine,
        simulator, journal) lives on, as through a network outage, and ``serve`` resumes it."""
        self.server.keep_hub = not stop_hub
        self.server.should_exit = True
        self.server.stop_requested.set()
        await asyncio.wait_for(self._task, 10)

    async def restart(self) -> None:
        """The hub process restarts: a fresh hub (new simulator, empty journal), same port."""
        await self.stop_serving()
        self.hub, self.clock = _new_hub(self.settings, self.seed)
        await self.serve()

    async def connect(self, agent: str = "agent1", **kwargs: Any) -> Client:
        client = await Client.connect(self.url, agent, **kwargs)
        self.clients.append(client)
        return client

    async def advance(self, seconds: float) -> None:
        """Move simulated time; let the resulting events reach the sockets."""
        self.clock.advance(seconds)
        await asyncio.sleep(0)


async def start_live_hub(settings: Settings | None = None, seed: int = 7) -> LiveHub:
    settings = settings or Settings(sim_seed=seed)
    if settings.auth.secret is None and not settings.auth.insecure:
        # tests that set no secret run without tokens, as `make run` does
        auth = msgspec.structs.replace(settings.auth, insecure=True)
        settings = msgspec.structs.replace(settings, auth=auth)
    live = LiveHub(*_new_hub(settings, seed), settings, seed)
    await live.serve()
    return live


async def stop_live_hub(live: LiveHub) -> None:
    for client in live.clients:
        await client.close()
    await live.stop_serving()
