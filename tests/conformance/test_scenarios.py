"""One scenario suite, every backend (STYLE.md §17): the scenarios `ctibridge conform` ships
(ctibridge.conform.scenarios, the one copy) run by its runner in each world - sim, streams (the
real bridge page with the real Streams bundle against a fake CCP in Chromium) and connect (server
APIs with Stubbers and Agent Event Stream records).  A world is a conform driver: where a
backend cannot carry out a verb, the scenario checks the documented failure and the world has
the agent do it in the CCP (or the scenario ends there, listed in the run's summary).
"""

from __future__ import annotations

import pytest

from ctibridge.conform.runner import run_one
from ctibridge.conform.scenarios import SCENARIOS, Entry, Session
from support.harness import ENDED_EARLY
from support.worlds import World

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize("entry", SCENARIOS, ids=[e.name for e in SCENARIOS])
async def test_scenario(world: World, entry: Entry, request: pytest.FixtureRequest) -> None:
    outcome = await run_one(entry, Session(world, world.served.url))
    if outcome.status == "SKIP" and world.name != "sim":
        # a step only the simulator can cause (a preview, a busy line): listed in the summary
        ENDED_EARLY.extend(f"{request.node.nodeid}: {d}" for d in outcome.details)
        return
    assert outcome.status == "PASS", "\n".join(outcome.details)
    ENDED_EARLY.extend(f"{request.node.nodeid}: {d}" for d in outcome.details)
