"""The session a published-contract scenario runs in: it sends a step and checks its events
against the step's expectations (``expect.py``) and the stream checker; and the registry the
scenarios join (scenarios.py holds them).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..client import Client
from .checker import StreamChecker, is_call_event
from .diff import Message, Mismatch, Nonconformance
from .drivers import Driver
from .expect import IB, Expect, error


def describe(event: Message) -> str:
    message = event.get("message") or {}
    if is_call_event(event):
        c = message.get("call") or {}
        return f"{(c.get('ResponseActual') or {}).get('type')} {c.get('event')}"
    if event.get("subtopic") == "Error":
        return f"Error {message.get('type')}"
    name = message.get("event") or message.get("name") or message.get("loginState") or ""
    return f"{event.get('subtopic')} {name}".strip()


class Session:
    """One scenario's run: the driver, the app's stream checker and the hub's address (for
    scenarios that connect more apps)."""

    def __init__(self, driver: Driver, url: str, token: str | None = None) -> None:
        self.driver = driver
        self.url = url
        self.token = token
        # seq is checked where every event is seen (resume, watch mode), not between steps
        self.checker = StreamChecker(seq=False)
        self.steps: list[str] = []

    async def start(self) -> None:
        """Learn the agent's contacts (the call StateSync) before the first step."""
        sync = await self.client.request(IB, "StateSync")
        self.check("call StateSync before the scenario", sync.events, None)

    @property
    def client(self) -> Client:
        return self.driver.client

    async def connect(self, **kw: Any) -> Client:
        return await Client.connect(self.url, self.client.agent, token=self.token,
                                    source="ctibridge-conform", **kw)  # fmt: skip

    def check(
        self, step: str, events: list[Message], expected: list[Expect] | None, feed: bool = True
    ) -> None:
        """Raise ``Nonconformance`` with every difference of ``events``: the stream checker's
        (unless ``feed`` is off: events it has already seen) and against ``expected``."""
        self.steps.append(step)
        found: list[Mismatch] = []
        for event in events if feed else ():
            found += [m for _, m in self.checker.feed(event)]
        found += [m for _, m in self.checker.flush()]
        if expected is not None:
            if len(events) != len(expected):
                found.append(Mismatch("events", [e.label for e in expected],
                                      [describe(e) for e in events],
                                      "§4.1 one event per changed connection, agent first; "
                                      "§3.2 SetAgentState then CcpAgentState"))  # fmt: skip
            else:
                for want, event in zip(expected, events, strict=True):
                    found += want.diff(event)
        unique = list(dict.fromkeys(found))
        if unique:
            raise Nonconformance(step, unique)

    async def step(
        self, topic: str, subtopic: str, *data: Any, expect: list[Expect] | None = None
    ) -> list[Message]:
        """Send a request; check and return what it caused.  Where the backend cannot carry it
        out, it must fail with the backend's documented code and change nothing; the agent then
        does it in the CCP and that is checked instead."""
        label = f"{topic}/{subtopic}" + (f" {json.dumps(data[0])}" if data else "")
        d = self.driver
        self.client.drain()
        result = await d.request(topic, subtopic, *data)
        self.client.drain()
        if subtopic in d.unsupported:
            self.check(label, result.events, [error(_FAILED.get(subtopic, ""), d.unsupported_code)]
                       if subtopic in _FAILED else None)  # fmt: skip
            if await self.client.flush():
                raise Nonconformance(label, [Mismatch("events", [], "more", "§5 state unchanged")])
            events = await d.in_ccp(subtopic, *data)
        else:
            if result.error is not None:
                raise Nonconformance(
                    label,
                    [Mismatch("message", "success", result.error.get("message"), f"§3 {subtopic}")],
                )
            events = result.events
        self.check(label, events, expect)
        return events

    async def cause(
        self, what: Callable[[], Awaitable[list[Message]]], label: str,
        expect: list[Expect] | None = None,
    ) -> list[Message]:  # fmt: skip
        events = await what()
        self.check(label, events, expect)
        return events


Scenario = Callable[[Session], Awaitable[None]]


@dataclass(frozen=True)
class Entry:
    name: str
    run: Scenario
    doc: str
    # steps a live instance needs an operator for, or cannot do at all (fail_next)
    needs: frozenset[str] = frozenset()


SCENARIOS: list[Entry] = []
_FAILED = {
    "Answer": "ANSWER_CALL_FAILED", "Reject": "REJECT_CALL_FAILED", "Hold": "HOLD_CALL_FAILED",
    "Resume": "RESUME_CALL_FAILED", "Disconnect": "DISCONNECT_CALL_FAILED",
    "Consult": "CONSULT_CALL_FAILED", "Swap": "SWAP_CALL_FAILED",
    "Conference": "CONFERENCE_CALL_FAILED", "Transfer": "TRANSFER_CALL_FAILED",
    "QueueTransfer": "TRANSFER_CALL_FAILED", "NumberPad": "SEND_DTMF_FAILED",
    "ConsultDrop": "CONSULT_DROP_FAILED", "Mute": "MUTE_FAILED", "Unmute": "MUTE_FAILED",
    "Login": "LOGIN_FAILED", "ClearContact": "CLEAR_CONTACT_FAILED",
}  # fmt: skip


def scenario(*needs: str) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        doc = " ".join((fn.__doc__ or "").split())  # one line: --list, the reports
        SCENARIOS.append(Entry(fn.__name__, fn, doc, frozenset(needs)))
        return fn

    return register


async def talking(s: Session) -> None:
    await s.cause(s.driver.ring, "a call arrives")
    await s.step(IB, "Answer")
