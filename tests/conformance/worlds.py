"""The worlds the conformance suite runs in: the same scenarios, one backend each (harness.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from harness import FAILURE, Message, Served, chromium, flush, open_bridge, wait_for

from ctibridge.backends.sim import SimBackend
from ctibridge.backends.streams import StreamsBackend
from ctibridge.client import Client
from ctibridge.clock import ManualClock, RealClock
from ctibridge.config import BridgeConfig
from ctibridge.hub import Hub

CUSTOMER = "+15551234567"


class World:
    """A hub with one backend, an app of ``agent1`` and the outside world's side of a call."""

    name = ""
    # subtopics Connect cannot carry out with this backend (they fail with ``unsupported_code``)
    unsupported: frozenset[str] = frozenset()
    unsupported_code = ""

    def __init__(self, served: Served, client: Client) -> None:
        self.served = served
        self.client = client

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        raise NotImplementedError

    async def customer_hangup(self) -> list[Message]:
        raise NotImplementedError

    async def third_party_answer(self) -> list[Message]:
        raise NotImplementedError

    async def third_party_hangup(self) -> list[Message]:
        raise NotImplementedError

    async def outbound_answer(self) -> list[Message]:
        raise NotImplementedError

    async def fail_next(self, subtopic: str) -> None:
        """Connect refuses the next command of ``subtopic`` with ``FAILURE``."""
        raise NotImplementedError

    async def in_ccp(self, subtopic: str, data: Any = None) -> list[Message]:
        """The agent does ``subtopic`` in the CCP (for verbs the backend cannot carry out)."""
        raise NotImplementedError(subtopic)


class SimWorld(World):
    name = "sim"

    async def _sim(self, subtopic: str, data: Any = None) -> list[Message]:
        args = () if data is None else (data,)
        self.client.drain()
        result = await self.client.request("Simulator", subtopic, *args)
        self.client.drain()
        assert result.error is None, result.error
        return result.events

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        return await self._sim("IncomingCall", {"phoneNumber": phone, **extra})

    async def customer_hangup(self) -> list[Message]:
        return await self._sim("CustomerHangup")

    async def third_party_answer(self) -> list[Message]:
        return await self._sim("ThirdPartyAnswer")

    async def third_party_hangup(self) -> list[Message]:
        return await self._sim("ThirdPartyHangup")

    async def outbound_answer(self) -> list[Message]:
        return await self._sim("OutboundResult", {"result": "answer"})

    async def fail_next(self, subtopic: str) -> None:
        await self._sim("FailNext", {"subtopic": subtopic, "error": FAILURE})


# request subtopic -> the Streams method the bridge calls for it
STREAMS_METHOD = {
    "Answer": "accept",
    "Reject": "reject",
    "Hold": "hold",
    "Resume": "resume",
    "Disconnect": "destroy",
    "ConsultDrop": "destroy",
    "ClearContact": "clear",
    "Consult": "addConnection",
    "Swap": "toggleActiveConnections",
    "Conference": "conferenceConnections",
    "NumberPad": "sendDigits",
    "UpdateState": "setState",
    "MakeCall": "connect",
    "Mute": "mute",
}


class StreamsWorld(World):
    name = "streams"

    def __init__(self, served: Served, client: Client, backend: StreamsBackend, page: Any):
        super().__init__(served, client)
        self.backend = backend
        self.page = page

    def snapshots(self) -> int:
        return int(self.backend.status()["bridges"]["agent1"]["snapshots"])  # type: ignore[index]

    async def _double(self, script: str, arg: Any = None) -> list[Message]:
        """Run ``streamsDouble.<script>`` in the page; the events its snapshot caused."""
        before = self.snapshots()
        self.client.drain()
        await self.page.evaluate(f"a => streamsDouble.{script}", arg)
        await wait_for(lambda: self.snapshots() > before, f"the snapshot after {script}")
        return await flush(self.client)

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        return await self._double("incoming(a)", {"phoneNumber": phone, **extra})

    async def customer_hangup(self) -> list[Message]:
        return await self._double("customerHangup()")

    async def third_party_answer(self) -> list[Message]:
        return await self._double("thirdPartyAnswer()")

    async def third_party_hangup(self) -> list[Message]:
        return await self._double("thirdPartyHangup()")

    async def outbound_answer(self) -> list[Message]:
        return await self._double("outboundAnswer()")

    async def fail_next(self, subtopic: str) -> None:
        method = STREAMS_METHOD[subtopic]
        error = {"type": "InternalServiceException", "message": "simulated failure"}
        await self.page.evaluate("([m, e]) => streamsDouble.failNext(m, e)", [method, error])


@contextlib.asynccontextmanager
async def sim_world() -> AsyncIterator[World]:
    clock = ManualClock()
    hub = Hub(SimBackend(clock, seed=7, agents=2), clock)
    async with Served(hub) as served:
        client = await Client.connect(served.url, "agent1")
        try:
            yield SimWorld(served, client)
        finally:
            await client.close()


@contextlib.asynccontextmanager
async def streams_world(browser: Any = None) -> AsyncIterator[StreamsWorld]:
    clock = RealClock()
    backend = StreamsBackend(
        clock, BridgeConfig(), ["agent1", "agent2"], ccp_url="https://double.my.connect.aws/ccp-v2"
    )
    hub = Hub(backend, clock)
    async with contextlib.AsyncExitStack() as stack:
        served = await stack.enter_async_context(Served(hub))
        if browser is None:
            browser = await stack.enter_async_context(chromium())
        page = await open_bridge(browser, served.http)
        await wait_for(
            lambda: (
                backend.snapshot("agent1").logged_in and bool(backend.directory("agent1").states)
            ),
            "the bridge's first snapshot",
        )
        client = await Client.connect(served.url, "agent1")
        try:
            yield StreamsWorld(served, client, backend, page)
        finally:
            await client.close()
            assert page.errors == [], page.errors
            await page.context.close()
