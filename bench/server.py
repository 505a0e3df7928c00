"""The process under test: the ctibridge hub, or the bare echo baseline, on the same stack.

    python -m bench.server --mode hub  --port P --agents N [--journal none|memory|sqlite[:PATH]]
    python -m bench.server --mode echo --port P

Both are Starlette apps served by uvicorn with uvloop and httptools and the same WebSocket
implementation, so the only difference the generator sees is the work the hub does per frame.

* ``hub`` — the real ``Hub`` over the simulator on a ``RealClock``, served by
  ``hub.server.uvicorn_config`` (so: the corked WebSocket protocol) with ``bench_settings``.
* ``echo`` — the physical limit: each text frame is parsed and re-encoded with msgspec (the
  hub's JSON library) and sent back to every connection of the same ``?agent=`` group, so with
  M apps per agent it pays the same M-fold fan-out of writes as the hub, and nothing else.
  A request with ``data: {"frames": F, "size": S}`` is answered with F frames of S bytes
  instead (the *sized echo*: the hub's output per command on the wire, without the hub).

Prints ``READY <port>`` on stdout once it accepts connections.  ``--profile FILE`` runs the
server under pyinstrument and writes an HTML profile when it stops (SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import RealClock
from ctibridge.hub import Hub, journaling
from ctibridge.hub.server import settle_gc, uvicorn_config
from ctibridge.hub.transport import CorkedWebSocketProtocol
from ctibridge.journal import Journal, MemoryJournal
from ctibridge.settings import AuditSettings, AuthSettings, JournalSettings, LimitSettings, Settings

from .lagprobe import LagProbe


class NullJournal:
    """No journal at all: the hub's path with the journal step removed ("journal off")."""

    def append(self, login: str, seq: int, data: bytes) -> None:
        pass

    def save_state(self, login: str, data: bytes) -> None:
        pass

    def commit(self) -> None:
        pass

    def since(self, login: str, seq: int) -> list[bytes] | None:
        return None

    def last_seq(self, login: str) -> int:
        return 0

    def state(self, login: str) -> bytes | None:
        return None

    def health(self) -> dict[str, object]:
        return {"ok": True, "kind": "none"}

    def close(self) -> None:
        pass


class CostlyJournal(MemoryJournal):
    """A stand-in for a slower durable journal: every commit (one per engine step, as the hub
    commits before sending) costs ``cost_us`` of CPU on top of the memory journal."""

    def __init__(self, cost_us: float) -> None:
        super().__init__()
        self.cost_s = cost_us / 1e6

    def commit(self) -> None:
        end = time.perf_counter() + self.cost_s
        while time.perf_counter() < end:
            pass


def _sqlite_path(arg: str) -> str:
    """``arg``, or a fresh file in a temporary directory (every run starts empty)."""
    return arg or str(Path(tempfile.mkdtemp(prefix="ctibridge-bench-")) / "journal.sqlite3")


# journal spec -> (the hub's [journal] settings, or a journal object the hub is given instead)
JOURNALS: dict[str, Callable[[str], JournalSettings | Journal]] = {
    "none": lambda _: NullJournal(),
    "memory": lambda _: JournalSettings(),  # the hub's own MemoryJournal ([journal] no path)
    "sqlite": lambda arg: JournalSettings(path=_sqlite_path(arg)),  # main's SqliteJournal
    "costly": lambda us: CostlyJournal(float(us or 100)),
}


def make_journal(spec: str) -> JournalSettings | Journal:
    """``none``, ``memory``, ``sqlite[:PATH]`` (the hub's SqliteJournal, WAL) or ``costly[:US]``."""
    kind, _, arg = spec.partition(":")
    if kind not in JOURNALS:
        raise SystemExit(f"unknown journal {spec!r}; one of {', '.join(JOURNALS)}")
    return JOURNALS[kind](arg)


def bench_settings(agents: int, journal: JournalSettings | None = None) -> Settings:
    """The hub's settings for the bench: as `ctibridge serve` builds them, except that the
    loopback load generator runs without tokens and far above the production rate and
    connection limits (it would otherwise be answered RATE_LIMITED / refused with 1013)."""
    return Settings(
        sim_agents=agents,
        sim_seed=1,
        auth=AuthSettings(insecure=True),
        journal=journal or JournalSettings(),
        # the audit log written to a file, as an operator configures it (without a path its
        # records go to a logger nobody configured here, and would cost nothing)
        audit=AuditSettings(
            path=str(Path(tempfile.mkdtemp(prefix="ctibridge-bench-")) / "audit.jsonl")
        ),
        limits=LimitSettings(
            rate_per_s=1e9,
            rate_burst=10**9,
            max_connections=20_000,
            max_connections_per_agent=20_000,
        ),
    )


def make_hub(agents: int, spec: str) -> Hub:
    clock = RealClock()
    journal = make_journal(spec)
    if isinstance(journal, JournalSettings):
        return Hub(SimBackend(clock, seed=1, agents=agents), clock, bench_settings(agents, journal))
    settings = bench_settings(agents)
    return Hub(SimBackend(clock, seed=1, agents=agents), clock, settings, journal=journal)


