"""Run the scenarios against an endpoint: one fresh app connection per scenario, the driver of
the mode (driven when the endpoint has the Simulator topic, else live), one outcome each."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from ..client import Client
from .diff import Nonconformance
from .drivers import (
    CannotCause,
    ConsoleOperator,
    Driver,
    EndOfScenario,
    LiveDriver,
    Operator,
    SimDriver,
    has_simulator,
)
from .scenarios import SCENARIOS, Entry, Session

# steps a live instance cannot be asked for: the scenario is skipped before it starts (nothing is
# left half done on a real instance)
LIVE_CANNOT = {
    "fail_next": "an injected Amazon Connect failure",
    "dial_result": "a dialled line that is busy, not answered or failing",
    "preview": "a campaign preview offered on demand",
}


@dataclass
class Outcome:
    name: str
    doc: str
    status: str  # PASS, FAIL, SKIP
    details: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        head = f"{self.status} {self.name}"
        return "\n".join([head, *(f"    {d}" for d in self.details)])


def select(only: list[str] | None) -> list[Entry]:
    if not only:
        return list(SCENARIOS)
    names = {e.name for e in SCENARIOS}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise ValueError(
            f"no scenario {', '.join(unknown)} (there are: {', '.join(sorted(names))})"
        )
    return [e for e in SCENARIOS if e.name in only]


async def run_one(entry: Entry, session: Session) -> Outcome:
    start = time.monotonic()
    outcome = Outcome(entry.name, entry.doc, "PASS")
    try:
        await session.driver.reset()
        session.client.drain()
        await session.start()
        await entry.run(session)
    except Nonconformance as e:
        outcome.status = "FAIL"
        outcome.details = [f"{e.step}: {m}" for m in e.mismatches]
    except EndOfScenario as e:
        outcome.details = [f"ended early: {e}"]
    except CannotCause as e:
        outcome.status = "SKIP"
        outcome.details = [f"this mode cannot cause {e}"]
    except Exception as e:  # anything else the endpoint did (closed, timed out, refused)
        outcome.status = "FAIL"
        where = session.steps[-1] if session.steps else "start"
        last = traceback.format_exception_only(e)[-1].strip()
        outcome.details = [f"after {where}: {last}"]
    outcome.steps = list(session.steps)
    outcome.seconds = time.monotonic() - start
    return outcome


async def run(
    url: str,
    agent: str = "agent1",
    token: str | None = None,
    only: list[str] | None = None,
    *,
    live: bool | None = None,
    operator: Operator | None = None,
    timeout: float = 60.0,
    report: Callable[[Outcome], None] = lambda o: None,
) -> tuple[str, list[Outcome]]:
    """Run the scenarios; ``live`` None: driven when the endpoint has the Simulator topic.
    Returns the mode and every outcome (``report`` is called as each one ends)."""
    entries = select(only)
    probe = await Client.connect(url, agent, token=token, source="ctibridge-conform")
    try:
        if live is None:
            live = not await has_simulator(probe)
    finally:
        await probe.close()
    mode = "live" if live else "driven"
    outcomes = []
    for entry in entries:
        cannot = sorted(entry.needs & LIVE_CANNOT.keys()) if live else []
        if cannot:
            outcome = Outcome(entry.name, entry.doc, "SKIP",
                              [f"needs {LIVE_CANNOT[cannot[0]]} (driven mode only)"])  # fmt: skip
        else:
            client = await Client.connect(url, agent, token=token, source="ctibridge-conform")
            try:
                driver: Driver = (
                    LiveDriver(client, operator or ConsoleOperator(), timeout)
                    if live else SimDriver(client)
                )  # fmt: skip
                outcome = await run_one(entry, Session(driver, url, token))
            finally:
                await client.close()
        report(outcome)
        outcomes.append(outcome)
    return mode, outcomes
