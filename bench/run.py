"""Run the benchmark: every scenario, the echo baseline beside the hub, results as JSON.

    python -m bench.run [--out bench/results] [--smoke] [--journal sqlite] [--profile DIR]

This process is the load generator (asyncio on uvloop); each server under test is a separate
process (``python -m bench.server``) started and stopped here.  Server CPU time comes from
``/proc/<pid>/stat`` (utime + stime), its memory from ``VmRSS`` in ``/proc/<pid>/status``.
The machine's other load is ``/proc/stat`` busy time minus the server's and ours, recorded per
phase so a reader can judge how noisy each number is.

``--smoke`` runs every kind of phase for a second or two (the test suite runs it so the bench
cannot rot); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from array import array
from collections.abc import AsyncIterator, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from .generator import Fleet, Meter, open_connections, open_fleet, percentiles, sized_cycle

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent
FRACTIONS = (0.25, 0.5, 0.8)
WS = os.environ.get("BENCH_WS", "corked")  # the servers' WebSocket implementation (both modes)


# --- /proc --------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class CpuWindow:
    """CPU used by the server, by us, and by everything else, between ``__init__`` and ``end``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.t0 = time.perf_counter()
        self.server0 = proc_cpu(pid)
        self.self0 = self_cpu()
        self.busy0, self.total0 = machine_busy()

    def end(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        server = proc_cpu(self.pid) - self.server0
        gen = self_cpu() - self.self0
        busy, total = machine_busy()
        cores = (total - self.total0) / wall if wall else 1.0
        other = max(0.0, (busy - self.busy0) - server - gen)
        return {
            "wall_s": round(wall, 3),
            "server_cpu_s": round(server, 3),
            "server_cpu_util": round(server / wall, 3),  # 1.0 = one core fully busy
            "generator_cpu_util": round(gen / wall, 3),
            "other_cpu_util": round(other / wall, 3),
            "cores": round(cores, 2),
        }


QUIET = 0.25  # cores: a slice of time whose other load is below this counts as quiet


class LoadSampler:
    """Other load on the machine in 100 ms slices (``/proc/stat`` busy time minus the server's
    and ours), so latency can also be reported for commands sent while the machine was quiet:
    on a shared 2-core machine a burst of someone else's work stalls both processes."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.starts: list[int] = []  # perf_counter_ns at the start of each slice
        self.other: list[float] = []  # cores used by everything else during it
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        t = time.perf_counter_ns()
        server, gen, (busy, _) = proc_cpu(self.pid), self_cpu(), machine_busy()
        while True:
            await asyncio.sleep(self.interval)
            t1 = time.perf_counter_ns()
            server1, gen1, (busy1, _) = proc_cpu(self.pid), self_cpu(), machine_busy()
            other = (busy1 - busy) - (server1 - server) - (gen1 - gen)
            self.starts.append(t)
            self.other.append(max(0.0, other) / ((t1 - t) / 1e9))
            t, server, gen, busy = t1, server1, gen1, busy1

    def quiet(self, t_ns: int) -> bool:
        i = bisect.bisect_right(self.starts, t_ns) - 1
        return 0 <= i < len(self.other) and self.other[i] < QUIET

    def quiet_share(self) -> float:
        return sum(1 for o in self.other if o < QUIET) / len(self.other) if self.other else 0.0


# --- the server process -------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    mode: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> int:
        return proc_rss_kb(self.pid)


@contextlib.asynccontextmanager
async def server(
    mode: str, agents: int = 100, journal: str = "none", profile: str | None = None
) -> AsyncIterator[Server]:
    cmd = [sys.executable, "-m", "bench.server", "--mode", mode, "--port", "0", "--ws", WS]
    if mode == "hub":
        cmd += ["--agents", str(agents), "--journal", journal]
    if profile:
        cmd += ["--profile", profile]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
        if not line.startswith("READY "):
            raise RuntimeError(f"server did not start: {line!r}")
        yield Server(proc, int(line.split()[1]), mode)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- phases -------------------------------------------------------------------------------------


def _summary(
    meter: Meter, cpu: dict[str, float], seconds: float, frames: int, bytes_in: int
) -> dict[str, Any]:
    commands = meter.done
    out: dict[str, Any] = {
        "seconds": seconds,
        "commands": commands,
        "commands_per_s": round(commands / seconds, 1),
        "events": frames,
        "events_per_s": round(frames / seconds, 1),
        "bytes_in_per_s": round(bytes_in / seconds),
        "errors": meter.errors,
        "latency_ms": {k: v and round(v, 3) for k, v in
                       percentiles(meter.latencies, (50, 95, 99, 99.9, 100)).items()},
        "latency_samples": len(meter.latencies),
        **cpu,
    }  # fmt: skip
    out["server_cpu_us_per_command"] = (
        round(cpu["server_cpu_s"] / commands * 1e6, 1) if commands else None
    )
    if meter.lag:
        out["send_lag_ms"] = {k: v and round(v, 3) for k, v in
                              percentiles(meter.lag, (50, 99)).items()}  # fmt: skip
    return out


async def measure(fleet: Fleet, srv: Server, start: Any, warmup: float, seconds: float) -> Any:
    meter = Meter()
    fleet.set_meter(meter)
    start()
    await asyncio.sleep(warmup)
    frames0, bytes0 = fleet.frames()
    sampler = LoadSampler(srv.pid)
    sampler.start()
    cpu = CpuWindow(srv.pid)
    meter.open(seconds)
    await asyncio.sleep(seconds)
    usage = cpu.end()
    frames1, bytes1 = fleet.frames()
    lost = await fleet.stop_and_drain()
    await sampler.stop()
    result = _summary(meter, usage, usage["wall_s"], frames1 - frames0, bytes1 - bytes0)
    result["reply_shape"] = meter.reply_shape()
    quiet = array("q", (lat for lat, t0 in zip(meter.latencies, meter.sent, strict=True)
                        if sampler.quiet(t0)))  # fmt: skip
    result["quiet_share"] = round(sampler.quiet_share(), 3)
    result["quiet_samples"] = len(quiet)
    result["latency_quiet_ms"] = {k: v and round(v, 3) for k, v in
                                  percentiles(quiet, (50, 95, 99, 99.9)).items()}  # fmt: skip
    result["lost"] = lost
    result["server_rss_mb"] = round(srv.rss_kb() / 1024, 1)
    return result


async def saturate(
    fleet: Fleet, srv: Server, warmup: float, seconds: float, window: int = 1
) -> dict[str, Any]:
    def start() -> None:
        for d in fleet.drivers:
            d.start_closed(window)

    result: dict[str, Any] = await measure(fleet, srv, start, warmup, seconds)
    result["mode"] = "closed"
    result["window"] = window
    return result


async def fixed_rate(
    fleet: Fleet, srv: Server, rate: float, warmup: float, seconds: float
) -> dict[str, Any]:
    per_agent = rate / len(fleet.drivers)

    def start() -> None:
        for d in fleet.drivers:
            d.start_open(per_agent)

    result: dict[str, Any] = await measure(fleet, srv, start, warmup, seconds)
    result["mode"] = "open"
    result["target_per_s"] = round(rate, 1)
    return result


# --- scenarios ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    warmup: float
    seconds: float
    rate_seconds: float
    agents: int
    fanout_apps: int
    idle_connections: int
    agents_memory: tuple[int, int]
    settle: float  # longest wait for the server's RSS to settle
    # the fewest commands a fixed-rate phase offers: it runs longer than rate_seconds when its
    # rate is low (a smoke run on a loaded machine saturates at a few commands/s; a quarter of
    # that over 0.25 s would often offer none)
    rate_commands: int = 0


FULL = Plan(
    warmup=2, seconds=10, rate_seconds=8, agents=100, fanout_apps=10,
    idle_connections=10_000, agents_memory=(10, 2010), settle=5,
)  # fmt: skip
SMOKE = Plan(
    warmup=0.1, seconds=0.5, rate_seconds=0.25, agents=4, fanout_apps=3,
    idle_connections=60, agents_memory=(2, 12), settle=0.3, rate_commands=20,
)  # fmt: skip


async def load_scenario(
    mode: str, plan: Plan, apps: int, journal: str, fractions: Sequence[float],
    profile: str | None = None, shape: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One server: saturation, then open-loop runs at ``fractions`` of it.  With ``shape``
    (echo only) every command is answered with the hub's frames and bytes: the sized echo."""
    async with server(mode, plan.agents, journal, profile) as srv:
        rss0 = srv.rss_kb()
        fleet = await open_fleet(HOST, srv.port, plan.agents, apps)
        try:
            await fleet.configure()
            if shape is not None:
                fleet.set_cycle(sized_cycle(shape))
            sat = await saturate(fleet, srv, plan.warmup, plan.seconds)
            rates = []
            for f in fractions:
                rate = f * sat["commands_per_s"]
                seconds = max(plan.rate_seconds, plan.rate_commands / rate if rate > 0 else 0)
                r = await fixed_rate(fleet, srv, rate, min(plan.warmup, 1), seconds)
                r["fraction"] = f
                rates.append(r)
        finally:
            await fleet.close()
    return {
        "server": "sized echo" if shape is not None else mode,
        "journal": journal if mode == "hub" else None,
        "agents": plan.agents,
        "apps_per_agent": apps,
        "connections": plan.agents * apps,
        "start_rss_mb": round(rss0 / 1024, 1),
        "saturation": sat,
        "rates": rates,
    }


async def settle_rss(srv: Server, limit: float) -> int:
    """RSS once it stops moving (allocations go on briefly after a burst of connections),
    waiting at most ``limit`` seconds."""
    deadline = time.perf_counter() + limit
    last = srv.rss_kb()
    while time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        now = srv.rss_kb()
        if abs(now - last) < 64:
            return now
        last = now
    return last


async def idle_scenario(mode: str, plan: Plan) -> dict[str, Any]:
    """Hold ``plan.idle_connections`` idle app connections; memory per connection."""
    agents = plan.agents
    async with server(mode, agents, "memory") as srv:
        before = await settle_rss(srv, plan.settle)
        t0 = time.perf_counter()
        paths = [f"/ws?agent=agent{i % agents + 1}" for i in range(plan.idle_connections)]
        conns = await open_connections(HOST, srv.port, paths)
        open_s = time.perf_counter() - t0
        await asyncio.sleep(0.5)
        after = await settle_rss(srv, plan.settle)
        held = sum(1 for c in conns if c.open)
        synced = sum(1 for c in conns if c.frames >= (2 if mode == "hub" else 0))
        cpu = CpuWindow(srv.pid)
        await asyncio.sleep(min(2.0, plan.seconds))
        idle_cpu = cpu.end()
        for c in conns:
            c.close()
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in conns], timeout=20)
    return {
        "server": mode,
        "connections": plan.idle_connections,
        "held": held,
        "synced": synced,
        "open_s": round(open_s, 2),
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "kb_per_connection": round((after - before) / plan.idle_connections, 2),
        "idle_server_cpu_util": idle_cpu["server_cpu_util"],
    }


