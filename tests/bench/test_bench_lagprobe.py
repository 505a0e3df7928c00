"""bench.lagprobe cannot rot: a stall of the loop is seen and put down to what caused it - a
collection, a slow journal commit, the loop's own work, or time off the CPU."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.lagprobe import LagProbe  # noqa: E402


def spin_cpu(seconds: float) -> None:
    """Hold the loop for ``seconds`` of this thread's CPU time (not wall time)."""
    start = time.thread_time()
    while time.thread_time() - start < seconds:
        pass


async def a_few_ticks() -> None:
    for _ in range(5):
        await asyncio.sleep(0.002)


async def test_each_stall_is_put_down_to_what_held_the_loop() -> None:
    probe = LagProbe()
    probe.start()
    try:
        await a_few_ticks()
        spin_cpu(0.05)  # the loop's own work
        await a_few_ticks()
        time.sleep(0.05)  # the thread off the CPU (as when another process has the core)
        await a_few_ticks()
        probe.timed(time.sleep)(0.05)  # a journal commit that waits (for the checkpointer)
        await a_few_ticks()
        garbage = [[i] for i in range(300_000)]
        gc.collect()  # a collection
        del garbage
        await a_few_ticks()
    finally:
        gc.callbacks.remove(probe._gc)
    summary = probe.summary()
    by_cause = summary["stalled_ms_by_cause"]
    assert summary["stalls"][">=20ms"] >= 3
    assert by_cause["busy"] >= 45  # the 50 ms of CPU, less the timer's own period
    assert by_cause["off_cpu"] >= 45  # the sleep
    assert by_cause["commit"] >= 45 and summary["commits_over_1ms"] == 1
    assert by_cause["gc"] > 0 and summary["collections_by_generation"][2] >= 1
