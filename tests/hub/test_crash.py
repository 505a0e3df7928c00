"""Crash recovery: a hub process under load from several apps is ``kill -9``ed mid-stream and
restarted on the same journal; every app resumes from the last seq it saw and, in the end, has
received every journaled event of its agent exactly once, in order, byte for byte.

The restarted simulator starts fresh (agents Available, no contacts).  The hub continues ``seq``
from the journal and compares the agent as it was last journaled with the fresh backend: what
changed while it was down (the call dropped, the state) is published as ordinary journaled
events; an app whose resume crosses the restart then also gets a StateSync pair (no seq).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import websockets

from support.hub import HubProcess, request, ws_url

AGENTS = ("agent1", "agent2", "agent3")
APPS_PER_AGENT = 2
CONFIG = """
[auth]
insecure = true
[limits]
rate_per_s = 100000
rate_burst = 100000
[journal]
path = "{journal}"
"""

Message = dict[str, Any]


class App:
    """An app of one agent that records everything it receives, across reconnections."""

    def __init__(self, url: str, agent: str) -> None:
        self.url = url
        self.agent = agent
        self.received: list[Message] = []
        self.ws: Any = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def last_seq(self) -> int:
        return max((m["seq"] for m in self.received if "seq" in m), default=0)

    async def open(self, resume: bool = False) -> None:
        query = {"resumeFrom": self.last_seq} if resume else {}
        self.ws = await websockets.connect(ws_url(self.url, self.agent, **query))
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for frame in ws:
                self.received.append(json.loads(frame))

    async def closed(self, timeout: float = 20) -> None:
        assert self._reader is not None
        await asyncio.wait_for(self._reader, timeout)

    async def send(self, frame: str) -> None:
        await self.ws.send(frame)


def cycle(agent: str, n: int) -> list[str]:
    """One call and two state changes: every command succeeds from an Available agent."""
    number = f"+1555000{AGENTS.index(agent):04d}"
    return [
        request("Simulator", "IncomingCall", {"phoneNumber": number}, f"{agent}-{n}-ring"),
        request("InboundCall", "Answer", rid=f"{agent}-{n}-answer"),
        request("InboundCall", "Hold", rid=f"{agent}-{n}-hold"),
        request("InboundCall", "Resume", rid=f"{agent}-{n}-resume"),
        request("InboundCall", "Disconnect", rid=f"{agent}-{n}-hangup"),
        request("InboundCall", "ClearContact", rid=f"{agent}-{n}-clear"),
        request("Agent", "UpdateState", {"label": "Break"}, f"{agent}-{n}-break"),
        request("Agent", "UpdateState", {"label": "Available"}, f"{agent}-{n}-ready"),
    ]


async def drive(app: App, stop: asyncio.Event, cycles: int | None = None) -> None:
    """Send commands as fast as the hub takes them, until ``stop`` (or ``cycles``)."""
    n = 0
    with contextlib.suppress(websockets.ConnectionClosed):
        while not stop.is_set() and (cycles is None or n < cycles):
            for frame in cycle(app.agent, n):
                await app.send(frame)
            n += 1
            await asyncio.sleep(0.005)


def journal_rows(path: Path) -> dict[str, list[tuple[int, bytes]]]:
    db = sqlite3.connect(path)
    try:
        rows: dict[str, list[tuple[int, bytes]]] = {agent: [] for agent in AGENTS}
        for login, seq, data in db.execute("SELECT login, seq, data FROM events ORDER BY seq"):
            rows.setdefault(login, []).append((seq, bytes(data)))
        return rows
    finally:
        db.close()


async def test_kill_9_mid_stream_and_every_app_resumes_without_loss(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    hub = HubProcess(tmp_path, CONFIG.format(journal=journal))
    try:
        await asyncio.to_thread(hub.start)
        apps = [App(hub.url, agent) for agent in AGENTS for _ in range(APPS_PER_AGENT)]
        drivers = {agent: App(hub.url, agent) for agent in AGENTS}
        for app in [*apps, *drivers.values()]:
            await app.open()
        stop = asyncio.Event()
        load = [asyncio.create_task(drive(d, stop)) for d in drivers.values()]
        # mid-stream: every agent well into its load, the drivers still sending
        async with asyncio.timeout(30):
            while min(len(a.received) for a in apps) < 400:
                await asyncio.sleep(0.01)
        await asyncio.to_thread(hub.kill)
        stop.set()
        await asyncio.gather(*load)
        for app in [*apps, *drivers.values()]:
            await app.closed()

        at_crash = {agent: rows[-1][0] for agent, rows in journal_rows(journal).items()}
        everyone = [*apps, *drivers.values()]
        seen = [app.last_seq for app in everyone]
        before = [len(app.received) for app in everyone]
        for app in everyone:
            assert app.last_seq <= at_crash[app.agent]  # nothing is sent before its commit

        await asyncio.to_thread(hub.start)
        for app in everyone:
            await app.open(resume=True)
        await asyncio.gather(*(drive(d, asyncio.Event(), cycles=10) for d in drivers.values()))
        await asyncio.sleep(0.3)
        assert await asyncio.to_thread(hub.terminate) == 0, hub.log()
        for app in everyone:
            await app.closed()

        rows = journal_rows(journal)
        for app, last_seen, count in zip(everyone, seen, before, strict=True):
            events = [m for m in app.received if "seq" in m]
            expected = rows[app.agent]
            # every journaled event of the agent, exactly once, in order, as journaled
            assert [m["seq"] for m in events] == list(range(1, len(expected) + 1))
            assert events == [json.loads(data) for _, data in expected]
            # after the resume: the replay (what it missed, then what changed while the hub was
            # down, with seq continuing from the journal), the fresh state, then live events
            after = app.received[count:]
            n = next(i for i, m in enumerate(after) if "seq" not in m)
            replay, pair, live = after[:n], after[n : n + 2], after[n + 2 :]
            assert [m["seq"] for m in replay] == list(range(last_seen + 1, last_seen + 1 + n))
            assert replay[-1]["seq"] > at_crash[app.agent]
            assert [m["subtopic"] for m in replay[-2:]] == ["SetAgentState", "CcpAgentState"]
            assert replay[-2]["message"]["event"] == "Available"
            assert [(m["topic"], m["subtopic"]) for m in pair] == [
                ("Agent", "StateSync"), ("InboundCall", "StateSync")
            ]  # fmt: skip
            assert pair[0]["message"]["agentState"]["name"] == "Available"
            assert pair[1]["message"]["calls"] == []
            assert live and all("seq" in m for m in live)
    finally:
        hub.stop()
