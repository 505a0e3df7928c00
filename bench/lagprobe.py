"""A loop-lag probe for the bench server: how late the event loop runs a timer, and what ran
while it was late.

    BENCH_LAG_LOG=/tmp/lag.json python -m bench.server --mode hub ...   # written on exit
    python -m bench.lagprobe [--journal sqlite] [--share 0.5] [--seconds 8]
        # the hub at a share of its saturation, the probe on; prints the summary

The probe re-arms a 1 ms timer and records every time it ran more than ``threshold`` late (a
*stall*: nothing else on the loop ran meanwhile - no frame read, no event sent).  Beside it, it
records the loop's garbage collections (``gc.callbacks``, every generation) and the hub's journal
commits that took over 1 ms (``journaling.write_step``: the group commit, which waits for the
journal's lock while the WAL checkpointer holds it).  Each stall is attributed to what overlapped
it: a collection, a commit, or else - by the CPU time the loop's thread used meanwhile
(``time.thread_time``) - *busy* (the loop's own work: a tick that handled many frames, the socket
writes) or *off_cpu* (the thread did not run: the scheduler gave the core to another process).
This is what the p99 tail at 50 % of saturation is made of (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import uvloop

_BUCKETS_MS = (2, 5, 10, 20, 50)


class LagProbe:
    """Stalls of the running loop, and the collections and slow commits that overlapped them."""

    def __init__(self, period: float = 0.001, threshold: float = 0.002) -> None:
        self.period = period
        self.threshold = threshold
        # (due, seconds late, seconds of CPU the loop's thread used since the tick before)
        self.stalls: list[tuple[float, float, float]] = []
        self.collections: list[tuple[float, float, int]] = []  # (start, seconds, generation)
        self.commits: list[tuple[float, float]] = []  # (start, seconds), those over 1 ms
        self.samples = 0
        self._due = 0.0
        self._cpu = 0.0
        self._gc_started = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        gc.callbacks.append(self._gc)
        self._due = time.perf_counter() + self.period
        self._cpu = time.thread_time()
        self._loop.call_later(self.period, self._tick)

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        late = now - self._due
        self.samples += 1
        if late > self.threshold:
            self.stalls.append((self._due, late, cpu - self._cpu))
        self._due, self._cpu = now + self.period, cpu
        assert self._loop is not None
        self._loop.call_later(self.period, self._tick)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            now = time.perf_counter()
            self.collections.append((self._gc_started, now - self._gc_started, info["generation"]))

    def timed(self, step: Callable[..., Any]) -> Callable[..., Any]:
        """``step`` (the hub's ``journaling.write_step``) with its slow calls recorded."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                if spent > 0.001:
                    self.commits.append((t0, spent))

        return wrapper

    def summary(self) -> dict[str, Any]:
        def overlap(start: float, end: float, spans: list[tuple[float, float]]) -> float:
            return sum(max(0.0, min(end, s + d) - max(start, s)) for s, d in spans)

        gc_spans = [(s, d) for s, d, _ in self.collections]
        by_cause = {"gc": 0.0, "commit": 0.0, "busy": 0.0, "off_cpu": 0.0}
        counts = {f">={b}ms": 0 for b in _BUCKETS_MS}
        for due, late, cpu in self.stalls:
            for b in _BUCKETS_MS:
                if late * 1000 >= b:
                    counts[f">={b}ms"] += 1
            in_gc = overlap(due, due + late, gc_spans)
            in_commit = overlap(due, due + late, self.commits)
            by_cause["gc"] += in_gc
            by_cause["commit"] += in_commit
            rest = max(0.0, late - in_gc - in_commit)
            # the loop's thread ran for `cpu` of the period + late: the rest of the time it was
            # off the CPU (another process had the core, or it waited for the journal's lock)
            busy = min(rest, max(0.0, cpu - self.period))
            by_cause["busy"] += busy
            by_cause["off_cpu"] += rest - busy
        worst = sorted((late for _, late, _ in self.stalls), reverse=True)[:10]
        return {
            "timer_samples": self.samples,
            "stalls": counts,
            "stalled_ms_by_cause": {k: round(v * 1000, 1) for k, v in by_cause.items()},
            "worst_stalls_ms": [round(w * 1000, 2) for w in worst],
            "collections_by_generation": {
                g: sum(1 for *_, gen in self.collections if gen == g) for g in (0, 1, 2)
            },
            "longest_collection_ms": round(1000 * max((d for _, d in gc_spans), default=0), 2),
            "commits_over_1ms": len(self.commits),
            "longest_commit_ms": round(1000 * max((d for _, d in self.commits), default=0), 2),
        }


async def _run(journal: str, share: float, seconds: float, out: str) -> dict[str, Any]:
    from .generator import open_fleet
    from .run import HOST, fixed_rate, saturate, server

    os.environ["BENCH_LAG_LOG"] = out  # the server (a child process) writes it on exit
    async with server("hub", 100, journal) as srv:
        fleet = await open_fleet(HOST, srv.port, 100, 1)
        await fleet.configure()
        top = await saturate(fleet, srv, 1.0, 3.0)
        rate = share * top["commands_per_s"]
        result = await fixed_rate(fleet, srv, rate, 1.0, seconds)
        await fleet.close()
    with open(out) as f:
        probe: dict[str, Any] = json.load(f)
    return {
        "journal": journal,
        "saturation_per_s": top["commands_per_s"],
        "share": share,
        "commands_per_s": result["commands_per_s"],
        "latency_ms": result["latency_ms"],
        "latency_quiet_ms": result["latency_quiet_ms"],
        "quiet_share": result["quiet_share"],
        "other_cpu_util": result.get("other_cpu_util"),
        "probe": probe,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lagprobe", description=__doc__)
    parser.add_argument("--journal", default="sqlite", help="none | memory | sqlite")
    parser.add_argument("--share", type=float, default=0.5, help="of the saturation rate")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--out", default="/tmp/bench-lag.json", help="the server's probe log")
    args = parser.parse_args(argv)
    report = uvloop.run(_run(args.journal, args.share, args.seconds, args.out))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
