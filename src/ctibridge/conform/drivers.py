"""What happens outside the agent's commands (a call arriving, the customer or a third party
answering or hanging up, Amazon Connect refusing a command), caused by a driver.

* ``SimDriver`` — driven mode: the endpoint has the Simulator topic (docs/protocol.md §7).
* ``LiveDriver`` — live mode: an ``Operator`` (a person at the console, or a script) is asked to
  do each step; the driver waits for what it causes.
* The test suite's worlds (tests/support/worlds.py) are drivers too.

Every method returns the events the app received because of it, in order.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Protocol, TextIO

from ..client import Client, Result

Message = dict[str, Any]
FAILURE = "InternalServiceException: simulated failure"
CUSTOMER = "+15551234567"


class EndOfScenario(Exception):
    """The scenario reached a verb this backend cannot carry out and whose effect it cannot see
    either; its documented failure was checked, and the scenario ends there (it passes)."""


class CannotCause(Exception):
    """A step this mode cannot cause (e.g. an injected failure on a live instance): the scenario
    is skipped."""


class Driver:
    name = ""
    # subtopics this backend cannot carry out (they fail with ``unsupported_code``)
    unsupported: frozenset[str] = frozenset()
    unsupported_code = ""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def request(self, topic: str, subtopic: str, *data: Any) -> Result:
        return await self.client.request(topic, subtopic, *data)

    async def reset(self) -> None:
        """Bring the agent to Available with no contact, before a scenario."""

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        raise CannotCause("a call to the agent")

    async def customer_hangup(self) -> list[Message]:
        raise CannotCause("the customer hanging up")

    async def third_party_answer(self) -> list[Message]:
        raise CannotCause("the consulted party answering")

    async def third_party_hangup(self) -> list[Message]:
        raise CannotCause("the consulted party hanging up")

    async def outbound_answer(self) -> list[Message]:
        raise CannotCause("the dialled customer answering")

    async def fail_next(self, subtopic: str) -> None:
        raise CannotCause(f"Amazon Connect refusing {subtopic}")

    async def dial_result(self, result: str) -> list[Message]:
        """The dialled customer's line: ``busy``, ``noAnswer`` or ``failed``."""
        raise CannotCause(f"a dialled call ending {result}")

    async def preview(self, phone: str = CUSTOMER) -> list[Message]:
        raise CannotCause("a campaign offering a preview contact")

    async def in_ccp(self, subtopic: str, data: Any = None) -> list[Message]:
        raise EndOfScenario(f"{self.name} cannot see {subtopic} done in the CCP")


class SimDriver(Driver):
    """Driven mode: the Simulator topic causes everything, at once."""

    name = "driven"

    async def _sim(self, subtopic: str, data: Any = None) -> list[Message]:
        args = () if data is None else (data,)
        self.client.drain()
        result = await self.client.request("Simulator", subtopic, *args)
        self.client.drain()
        if result.error is not None:
            raise AssertionError(f"Simulator/{subtopic} failed: {result.error['message']}")
        return result.events

    async def reset(self) -> None:
        await self._sim("Reset")
        # nothing happens by itself: every answer and hang-up is a scenario's step
        await self._sim("Configure", {"answerSeconds": 0, "ringSeconds": 0})

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

    async def dial_result(self, result: str) -> list[Message]:
        return await self._sim("OutboundResult", {"result": result})

    async def preview(self, phone: str = CUSTOMER) -> list[Message]:
        return await self._sim("PreviewCall", {"phoneNumber": phone})


async def has_simulator(client: Client) -> bool:
    """Whether the endpoint has the Simulator topic (others answer UNKNOWN_TOPIC, §7)."""
    result = await client.request("Simulator", "Configure", {})
    return result.error is None


class Operator(Protocol):
    """Whoever does what the kit cannot cause on a live instance."""

    async def ask(self, step: str, instruction: str) -> None:
        """Tell them what to do now (``step`` names it: ring, customer_hangup, ...)."""

    def waiting(self, instruction: str, elapsed: float, timeout: float) -> None:
        """Called about once a second while the kit waits for the step's effect."""

    def done(self) -> None: ...


class ConsoleOperator:
    """A person at the console: the instruction and a progress line on ``out`` (stderr)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    async def ask(self, step: str, instruction: str) -> None:
        print(f">>> {instruction}", file=self.out, flush=True)

    def waiting(self, instruction: str, elapsed: float, timeout: float) -> None:
        self.out.write(f"\r    waiting {timeout - elapsed:4.0f} s ...")
        self.out.flush()

    def done(self) -> None:
        self.out.write("\r" + " " * 30 + "\r")
        self.out.flush()


INSTRUCTIONS = {
    "ring": "place a call to the agent's queue now from {phone}",
    "customer_hangup": "hang up the customer's phone now",
    "third_party_answer": "answer the consulted party's phone now",
    "third_party_hangup": "hang up the consulted party's phone now",
    "outbound_answer": "answer the dialled phone now",
}


class LiveDriver(Driver):
    """Live mode: each step the kit cannot cause is asked of the operator; the driver then
    waits (up to ``timeout`` seconds, with a progress line) for the events it causes, and takes
    every event that arrives until the stream is quiet for ``settle`` seconds."""

    name = "live"

    def __init__(
        self, client: Client, operator: Operator, timeout: float = 60.0, settle: float = 1.0
    ) -> None:
        super().__init__(client)
        self.operator = operator
        self.timeout = timeout
        self.settle = settle

    async def _ask(self, step: str, **fmt: Any) -> list[Message]:
        instruction = INSTRUCTIONS[step].format(**fmt)
        self.client.drain()
        await self.operator.ask(step, f"{instruction}... waiting {self.timeout:.0f} s")
        loop = asyncio.get_running_loop()
        start = loop.time()
        events: list[Message] = []
        try:
            while not events:
                elapsed = loop.time() - start
                if elapsed > self.timeout:
                    raise AssertionError(f"nothing arrived within {self.timeout:.0f} s of: "
                                         f"{instruction}")  # fmt: skip
                self.operator.waiting(instruction, elapsed, self.timeout)
                try:
                    events.append(await self.client.next_event(timeout=1.0))
                except TimeoutError:
                    continue
            while True:
                try:
                    events.append(await self.client.next_event(timeout=self.settle))
                except TimeoutError:
                    return events
        finally:
            self.operator.done()

    async def reset(self) -> None:
        """End what the last scenario left (a call is disconnected, an ended contact cleared:
        requests the kit can send), then Available."""
        for _ in range(3):
            state = await self.client.request("InboundCall", "StateSync")
            calls = state.events[0]["message"].get("calls") if state.events else None
            if not calls:
                break
            agent = next((c for c in calls if c.get("type") == "agent"), calls[0])
            verb = "ClearContact" if agent.get("status") == "disconnected" else "Disconnect"
            await self.client.request("InboundCall", verb)
        else:
            raise AssertionError("the agent is still on a contact: end it in the CCP")
        await self.client.request("Agent", "UpdateState", {"label": "Available"})
        self.client.drain()

    async def ring(self, phone: str = CUSTOMER, **extra: Any) -> list[Message]:
        return await self._ask("ring", phone=phone)

    async def customer_hangup(self) -> list[Message]:
        return await self._ask("customer_hangup")

    async def third_party_answer(self) -> list[Message]:
        return await self._ask("third_party_answer")

    async def third_party_hangup(self) -> list[Message]:
        return await self._ask("third_party_hangup")

    async def outbound_answer(self) -> list[Message]:
        return await self._ask("outbound_answer")