async def agents_scenario(plan: Plan) -> dict[str, Any]:
    """Memory per agent: an idle hub with few agents against one with many."""
    few, many = plan.agents_memory
    rss = {}
    for n in (few, many):
        async with server("hub", n, "memory") as srv:
            rss[n] = await settle_rss(srv, plan.settle)
    return {
        "agents": [few, many],
        "rss_mb": [round(rss[few] / 1024, 1), round(rss[many] / 1024, 1)],
        "kb_per_agent": round((rss[many] - rss[few]) / (many - few), 2),
    }


# --- the whole run --------------------------------------------------------------------------------


async def timed(scenario: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run one scenario; note its duration and say on stderr what it found."""
    t0 = time.perf_counter()
    result = await scenario
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    brief = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    sat = result.get("saturation")
    if sat:
        brief |= {
            k: sat[k] for k in ("commands_per_s", "events_per_s", "server_cpu_us_per_command")
        }
    print(json.dumps(brief), file=sys.stderr, flush=True)
    return result


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    from importlib.metadata import version

    packages = {
        name: version(name)
        for name in ("uvicorn", "starlette", "websockets", "uvloop", "httptools", "msgspec")
    }
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": packages,
    }


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


async def run(
    plan: Plan, journal: str, compare_journals: Sequence[str], profile: str | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "smoke": plan is SMOKE,
        "machine": machine(),
        "loadavg_before": loadavg(),
        "plan": plan.__dict__,
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "cycle": "IncomingCall, Answer, Hold, Resume, Disconnect, ClearContact",
        "ws": WS,
    }
    fan = plan.fanout_apps
    # echo and hub side by side, in that order, for each shape: their noise is alike
    # the sized echo answers each command with the frames and bytes the hub sent for it
    echo1 = await timed(load_scenario("echo", plan, 1, "none", FRACTIONS))
    hub1 = await timed(load_scenario("hub", plan, 1, "none", FRACTIONS, profile))
    shape = hub1["saturation"]["reply_shape"]
    result["load"] = [
        echo1,
        hub1,
        await timed(load_scenario("echo", plan, 1, "none", FRACTIONS, shape=shape)),
        await timed(load_scenario("hub", plan, 1, journal, FRACTIONS)),
        await timed(load_scenario("echo", plan, fan, "none", ())),
        await timed(load_scenario("echo", plan, fan, "none", (), shape=shape)),
        await timed(load_scenario("hub", plan, fan, "none", ())),
        await timed(load_scenario("hub", plan, fan, journal, ())),
    ]
    # other journals side by side (1 app per agent, saturation only)
    result["journals"] = [
        await timed(load_scenario("hub", plan, 1, spec, ())) for spec in compare_journals
    ]
    result["idle"] = [
        await timed(idle_scenario("echo", plan)),
        await timed(idle_scenario("hub", plan)),
    ]
    result["agents_memory"] = await timed(agents_scenario(plan))
    result["loadavg_after"] = loadavg()
    result["duration_s"] = round(time.perf_counter() - t0, 1)
    result["summary"] = summarise(result)
    return result


def _find(load: list[dict[str, Any]], server: str, apps: int, journal: str | None) -> Any:
    for s in load:
        if s["server"] == server and s["apps_per_agent"] == apps and s["journal"] == journal:
            return s
    raise KeyError((server, apps, journal))


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, as ratios measured in this one run."""
    load = result["load"]
    fan = result["plan"]["fanout_apps"]
    echo1 = _find(load, "echo", 1, None)["saturation"]
    echo1_rates = _find(load, "echo", 1, None)["rates"]
    hub1 = _find(load, "hub", 1, "none")
    echo_n = _find(load, "echo", fan, None)["saturation"]
    hub_n = _find(load, "hub", fan, "none")["saturation"]
    sized1 = _find(load, "sized echo", 1, None)["saturation"]
    sized_n = _find(load, "sized echo", fan, None)["saturation"]
    at_half = next((r for r in hub1["rates"] if r["fraction"] == 0.5), None)
    # the same hub with the "journal on" journal (run's --journal), beside the journal-less one
    hub1j = next(
        (s for s in load if s["server"] == "hub" and s["apps_per_agent"] == 1
         and s["journal"] != "none"), None,
    )  # fmt: skip
    at_half_j = next((r for r in hub1j["rates"] if r["fraction"] == 0.5), None) if hub1j else None
    hub_idle = next(i for i in result["idle"] if i["server"] == "hub")
    echo_idle = next(i for i in result["idle"] if i["server"] == "echo")
    echo_half_p99 = next(
        (r["latency_ms"]["p99"] for r in echo1_rates if r["fraction"] == 0.5), None
    )

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return {
        "throughput_vs_echo": ratio(hub1["saturation"]["commands_per_s"], echo1["commands_per_s"]),
        "throughput_vs_echo_fanout": ratio(hub_n["commands_per_s"], echo_n["commands_per_s"]),
        # the same comparison by CPU per command: unlike commands/s it does not depend on how
        # much of a core each server got while others' work shared the machine
        "cpu_efficiency_vs_echo": ratio(
            echo1["server_cpu_us_per_command"], hub1["saturation"]["server_cpu_us_per_command"]
        ),
        "cpu_efficiency_vs_sized_echo": ratio(
            sized1["server_cpu_us_per_command"], hub1["saturation"]["server_cpu_us_per_command"]
        ),
        "p99_ms_at_half_saturation": at_half["latency_ms"]["p99"] if at_half else None,
        "throughput_vs_echo_journal": ratio(
            hub1j["saturation"]["commands_per_s"] if hub1j else None, echo1["commands_per_s"]
        ),
        "cpu_efficiency_vs_echo_journal": ratio(
            echo1["server_cpu_us_per_command"],
            hub1j["saturation"]["server_cpu_us_per_command"] if hub1j else None,
        ),
        "p99_ms_at_half_saturation_journal": at_half_j["latency_ms"]["p99"] if at_half_j else None,
        "p99_ms_at_half_saturation_quiet": (
            at_half["latency_quiet_ms"]["p99"] if at_half else None
        ),
        "echo_p99_ms_at_half_saturation": echo_half_p99,
        # round 2 (issue #16): the durable journal against none, and its tail against the echo's
        "journal_throughput_ratio": ratio(
            hub1j["saturation"]["commands_per_s"] if hub1j else None,
            hub1["saturation"]["commands_per_s"],
        ),
        "journal_cpu_ratio": ratio(
            hub1["saturation"]["server_cpu_us_per_command"],
            hub1j["saturation"]["server_cpu_us_per_command"] if hub1j else None,
        ),
        "p99_ms_at_half_saturation_journal_quiet": (
            at_half_j["latency_quiet_ms"]["p99"] if at_half_j else None
        ),
        "p99_journal_vs_echo_at_half_saturation": ratio(
            at_half_j["latency_ms"]["p99"] if at_half_j else None, echo_half_p99
        ),
        "idle_memory_vs_echo": ratio(hub_idle["kb_per_connection"], echo_idle["kb_per_connection"]),
        "idle_connections_held": hub_idle["held"],
        "kb_per_idle_connection": hub_idle["kb_per_connection"],
        "fanout_cpu_ratio": ratio(
            hub_n["server_cpu_us_per_command"], hub1["saturation"]["server_cpu_us_per_command"]
        ),
        # the same ratios for the baselines: what fan-out and the hub's bytes cost by themselves
        "throughput_vs_sized_echo": ratio(
            hub1["saturation"]["commands_per_s"], sized1["commands_per_s"]
        ),
        "throughput_vs_sized_echo_fanout": ratio(
            hub_n["commands_per_s"], sized_n["commands_per_s"]
        ),
        "echo_fanout_cpu_ratio": ratio(
            echo_n["server_cpu_us_per_command"], echo1["server_cpu_us_per_command"]
        ),
        "sized_echo_fanout_cpu_ratio": ratio(
            sized_n["server_cpu_us_per_command"], sized1["server_cpu_us_per_command"]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="results folder")
    parser.add_argument("--smoke", action="store_true", help="seconds-long run of every phase")
    parser.add_argument(
        "--journal",
        default="sqlite",
        help="the 'journal on' journal: sqlite[:PATH] (the hub's SqliteJournal) | memory",
    )
    parser.add_argument(
        "--compare-journals", default="memory",
        help="journals to run side by side at saturation (comma-separated; '' for none)",
    )  # fmt: skip
    parser.add_argument("--profile", help="pyinstrument profile of the 1-app hub run (HTML)")
    args = parser.parse_args(argv)
    raise_fd_limit()
    plan = SMOKE if args.smoke else FULL
    compare = [j for j in args.compare_journals.split(",") if j]
    result = uvloop.run(run(plan, args.journal, compare, args.profile))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "smoke.json" if args.smoke else "latest.json"
    (out / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out / name} in {result['duration_s']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
