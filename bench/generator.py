"""The load generator: N agents x M apps per agent over loopback, driving call cycles.

Per agent, the first app connection is the *driver*: it sends the call cycle
(Simulator/IncomingCall, Answer, Hold, Resume, Disconnect, ClearContact) and measures each
command from the moment its frame is written to the moment the first frame carrying its
``requestId`` arrives.  The other M-1 connections are *listeners*: they only count frames
(every event of an agent goes to every app of the agent — that is the fan-out being measured).

Two ways to drive:

* ``closed_loop`` — as fast as it can: each driver keeps ``window`` commands outstanding and
  sends the next one the moment a command's first event arrives.  This finds saturation.
* ``open_loop`` — a fixed total rate, Poisson arrivals spread over the drivers, sent whether
  or not earlier commands have been answered (no coordinated omission: a slow server makes
  commands queue, and their latency shows it).

Against the echo server the same frames come straight back, so the same code measures it.
Everything runs in callbacks of one uvloop loop; nothing here awaits per frame.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from array import array
from collections.abc import Sequence
from typing import Any

import msgspec

from .wsclient import WsConnection, connect

CYCLE: list[tuple[str, str, dict[str, Any] | None]] = [
    ("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}),
    ("InboundCall", "Answer", None),
    ("InboundCall", "Hold", None),
    ("InboundCall", "Resume", None),
    ("InboundCall", "Disconnect", None),
    ("InboundCall", "ClearContact", None),
]
CONFIGURE = ("Simulator", "Configure", {"ringSeconds": 0, "answerSeconds": 0})
RESET = ("Simulator", "Reset", None)


def template(topic: str, subtopic: str, data: dict[str, Any] | None) -> tuple[bytes, bytes]:
    """The request as (bytes before the requestId, bytes after it)."""
    message: dict[str, Any] = {
        "channel": "Amazon", "topic": topic, "subtopic": subtopic, "source": "bench",
    }  # fmt: skip
    if data is not None:
        message["data"] = data
    body = msgspec.json.encode(message)
    return body[:-1] + b',"requestId":"', b'"}'


CYCLE_FRAMES = [template(*c) for c in CYCLE]


def sized_cycle(shape: Sequence[tuple[int, int]]) -> list[tuple[bytes, bytes]]:
    """The cycle for the sized echo: each step asks for (frames, bytes per frame) in reply."""
    return [
        template(topic, subtopic, {"frames": frames, "size": size})
        for (topic, subtopic, _), (frames, size) in zip(CYCLE, shape, strict=True)
    ]


CONFIGURE_FRAME = template(*CONFIGURE)
RESET_FRAME = template(*RESET)


class Head(msgspec.Struct):
    """The two fields the driver reads from an event; msgspec skips the rest unparsed."""

    subtopic: str = ""
    requestId: str | None = None


_HEAD = msgspec.json.Decoder(Head)


class Meter:
    """What one measurement window saw."""

    def __init__(self) -> None:
        self.start_ns = math.inf
        self.end_ns = math.inf
        self.done = 0  # first events received inside the window
        self.errors = 0
        self.latencies = array("q")  # ns, for commands sent inside the window
        self.sent = array("q")  # when each of them was sent (perf_counter_ns)
        self.lag = array("q")  # open loop: ns between a command's due time and its send
        # per cycle step: commands sent in the window, frames and bytes they caused (driver app)
        self.step_commands = [0] * len(CYCLE)
        self.step_frames = [0] * len(CYCLE)
        self.step_bytes = [0] * len(CYCLE)

    def reply_shape(self) -> list[tuple[int, int]]:
        """Per cycle step: frames per command (rounded) and bytes per frame, as seen."""
        return [
            (round(f / c) if c else 1, round(b / f) if f else 100)
            for c, f, b in zip(self.step_commands, self.step_frames, self.step_bytes, strict=True)
        ]

    def open(self, seconds: float) -> None:
        self.start_ns = time.perf_counter_ns()
        self.end_ns = self.start_ns + seconds * 1e9


class Driver:
    """Drives one agent's call cycle over its first app connection."""

    def __init__(self, conn: WsConnection, index: int) -> None:
        self.conn = conn
        self.index = index
        self.step = 0
        self.count = 0
        self.pending: dict[str, tuple[int, asyncio.Future[None] | None]] = {}
        self.meter = Meter()
        self.running = False
        self.closed_loop = False
        self.recovering = False
        self.rate = 0.0
        self._due = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._rng = random.Random(index)
        self.cycle = CYCLE_FRAMES
        conn.on_frame = self.on_frame

    # sending ------------------------------------------------------------------------------------

    def _send(
        self, frame: tuple[bytes, bytes], future: asyncio.Future[None] | None = None, tag: str = "x"
    ) -> None:
        self.count += 1
        rid = f"{self.index}.{self.count}.{tag}"  # tag: the cycle step, "x" outside the cycle
        t0 = time.perf_counter_ns()
        self.pending[rid] = (t0, future)
        self.conn.send_text(frame[0] + rid.encode() + frame[1])
        meter = self.meter
        if tag != "x" and meter.start_ns <= t0 <= meter.end_ns:
            meter.step_commands[int(tag)] += 1

    def send_next(self) -> None:
        step = self.step
        self.step = (step + 1) % len(self.cycle)
        self._send(self.cycle[step], tag=str(step))

    def call(self, frame: tuple[bytes, bytes]) -> asyncio.Future[None]:
        """Send one request outside the cycle; resolves on its first event."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._send(frame, future)
        return future

    # receiving ----------------------------------------------------------------------------------

    def on_frame(self, conn: WsConnection, payload: bytes, now: int) -> None:
        head = _HEAD.decode(payload)
        rid = head.requestId
        if rid is None:
            return
        meter = self.meter
        tag = rid[rid.rfind(".") + 1 :]
        if tag != "x" and meter.start_ns <= now:
            meter.step_frames[int(tag)] += 1
            meter.step_bytes[int(tag)] += len(payload)
        entry = self.pending.pop(rid, None)
        if entry is None:
            return  # a later event of a command already answered
        t0, future = entry
        if future is not None:
            if not future.done():
                future.set_result(None)
            return
        if meter.start_ns <= now <= meter.end_ns:
            meter.done += 1
        if meter.start_ns <= t0 <= meter.end_ns:
            meter.latencies.append(now - t0)
            meter.sent.append(t0)
        if head.subtopic == "Error":
            # a refused step leaves the cycle out of step: let what was sent drain, then Reset
            meter.errors += 1
            self.recovering = True
        if self.recovering:
            if not self.pending:
                self.recovering = False
                self._recover()
        elif self.closed_loop and self.running:
            self.send_next()

    def reset(self) -> asyncio.Future[None]:
        """Reset the agent (no contacts, default sim timings), then switch the timers off
        again; resolves when the Configure is answered (the hub runs them in order)."""
        self.step = 0
        self.call(RESET_FRAME)
        return self.call(CONFIGURE_FRAME)

    def _recover(self) -> None:
        future = self.reset()

        def resumed(_: asyncio.Future[None]) -> None:
            if self.closed_loop and self.running:
                self.send_next()

        future.add_done_callback(resumed)

    # modes --------------------------------------------------------------------------------------

    def start_closed(self, window: int) -> None:
        self.running, self.closed_loop = True, True
        for _ in range(window):
            self.send_next()

    def start_open(self, rate: float) -> None:
        """Poisson arrivals at ``rate`` commands/s for this agent."""
        self.running, self.closed_loop, self.rate = True, False, rate
        self._due = time.perf_counter() + self._rng.expovariate(rate)
        self._arm()

    def _arm(self) -> None:
        delay = max(0.0, self._due - time.perf_counter())
        self._timer = asyncio.get_running_loop().call_later(delay, self._tick)

    def _tick(self) -> None:
        if not self.running:
            return
        now = time.perf_counter()
        while self._due <= now:  # catch up: arrivals are never skipped because we were late
            if not self.recovering:
                meter = self.meter
                sent = time.perf_counter_ns()
                if meter.start_ns <= sent <= meter.end_ns:
                    meter.lag.append(int((now - self._due) * 1e9))
                self.send_next()
            self._due += self._rng.expovariate(self.rate)
        self._arm()

    def stop(self) -> None:
        self.running = False
        if self._timer is not None:
            self._timer.cancel()


class Fleet:
    """Every connection of one run: ``agents`` x ``apps``; the first app of each agent drives."""

    def __init__(self, conns: list[list[WsConnection]]) -> None:
        self.conns = conns
        self.drivers = [Driver(group[0], i) for i, group in enumerate(conns)]

    @property
    def all(self) -> list[WsConnection]:
        return [c for group in self.conns for c in group]

    def frames(self) -> tuple[int, int]:
        conns = self.all
        return sum(c.frames for c in conns), sum(c.bytes_in for c in conns)

    async def configure(self) -> None:
        """Sim timers off for every agent (no ring timeout, no auto-answer) and a clean state."""
        await asyncio.wait_for(asyncio.gather(*(d.reset() for d in self.drivers)), 30)

    def set_meter(self, meter: Meter) -> None:
        for d in self.drivers:
            d.meter = meter

    def set_cycle(self, frames: list[tuple[bytes, bytes]]) -> None:
        for d in self.drivers:
            d.cycle = frames

    async def stop_and_drain(self, timeout: float = 10.0) -> int:
        """Stop sending; wait for every outstanding command's first event.  Returns how many
        never came (0 unless the server lost commands)."""
        for d in self.drivers:
            d.stop()
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not any(d.pending or d.recovering for d in self.drivers):
                break
            await asyncio.sleep(0.01)
        lost = sum(len(d.pending) for d in self.drivers)
        for d in self.drivers:
            d.pending.clear()
            d.recovering = False
        # back to the start of the cycle for the next phase: finish an interrupted cycle
        await self.realign()
        return lost

    async def realign(self) -> None:
        """Bring every driver back to the start of its cycle (Reset if it stopped mid-cycle)."""
        calls = [d.reset() for d in self.drivers if d.step != 0]
        if calls:
            await asyncio.wait_for(asyncio.gather(*calls), 30)

    async def close(self) -> None:
        conns = self.all
        for c in conns:
            c.close()
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in conns], timeout=10)


async def open_connections(
    host: str, port: int, paths: Sequence[str], concurrency: int = 200
) -> list[WsConnection]:
    """Open one connection per path, ``concurrency`` handshakes at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> WsConnection:
        async with gate:
            for attempt in range(5):
                try:
                    return await asyncio.wait_for(connect(host, port, path), 30)
                except (OSError, TimeoutError):
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.2 * (attempt + 1))
            raise AssertionError("unreachable")

    return list(await asyncio.gather(*(one(p) for p in paths)))


async def open_fleet(host: str, port: int, agents: int, apps: int) -> Fleet:
    paths = [f"/ws?agent=agent{a + 1}" for a in range(agents) for _ in range(apps)]
    flat = await open_connections(host, port, paths)
    return Fleet([flat[a * apps : (a + 1) * apps] for a in range(agents)])


def percentiles(samples_ns: array[int], points: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles in milliseconds."""
    if not samples_ns:
        return {f"p{p:g}": None for p in points}
    ordered = sorted(samples_ns)
    out: dict[str, float | None] = {}
    for p in points:
        rank = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        out[f"p{p:g}"] = ordered[rank] / 1e6
    return out
