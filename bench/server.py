"""The process under test: the ctibridge hub, or the bare echo baseline, on the same stack.

    python -m bench.server --mode hub  --port P --agents N [--journal none|memory|sqlite:PATH]
    python -m bench.server --mode echo --port P

Both are Starlette apps served by uvicorn with uvloop and httptools and the same WebSocket
implementation, so the only difference the generator sees is the work the hub does per frame.

* ``hub`` — the real ``Hub`` + ``create_app`` over the simulator on a ``RealClock``.
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
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import RealClock
from ctibridge.hub import Hub, create_app
from ctibridge.hub.transport import CorkedWebSocketProtocol
from ctibridge.journal import Journal, MemoryJournal
from ctibridge.settings import Settings


class NullJournal:
    """No journal at all: the hub's path with the journal step removed ("journal off").
    (``save_state``/``commit``/``state``/``health``: for hubs whose journals have them.)"""

    def append(self, login: str, seq: int, data: bytes) -> None:
        pass

    def save_state(self, login: str, data: bytes) -> None:
        pass

    def commit(self) -> None:
        pass

    def state(self, login: str) -> bytes | None:
        return None

    def health(self) -> dict[str, object]:
        return {"ok": True, "kind": "none"}

    def since(self, login: str, seq: int) -> list[bytes] | None:
        return None

    def last_seq(self, login: str) -> int:
        return 0

    def close(self) -> None:
        pass


class GroupMemoryJournal(MemoryJournal):
    """The memory journal written by group commit (``append_many``: one call per loop tick)."""

    def append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> None:
        for login, seq, data in entries:
            self.append(login, seq, data)


class CostlyJournal(MemoryJournal):
    """A stand-in for a durable journal: every write (commit) costs ``cost_us`` of CPU, like
    a SQLite transaction does; with ``group`` it takes a whole tick's events per write."""

    def __init__(self, cost_us: float, group: bool) -> None:
        super().__init__()
        self.cost_s = cost_us / 1e6
        if group:
            self.append_many = self._append_many

    def _commit(self) -> None:
        end = time.perf_counter() + self.cost_s
        while time.perf_counter() < end:
            pass

    def append(self, login: str, seq: int, data: bytes) -> None:
        super().append(login, seq, data)
        if not hasattr(self, "append_many"):
            self._commit()

    def _append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> None:
        for login, seq, data in entries:
            super().append(login, seq, data)
        self._commit()


def _sqlite_journal(path: str) -> Journal:
    # The durable SQLite journal lives on another branch; once merged, this is the one place
    # the bench needs to know its name.  Until then ``--journal sqlite:...`` says so and stops.
    try:
        from ctibridge.journal import SqliteJournal  # type: ignore[attr-defined]
    except ImportError:
        raise SystemExit("--journal sqlite: no SqliteJournal in this build") from None
    journal: Journal = SqliteJournal(path or "bench-journal.sqlite3")
    return journal


JOURNALS: dict[str, Callable[[str], Journal]] = {
    "none": lambda _: NullJournal(),
    "memory": lambda _: MemoryJournal(),
    "memory-group": lambda _: GroupMemoryJournal(),
    "costly": lambda us: CostlyJournal(float(us or 100), group=False),
    "costly-group": lambda us: CostlyJournal(float(us or 100), group=True),
    "sqlite": _sqlite_journal,
}


def make_journal(spec: str) -> Journal:
    """``none``, ``memory``, ``memory-group``, ``costly[-group][:US]`` or ``sqlite[:PATH]``."""
    kind, _, arg = spec.partition(":")
    if kind not in JOURNALS:
        raise SystemExit(f"unknown journal {spec!r}; one of {', '.join(JOURNALS)}")
    return JOURNALS[kind](arg)


def hub_app(agents: int, journal: Journal) -> Starlette:
    clock = RealClock()
    settings = Settings(sim_agents=agents, sim_seed=1)
    backend = SimBackend(clock, seed=1, agents=agents)
    return create_app(Hub(backend, clock, settings, journal=journal))


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
    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
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
    app = hub_app(args.agents, make_journal(args.journal)) if args.mode == "hub" else echo_app()
    ws = CorkedWebSocketProtocol if args.ws == "corked" else args.ws
    config = uvicorn.Config(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", ws=ws,
        log_level="warning", ws_max_size=1 << 20, backlog=4096, lifespan="on",
    )  # fmt: skip
    server = _Server(config)
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
        if profiler is not None:
            profiler.stop()
            with open(args.profile, "w") as f:
                f.write(profiler.output_html())
            with open(args.profile + ".txt", "w") as f:
                f.write(profiler.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
