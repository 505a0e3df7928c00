"""Work done once per loop tick: the journal's group commit, the metrics' tallies and the audit
log's records are collected while the tick's frames are handled and flushed together at its end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def at_tick_end(flush: Callable[[], None]) -> bool:
    """Run ``flush`` once the callbacks ready now have run (the end of this loop tick); False
    when no loop is running (a tool, a synchronous test): then the caller flushes at once."""
    try:
        asyncio.get_running_loop().call_soon(flush)
    except RuntimeError:
        return False
    return True
