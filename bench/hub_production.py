"""Benchmarks for the production qualities; numbers go to bench/results/hub_production.json.

* slow consumer: the event rate one app of an agent receives while it drives UpdateState
  commands, alone and with a second app of the same agent that stops reading (dropped with 1013
  once its queue is full) - the point is that the second number is not lower;
* journal: the same rate with the in-memory and the SQLite journal (each engine step committed
  before its events are sent).

Run: ``.venv/bin/python bench/hub_production.py`` (about a minute).  Loopback only, bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
import websockets

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.hub import Hub
from ctibridge.hub.server import uvicorn_config
from ctibridge.settings import AuthSettings, JournalSettings, LimitSettings, Settings

COMMANDS = 8000
WINDOW = 50
RUNS = 5
RESULTS = Path(__file__).parent / "results" / "hub_production.json"


def request(label: str, rid: str) -> str:
    return json.dumps({"channel": "Amazon", "topic": "Agent", "subtopic": "UpdateState",
                       "source": "bench", "requestId": rid, "data": {"label": label}})  # fmt: skip


async def serve(settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None], int, Hub]:
    clock = ManualClock()
    hub = Hub(SimBackend(clock, seed=1, agents=2), clock, settings)
    server = uvicorn.Server(uvicorn_config(hub, host="127.0.0.1", port=0))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, port, hub


async def drive(url: str) -> float:
    """Events per second one app receives while it sends COMMANDS requests, WINDOW in flight."""
    async with websockets.connect(url) as ws:
        await ws.recv(), await ws.recv()
        start = time.perf_counter()
        sent = received = 0
        while received < COMMANDS:
            while sent < COMMANDS and sent - received < WINDOW:
                await ws.send(request(("Break", "Available")[sent % 2], f"r{sent}"))
                sent += 1
            await ws.recv()
            received += 1
        return COMMANDS / (time.perf_counter() - start)


async def stalled(port: int) -> Any:
    """An app that reads its StateSync and then nothing: a tiny receive buffer, and the hub's
    end of the connection given a tiny send buffer (as a slow link would)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws?agent=agent1", sock=sock, max_queue=1)
    await ws.recv(), await ws.recv()
    return ws, sock


async def once(settings: Settings, with_stalled: bool) -> tuple[float, bool]:
    """One run: the driving app's event rate, and whether the stalled app was dropped."""
    server, task, port, hub = await serve(settings)
    stuck = await stalled(port) if with_stalled else None
    conns = list(hub.connections["agent1"].values())
    if stuck is not None:
        for protocol in server.server_state.connections:
            transport = protocol.transport  # type: ignore[attr-defined]
            if transport.get_extra_info("peername") == stuck[1].getsockname():
                transport.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
                )
    rate = await drive(f"ws://127.0.0.1:{port}/ws?agent=agent1")
    dropped = bool(conns) and conns[0].overflowed
    if stuck is not None:
        stuck[0].transport.abort()  # the socket belongs to the connection
    server.should_exit = True
    await asyncio.wait_for(task, 30)
    return rate, dropped


async def main() -> None:
    logging.getLogger("ctibridge").setLevel(logging.ERROR)
    limits = LimitSettings(rate_per_s=1e9, rate_burst=10**9, send_queue=100)
    base = Settings(auth=AuthSettings(insecure=True), limits=limits)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = msgspec.structs.replace(base, journal=JournalSettings(path=f"{tmp}/j.db"))
        configs = {
            "memory_journal_alone": (base, False),
            "memory_journal_with_stalled_peer": (base, True),
            "sqlite_journal_alone": (sqlite, False),
        }
        runs: dict[str, list[tuple[float, bool]]] = {name: [] for name in configs}
        for _ in range(RUNS):  # interleaved, so drift in the machine's load hits all alike
            for name, (settings, with_stalled) in configs.items():
                if settings.journal.path:
                    Path(settings.journal.path).unlink(missing_ok=True)
                runs[name].append(await once(settings, with_stalled))
    results: dict[str, Any] = {"commands": COMMANDS, "window": WINDOW, "runs_each": RUNS}
    for name, got in runs.items():
        rates = [r for r, _ in got]
        results[name] = {
            "events_per_s_median": round(statistics.median(rates)),
            "events_per_s_runs": [round(r) for r in rates],
            "stalled_app_dropped_in_runs": sum(d for _, d in got),
        }
    results["python"] = sys.version.split()[0]
    results["cpus"] = os.cpu_count()
    results["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
