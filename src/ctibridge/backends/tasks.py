"""Background work a backend starts and does not wait for (closing a socket, a resync): kept in
the backend's task set (so ``stop`` can cancel it) and never failing silently - a failure is
logged with its traceback, then dropped, since nobody awaits the task."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable


def spawn(tasks: set[asyncio.Task[None]], work: Awaitable[None], log: logging.Logger) -> None:
    async def run() -> None:
        try:
            await work
        except Exception:
            log.warning("background work failed", exc_info=True, extra={"kind": "backend"})

    task = asyncio.get_running_loop().create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
