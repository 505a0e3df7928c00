"""The hub's own work per command, without sockets: decode, engine, sim backend, render,
encode, journal and the push into each app's outbox — the hot path minus the transport.

    python -m bench.corepath [--agents 100] [--apps 1] [--seconds 3] [--journal none|memory|sqlite]

Measured with the process CPU clock in this one process, so other load on the machine barely
moves it: the number to compare before and after an optimisation of ``hub/``, ``engine/`` or
``protocol/``.  (``bench.run`` measures the whole stack, sockets included.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import uvloop

from .generator import CONFIGURE, CYCLE, template
from .server import make_hub


def _frame(spec: tuple[str, str, dict[str, Any] | None], rid: str) -> bytes:
    head, tail = template(*spec)
    return head + rid.encode() + tail


async def measure(agents: int, apps: int, seconds: float, journal: str) -> dict[str, Any]:
    hub = make_hub(agents, journal)  # the bench's settings: no tokens, limits out of the way
    await hub.start()
    logins = list(hub.backend.logins())
    conns = {login: [hub.attach(login) for _ in range(apps)] for login in logins}

    failures = 0

    def drain() -> int:
        nonlocal failures
        n = 0
        for group in conns.values():
            for conn in group:
                while not conn.outbox.empty():
                    data = conn.outbox.get_nowait()
                    if data is not None and '"subtopic":"Error"' in data:
                        failures += 1
                    n += 1
        return n

    for login in logins:
        hub.receive(login, conns[login][0].id, _frame(CONFIGURE, "c"))
    for _ in range(3):
        await asyncio.sleep(0)
    drain()

    commands = events = 0
    step = 0
    t_end = time.perf_counter() + seconds
    cpu0 = time.process_time()
    while time.perf_counter() < t_end:
        spec = CYCLE[step % len(CYCLE)]
        step += 1
        for login in logins:  # one command per agent, as N drivers would send them
            hub.receive(login, conns[login][0].id, _frame(spec, f"r{step}"))
        # let the backend calls (tasks) run and their results come back
        for _ in range(3):
            await asyncio.sleep(0)
        commands += len(logins)
        events += drain()
    cpu = time.process_time() - cpu0
    await hub.stop()
    return {
        "agents": agents,
        "apps_per_agent": apps,
        "journal": journal,
        "commands": commands,
        "events_pushed": events,
        "cpu_us_per_command": round(cpu / commands * 1e6, 1),
        "failures": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corepath", description=__doc__)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--apps", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--journal", default="none")
    args = parser.parse_args(argv)
    result = uvloop.run(measure(args.agents, args.apps, args.seconds, args.journal))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
