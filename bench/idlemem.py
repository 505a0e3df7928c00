"""What one idle app connection holds in the hub, by the line that allocated it (tracemalloc).

    python -m bench.idlemem [--connections 1000] [--top 25] [--only-hub]

The hub (the bench's settings, the sqlite-free memory journal) and the connections in one
process: uvicorn serves the hub as ``bench.server`` does, ``bench.wsclient`` opens the idle
connections; allocations made by a line of ``bench/`` (the client's) are left out, so what is
listed is mostly the server side - uvicorn, websockets, Starlette and the hub - per connection
(the client's allocations inside the standard library, e.g. its asyncio transports, still
count: compare totals before and after a change, not with RSS).  ``--only-hub`` keeps the
allocations made by a line of ``ctibridge`` itself (an object made by a call on such a line -
a coroutine of Starlette's awaited by the hub, say - counts as the hub's).  ``bench.run``'s
memory phase gives RSS per connection beside the echo's; this says where the hub's share goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tracemalloc
from typing import Any

import uvicorn
import uvloop

from ctibridge.hub.server import uvicorn_config

from .generator import open_connections
from .server import make_hub


async def measure(connections: int, top: int, only_hub: bool) -> dict[str, Any]:
    hub = make_hub(100, "memory")
    config = uvicorn_config(
        hub, host="127.0.0.1", port=0, loop="uvloop", http="httptools", backlog=4096
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]

    def paths(n: int) -> list[str]:
        return [f"/ws?agent=agent{i % 100 + 1}" for i in range(n)]

    warm = await open_connections("127.0.0.1", port, paths(20))  # lazy imports, caches
    await asyncio.sleep(0.3)
    gc.collect()
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    conns = await open_connections("127.0.0.1", port, paths(connections))
    await asyncio.sleep(0.5)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    held = sum(1 for c in conns if c.open)
    client = [
        tracemalloc.Filter(False, "*/bench/*"),
        tracemalloc.Filter(False, tracemalloc.__file__),
    ]
    keep = [tracemalloc.Filter(True, "*/ctibridge/*")] if only_hub else client
    stats = after.filter_traces(keep).compare_to(before.filter_traces(keep), "lineno")
    for c in conns + warm:
        c.close()
    server.should_exit = True
    await task
    return {
        "connections": connections,
        "held": held,
        "bytes_per_connection": round(sum(s.size_diff for s in stats) / connections),
        "top": [
            {
                "bytes_per_connection": round(s.size_diff / connections),
                "blocks": s.count_diff,
                "at": f"{s.traceback[0].filename}:{s.traceback[0].lineno}",
            }
            for s in stats[:top]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idlemem", description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only-hub", action="store_true", help="allocations made in ctibridge")
    args = parser.parse_args(argv)
    result = uvloop.run(measure(args.connections, args.top, args.only_hub))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
