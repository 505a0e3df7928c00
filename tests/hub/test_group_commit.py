"""Group commit (hub/core.py): a journal with ``append_many`` is written once per loop tick,
every event is journaled before any app is handed it, and no app's order changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from ctibridge.backends.sim import SimBackend
from ctibridge.clock import ManualClock
from ctibridge.hub import AppConnection, Hub
from ctibridge.journal import MemoryJournal
from ctibridge.settings import Settings


class GroupJournal(MemoryJournal):
    """A memory journal that takes a whole tick's events in one call and records each call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[tuple[str, int]]] = []
        self.journaled: set[tuple[str, int]] = set()

    def append_many(self, entries: Sequence[tuple[str, int, bytes]]) -> None:
        self.batches.append([(login, seq) for login, seq, _ in entries])
        for login, seq, data in entries:
            self.append(login, seq, data)
            self.journaled.add((login, seq))


def frame(topic: str, subtopic: str, rid: str, data: Any = None) -> str:
    message: dict[str, Any] = {
        "channel": "Amazon", "topic": topic, "subtopic": subtopic, "source": "t", "requestId": rid,
    }  # fmt: skip
    if data is not None:
        message["data"] = data
    return json.dumps(message)


def watch(conn: AppConnection, journal: GroupJournal, seen: list[dict[str, Any]]) -> None:
    """Fail the moment the hub hands ``conn`` an event that is not journaled yet."""
    push = conn.push

    def checked(text: str, frame: bytes | None = None) -> None:
        message = json.loads(text)
        if "seq" in message:
            assert (conn.login, message["seq"]) in journal.journaled, "sent before journaled"
        seen.append(message)
        push(text, frame)

    conn.push = checked  # type: ignore[method-assign]


async def ticks(n: int = 6) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def start() -> tuple[Hub, GroupJournal]:
    clock = ManualClock()
    journal = GroupJournal()
    hub = Hub(SimBackend(clock, seed=3, agents=3), clock, Settings(sim_agents=3), journal)
    await hub.start()
    return hub, journal


async def test_events_of_one_tick_are_journaled_in_one_call_before_any_is_sent() -> None:
    hub, journal = await start()
    seen: dict[str, list[dict[str, Any]]] = {}
    conns = {}
    for login in ("agent1", "agent2", "agent3"):
        conns[login] = [hub.attach(login), hub.attach(login)]
        for conn in conns[login]:
            seen[conn.id] = []
            watch(conn, journal, seen[conn.id])
    # the three agents' calls arrive together: their events share one journal write
    for login in conns:
        incoming = frame("Simulator", "IncomingCall", f"{login}-in", {"phoneNumber": "+15550001"})
        hub.receive(login, conns[login][0].id, incoming)
    await ticks()
    assert journal.batches, "group commit used"
    assert len(journal.batches) < sum(len(b) for b in journal.batches), "several events a write"
    assert {login for batch in journal.batches for login, _ in batch} == set(conns)
    for login, group in conns.items():
        first, second = (seen[c.id] for c in group)
        events = [m for m in first if "seq" in m]
        assert events and all(m["requestId"] == f"{login}-in" for m in events)
        assert [m["seq"] for m in events] == list(range(1, len(events) + 1))
        assert first == second  # every app of the agent, the same events in the same order
    await hub.stop()


async def test_an_answer_never_overtakes_events_waiting_for_the_journal() -> None:
    hub, journal = await start()
    conn = hub.attach("agent1")
    seen: list[dict[str, Any]] = []
    watch(conn, journal, seen)
    incoming = frame("Simulator", "IncomingCall", "in", {"phoneNumber": "+1555000"})
    # the simulator publishes the call's events and the engine answers the StateSync queued
    # behind it in the same step: the answer must wait for those events' journal write
    for message in (
        incoming,
        frame("Agent", "StateSync", "sync1"),
        frame("InboundCall", "Answer", "ans"),
        frame("InboundCall", "StateSync", "sync2"),
        "not json",
    ):
        hub.receive("agent1", conn.id, message)
    await ticks()
    order = [m.get("requestId") for m in seen if m["subtopic"] != "Error"]
    last = {rid: max(i for i, r in enumerate(order) if r == rid) for rid in ("in", "ans")}
    assert order.index("sync1") > last["in"]
    assert order.index("ans") > order.index("sync1")
    assert order.index("sync2") > last["ans"]
    assert any(m["subtopic"] == "Error" and m["message"]["type"] == "INVALID_JSON" for m in seen)
    await hub.stop()


async def test_an_app_that_resumes_gets_events_still_waiting_for_the_journal() -> None:
    hub, _ = await start()
    driver = hub.attach("agent1")
    hub.receive(
        "agent1", driver.id, frame("Simulator", "IncomingCall", "in", {"phoneNumber": "+1555000"})
    )
    await ticks(1)  # the call's events are published, the tick's write has not happened yet
    assert hub._pending
    resumed = hub.attach("agent1", resume_from=0)  # attach writes what is pending first
    replay = []
    while not resumed.outbox.empty():
        item = resumed.outbox.get_nowait()
        assert item is not None
        replay.append(json.loads(item))
    published = hub.engine.session("agent1").seq
    assert published > 0
    assert [m["seq"] for m in replay] == list(range(1, published + 1))
    await hub.stop()


async def test_a_journal_without_append_many_is_written_per_event_and_at_once() -> None:
    clock = ManualClock()
    journal = MemoryJournal()
    hub = Hub(SimBackend(clock, seed=3, agents=1), clock, Settings(sim_agents=1), journal)
    await hub.start()
    conn = hub.attach("agent1")
    hub.receive(
        "agent1", conn.id, frame("Simulator", "IncomingCall", "in", {"phoneNumber": "+1555000"})
    )
    await ticks()
    assert journal.last_seq("agent1") == hub.engine.session("agent1").seq > 0
    assert not hub._pending and not hub._pending_sends
    await hub.stop()
