"""Resume over real sockets with the SQLite journal (§6): replay after a seq, a seq from the
future, RESUME_GAP once retention dropped the events, and a restart whose differences are
published as journaled events before the resuming app gets the current StateSync."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import msgspec
import websockets

from ctibridge.protocol import decode_request
from ctibridge.settings import JournalSettings, Settings
from livehub import start_live_hub, stop_live_hub
from support.hub import close_of, insecure, recv_json, request, secured, token, ws_url


def journaled(tmp_path: Path, max_events: int = 10_000) -> Settings:
    return msgspec.structs.replace(
        insecure(), journal=JournalSettings(path=str(tmp_path / "j.db"), max_events=max_events)
    )


async def toggles(url: str, n: int) -> list[dict[str, Any]]:
    """``n`` state changes by one app; the events it received (two each: SetAgentState, then
    CcpAgentState)."""
    ws = await websockets.connect(ws_url(url))
    await recv_json(ws), await recv_json(ws)
    for i in range(n):
        label = ("Break", "Available")[i % 2]
        await ws.send(request("Agent", "UpdateState", {"label": label}, rid=f"t{i}"))
    events = [await recv_json(ws) for _ in range(2 * n)]
    await ws.close()
    return events


async def first(url: str, n: int, **query: Any) -> tuple[Any, list[dict[str, Any]]]:
    ws = await websockets.connect(ws_url(url, **query))
    return ws, [await recv_json(ws) for _ in range(n)]


async def test_replay_then_live_events(tmp_path: Path) -> None:
    live = await start_live_hub(journaled(tmp_path))
    try:
        events = await toggles(live.url, 3)
        ws, replay = await first(live.url, 3, resumeFrom=3)
        assert replay == events[3:]  # the same messages, byte for byte as journaled
        await ws.send(request("Agent", "UpdateState", {"label": "Lunch"}, rid="live"))
        event = await recv_json(ws)
        assert (event["seq"], event["requestId"]) == (7, "live")
        await ws.close()
        # a seq this journal never held (the app saw another history): StateSync + RESUME_GAP
        ws, answer = await first(live.url, 3, resumeFrom=99)
        assert [m["subtopic"] for m in answer] == ["StateSync", "StateSync", "Error"]
        assert answer[2]["message"]["type"] == "RESUME_GAP"
        await ws.send(request("Agent", "GetStates", rid="q"))
        assert (await recv_json(ws))["requestId"] == "q"
        await ws.close()
    finally:
        await stop_live_hub(live)


async def test_resume_gap_after_retention(tmp_path: Path) -> None:
    live = await start_live_hub(journaled(tmp_path, max_events=3))
    try:
        await toggles(live.url, 4)  # 8 events
        live.hub.journal.prune()  # type: ignore[attr-defined]  # as it does every 1000 events
        ws, replay = await first(live.url, 3, resumeFrom=5)
        assert [m["seq"] for m in replay] == [6, 7, 8]
        await ws.close()
        for resume in ("4", "0", "-3", "abc"):
            ws, answer = await first(live.url, 3, resumeFrom=resume)
            agent, call, gap = answer
            assert (agent["subtopic"], call["subtopic"]) == ("StateSync", "StateSync")
            assert agent["message"]["agentState"]["name"] == "Available"  # after 4 toggles
            assert (gap["topic"], gap["subtopic"]) == ("System", "Error")
            assert gap["message"]["type"] == "RESUME_GAP" and "seq" not in gap
            await ws.close()
    finally:
        await stop_live_hub(live)


async def test_a_restart_publishes_what_changed_then_the_current_state(tmp_path: Path) -> None:
    settings = journaled(tmp_path)
    live = await start_live_hub(settings)
    try:
        ws, _ = await first(live.url, 2)
        await ws.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}))
        await ws.send(request("InboundCall", "Answer"))
        events = [await recv_json(ws) for _ in range(8)]  # each: 2 legs, SetAgentState, Ccp
        contact = events[0]["message"]["call"]["ResponseActual"]["contactId"]
        await ws.close()
    finally:
        await stop_live_hub(live)

    again = await start_live_hub(settings)  # a fresh simulator: agent1 Available, no call
    try:
        assert again.hub.boot_seq["agent1"] == 8
        ws, answer = await first(again.url, 4 + 2, resumeFrom=8)
        changed, (agent, call) = answer[:4], answer[4:]
        assert [m["seq"] for m in changed] == [9, 10, 11, 12]
        legs = [m["message"]["call"] for m in changed[:2]]
        assert [(c["CallType"], c["event"]) for c in legs] == [("agent", "DROPPED"),
                                                                ("inbound", "DROPPED")]  # fmt: skip
        assert {c["ResponseActual"]["contactId"] for c in legs} == {contact}
        assert [m["subtopic"] for m in changed[2:]] == ["SetAgentState", "CcpAgentState"]
        assert changed[2]["message"]["event"] == "Available"
        assert agent["message"]["agentState"]["name"] == "Available" and "seq" not in agent
        assert call["message"]["calls"] == []
        await ws.send(request("Agent", "UpdateState", {"label": "Break"}, rid="next"))
        assert (await recv_json(ws))["seq"] == 13  # seq goes on from the journal
        assert (await recv_json(ws))["seq"] == 14
        await ws.close()
        # an app that had seen the restart's events resumes without a StateSync
        ws, replay = await first(again.url, 2, resumeFrom=12)
        assert [m["seq"] for m in replay] == [13, 14]
        await ws.send(request("Agent", "GetStates", rid="q"))
        assert (await recv_json(ws))["requestId"] == "q"  # nothing in between
        await ws.close()
    finally:
        await stop_live_hub(again)


def busy(tmp_path: Path, **limits: Any) -> Settings:
    settings = journaled(tmp_path)
    fast = {"rate_per_s": 1e6, "rate_burst": 1_000_000, **limits}
    return msgspec.structs.replace(
        settings, limits=msgspec.structs.replace(settings.limits, **fast)
    )


async def test_a_replay_is_read_in_pages_off_the_loop_and_waits_for_room(tmp_path: Path) -> None:
    """A resume from 0 of 300 events by an app that reads nothing holds no more than its send
    queue; the pages come from another thread; live events wait behind the replay, and the
    app gets every event once, in order."""
    live = await start_live_hub(busy(tmp_path, send_queue=50, replay_page=20))
    journal = live.hub.journal
    threads: list[tuple[str, int | None]] = []
    since = journal.since

    def spying(login: str, seq: int, limit: int | None = None) -> list[bytes] | None:
        threads.append((threading.current_thread().name, limit))
        return since(login, seq, limit)

    journal.since = spying  # type: ignore[method-assign]
    try:
        await toggles(live.url, 300)
        journaled_events = journal.last_seq("agent1")  # each toggle: SetAgentState, CcpAgentState
        conn = live.hub.attach("agent1", 0)  # no writer: nothing leaves its outbox
        for _ in range(100):
            await asyncio.sleep(0.01)
        assert conn.outbox.qsize() <= 50 and conn.held is not None  # waits for room
        assert threads and all(limit == 20 for _, limit in threads)
        assert all(name != threading.main_thread().name for name, _ in threads)
        live.hub.submit("agent1", "other", decode_request(request("Agent", "UpdateState",
                        {"label": "Lunch"}, rid="live")))  # fmt: skip
        got: list[dict[str, Any]] = []
        while len(got) < journaled_events + 2:  # the replay, then the live command's two events
            frame = await asyncio.wait_for(conn.next(), 5)
            got.append(json.loads(frame or "null"))
        assert [m["seq"] for m in got] == list(range(1, journaled_events + 3))
        assert [m["requestId"] for m in got[-2:]] == ["live", "live"]
        assert conn.close_code is None and conn.held is None
        live.hub.detach(conn)
    finally:
        await stop_live_hub(live)


async def test_resumes_are_rate_limited_per_token(tmp_path: Path) -> None:
    settings = msgspec.structs.replace(
        secured(),
        journal=JournalSettings(path=str(tmp_path / "j.db")),
        limits=msgspec.structs.replace(secured().limits, resume_burst=2, resume_rate_per_s=0.001),
    )
    live = await start_live_hub(settings)
    try:
        grant, other = token("agent1"), token("agent1")

        async def resumed(**query: Any) -> None:  # nothing to replay: it answers a query
            ws = await websockets.connect(ws_url(live.url, **query))
            await ws.send(request("Agent", "GetStates", rid="q"))
            while (await recv_json(ws)).get("requestId") != "q":
                pass  # the StateSync of a connection that does not resume
            await ws.close()

        for _ in range(2):
            await resumed(resumeFrom=0, token=grant)
        code, reason, _ = await close_of(ws_url(live.url, resumeFrom=0, token=grant))
        assert (code, reason) == (1013, "more than 0.001 resumes/s for this token")
        # a connection without resumeFrom, and another token, are not affected
        await resumed(token=grant)
        await resumed(resumeFrom=0, token=other)
    finally:
        await stop_live_hub(live)
