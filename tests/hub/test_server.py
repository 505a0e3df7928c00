"""hub/server.py: the garbage collector settled once the hub serves."""

from __future__ import annotations

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