def echo_app() -> Starlette:
    decoder = msgspec.json.Decoder()
    encoder = msgspec.json.Encoder()
    groups: dict[str, set[WebSocket]] = {}

    def replies(frame: str) -> tuple[str, int]:
        """The frame back, or — asked with ``data: {frames, size}`` (the sized echo) — a
        message of ``size`` bytes carrying the request's requestId, to send ``frames`` times."""
        request = decoder.decode(frame)
        shape = request.get("data") if isinstance(request, dict) else None
        if not (isinstance(shape, dict) and "frames" in shape):
            return encoder.encode(request).decode(), 1
        reply = {
            "channel": "Amazon", "topic": request["topic"], "subtopic": request["subtopic"],
            "requestId": request.get("requestId"), "pad": "",
        }  # fmt: skip
        bare = len(encoder.encode(reply))
        reply["pad"] = "x" * max(0, int(shape["size"]) - bare)
        return encoder.encode(reply).decode(), int(shape["frames"])

    async def echo(ws: WebSocket) -> None:
        group = groups.setdefault(ws.query_params.get("agent", ""), set())
        await ws.accept()
        group.add(ws)
        try:
            while True:
                text, count = replies(await ws.receive_text())
                for _ in range(count):
                    for member in list(group):
                        with contextlib.suppress(Exception):
                            await member.send_text(text)
        except WebSocketDisconnect:
            pass
        finally:
            group.discard(ws)

    return Starlette(routes=[WebSocketRoute("/ws", echo)])


def raise_fd_limit() -> int:
    """Lift the soft open-files limit to the hard one (idle-connection runs need ~10k fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class _Server(uvicorn.Server):
    settle = False  # the hub: its garbage collector settled after start-up, as HubServer does
    probe: LagProbe | None = None  # BENCH_LAG_LOG: the loop-lag probe (bench/lagprobe.py)

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.settle:
            settle_gc()
        if self.probe is not None:
            self.probe.start()
        port = self.servers[0].sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server", description=__doc__)
    parser.add_argument("--mode", choices=["hub", "echo"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (see READY)")
    parser.add_argument("--agents", type=int, default=100, help="hub: simulator agents")
    parser.add_argument("--journal", default="memory", help=f"hub: {make_journal.__doc__}")
    parser.add_argument(
        "--ws", default="corked",
        help="uvicorn WebSocket implementation: corked (the hub's own, as `ctibridge serve` "
        "uses) or one of uvicorn's (auto = websockets-sansio)",
    )  # fmt: skip
    parser.add_argument("--profile", help="write a pyinstrument HTML profile here on exit")
    args = parser.parse_args(argv)

    raise_fd_limit()
    gc_log = os.environ.get("BENCH_GC_LOG")  # where to write the full collections' pauses
    pauses: list[float] = []
    if gc_log:
        started = [0.0]

        def timed(phase: str, info: dict[str, int]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    started[0] = time.perf_counter()
                else:
                    pauses.append(time.perf_counter() - started[0])

        gc.callbacks.append(timed)
    ws = CorkedWebSocketProtocol if args.ws == "corked" else args.ws
    stack: dict[str, Any] = {
        "host": args.host, "port": args.port, "loop": "uvloop", "http": "httptools", "ws": ws,
        "backlog": 4096,
    }  # fmt: skip
    if args.mode == "hub":  # the hub's own uvicorn config, as `ctibridge serve` uses
        config = uvicorn_config(make_hub(args.agents, args.journal), **stack)
    else:  # the same server options for the baseline
        hub_options = uvicorn_config(make_hub(1, "none"))
        config = uvicorn.Config(
            echo_app(), log_level="warning", ws_max_size=hub_options.ws_max_size,
            ws_ping_interval=hub_options.ws_ping_interval,
            ws_ping_timeout=hub_options.ws_ping_timeout, lifespan="on", **stack,
        )  # fmt: skip
    server = _Server(config)
    # BENCH_GC_SETTLE=0: the hub without it (the "before" of docs/performance.md's log)
    server.settle = args.mode == "hub" and os.environ.get("BENCH_GC_SETTLE", "1") != "0"
    lag_log = os.environ.get("BENCH_LAG_LOG")  # where to write the loop-lag probe's summary
    if lag_log:
        server.probe = LagProbe()
        journaling.write_step = server.probe.timed(journaling.write_step)  # the hub's commits
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT that stopped it
    finally:
        if gc_log:
            with open(gc_log, "w") as f:
                f.write(json.dumps({"gen2_pauses_ms": [round(p * 1000, 2) for p in pauses]}))
        if lag_log and server.probe is not None:
            with open(lag_log, "w") as f:
                f.write(json.dumps(server.probe.summary()))
        if profiler is not None:
            profiler.stop()
            with open(args.profile, "w") as f:
                f.write(profiler.output_html())
            with open(args.profile + ".txt", "w") as f:
                f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
