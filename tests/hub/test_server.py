"""hub/server.py: the garbage collector settled once the hub serves."""

from __future__ import annotations

import asyncio
import gc
import weakref

from ctibridge.hub.server import GC_GEN0_THRESHOLD, settle_gc


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_settle_gc_freezes_what_exists_and_still_collects_later_cycles() -> None:
    threshold = gc.get_threshold()
    before = _cycle()  # unreachable already: collected by settle_gc's own collection, not frozen
    kept = _Node()
    try:
        settle_gc()
        assert before() is None
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_threshold()[1:] == threshold[1:]
        assert not any(o is kept for o in gc.get_objects())  # frozen: no collection walks it
        after = _cycle()  # garbage made while serving is collected as before
        assert after() is not None
        gc.collect()
        assert after() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def test_a_hub_server_embedded_in_a_process_leaves_its_collector_alone() -> None:
    from ctibridge.backends.sim import SimBackend
    from ctibridge.clock import ManualClock
    from ctibridge.hub import Hub
    from ctibridge.hub.server import HubServer, uvicorn_config
    from support.hub import insecure

    clock = ManualClock()
    hub = Hub(SimBackend(clock, seed=3), clock, insecure())
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    server = HubServer(hub, uvicorn_config(hub, host="127.0.0.1", port=0))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        assert gc.get_threshold() == threshold  # only serve(), a process that is the hub, settles
        assert gc.get_freeze_count() == frozen
    finally:
        server.should_exit = True
        await task
