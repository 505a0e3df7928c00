"""Bad frames at a live hub: 10,000 in ``make test`` (``CTIBRIDGE_FUZZ_FRAMES`` sets more; ``make
fuzz`` sends 100,000 and writes a report to ``CTIBRIDGE_FUZZ_REPORT``).

Every frame must be answered with exactly the §5 error the protocol gives it, to its sender only,
in order; afterwards the hub is still serving, no connection was dropped, nothing was journaled,
and every agent's state is what a fresh StateSync shows and what it was before.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import websockets
from fuzz_frames import BadFrames, check_answer

from ctibridge.settings import AuthSettings, LimitSettings, Settings
from livehub import start_live_hub, stop_live_hub

FRAMES = int(os.environ.get("CTIBRIDGE_FUZZ_FRAMES", "10000"))
REPORT = os.environ.get("CTIBRIDGE_FUZZ_REPORT")
SEED = int(os.environ.get("CTIBRIDGE_FUZZ_SEED", "20240601"))
CONNECTIONS = 4
WINDOW = 200  # frames in flight per connection


async def recv(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


async def state_of(url: str, agent: str) -> list[dict[str, Any]]:
    """What a fresh app of ``agent`` is told first: its Agent and call StateSync."""
    async with websockets.connect(f"{url}/ws?agent={agent}") as ws:
        return [await recv(ws), await recv(ws)]


async def fuzz(ws: Any, frames: BadFrames, count: int, failures: list[str]) -> Counter[str]:
    """Send ``count`` bad frames on ``ws`` in windows and check each answer in order."""
    types: Counter[str] = Counter()
    left = count
    while left:
        batch = [frames.draw() for _ in range(min(WINDOW, left))]
        left -= len(batch)
        for _, frame, _ in batch:
            await ws.send(frame)
        for kind, frame, expected in batch:
            answer = await recv(ws)
            why = check_answer(answer, expected)
            if why is not None and len(failures) < 20:
                failures.append(f"{kind}: {why} for {frame[:200]!r}")
            types[answer["message"]["type"]] += 1
    return types


async def test_bad_frames_at_a_live_hub() -> None:
    settings = Settings(
        sim_seed=11,
        auth=AuthSettings(insecure=True),
        limits=LimitSettings(rate_per_s=1e9, rate_burst=10**9),
    )
    live = await start_live_hub(settings)
    try:
        url = live.url
        # agent2 on a call: its ids are the "foreign" ids agent1's apps try to use
        async with websockets.connect(f"{url}/ws?agent=agent2") as two:
            await recv(two), await recv(two)
            await two.send(json.dumps({"channel": "Amazon", "topic": "Simulator",
                                       "subtopic": "IncomingCall", "source": "t",
                                       "data": {"phoneNumber": "+15551234567"}}))  # fmt: skip
            ringing = (await recv(two))["message"]["call"]["ResponseActual"]
        foreign = {"contactId": ringing["contactId"], "connectionId": ringing["connectionId"]}
        agents = sorted(live.hub.engine.sessions)
        before = {a: await state_of(url, a) for a in agents}
        heads = {a: live.hub.journal.last_seq(a) for a in agents}

        apps = [await websockets.connect(f"{url}/ws?agent=agent1") for _ in range(CONNECTIONS)]
        for ws in apps:
            await recv(ws), await recv(ws)
        generators = [BadFrames(SEED + i, foreign) for i in range(CONNECTIONS)]
        failures: list[str] = []
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(
                fuzz(ws, g, FRAMES // CONNECTIONS, failures)
                for ws, g in zip(apps, generators, strict=True)
            )
        )
        elapsed = time.perf_counter() - started
        sent = CONNECTIONS * (FRAMES // CONNECTIONS)
        types = sum(counts, Counter())
        kinds: Counter[str] = sum((g.kinds for g in generators), Counter())

        # every connection is still open and answers a good request
        alive = 0
        for i, ws in enumerate(apps):
            await ws.send(json.dumps({"channel": "Amazon", "topic": "Agent",
                                      "subtopic": "StateSync", "source": "t",
                                      "requestId": f"ok{i}"}))  # fmt: skip
            answer = await recv(ws)
            alive += (answer["subtopic"], answer["requestId"]) == ("StateSync", f"ok{i}")
        after = {a: await state_of(url, a) for a in agents}
        journaled = {a: live.hub.journal.last_seq(a) - heads[a] for a in agents}
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{live.http}/healthz")
            metrics = (await http.get(f"{live.http}/metrics")).text
        internal = 'ctibridge_errors_total{type="INTERNAL"}' in metrics
        report = {
            "frames": sent,
            "connections": CONNECTIONS,
            "window": WINDOW,
            "seed": SEED,
            "seconds": round(elapsed, 3),
            "frames_per_second": round(sent / elapsed),
            "answered": sum(types.values()),
            "wrong_answers": len(failures),
            "internal_errors": int(internal),
            "hub_healthy_after": health.status_code == 200,
            "connections_alive_after": alive,
            "events_journaled": sum(journaled.values()),
            "agents_whose_state_changed": sum(after[a] != before[a] for a in agents),
            "by_kind": dict(sorted(kinds.items())),
            "by_error_type": dict(sorted(types.items())),
        }
        if REPORT:
            Path(REPORT).parent.mkdir(parents=True, exist_ok=True)
            Path(REPORT).write_text(json.dumps(report, indent=2) + "\n")

        assert failures == [], "\n".join(failures)
        assert report["answered"] == sent >= FRAMES - CONNECTIONS
        assert alive == CONNECTIONS
        assert not internal and health.status_code == 200
        assert live.hub.stats["errors"] == sent
        # no state changed: nothing journaled, every agent's state as before and as fresh
        assert journaled == {a: 0 for a in agents}
        assert after == before
        assert answer["message"] == before["agent1"][0]["message"]
        assert all(kinds[k] > 0 for k in ("random_bytes", "envelope", "data", "forbidden", "deep"))
        for ws in apps:
            await ws.close()
    finally:
        await stop_live_hub(live)
