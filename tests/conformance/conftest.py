"""Fixtures of the conformance suite: ``world`` is one hub per test, parametrised by backend;
Chromium is started once per session (the streams world opens a fresh page per test)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from support.harness import ENDED_EARLY, chromium
from support.worlds import EndOfScenario, World, connect_world, sim_world, streams_world

BACKENDS = ("sim", "streams", "connect")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(params=BACKENDS, loop_scope="session")
async def world(request: pytest.FixtureRequest, browser: Browser) -> AsyncIterator[World]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sim":
            w: World = await stack.enter_async_context(sim_world())
        elif request.param == "streams":
            w = await stack.enter_async_context(streams_world(browser))
        else:
            w = await stack.enter_async_context(connect_world())
        yield w


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, object, object]:
    """A scenario that reached a verb its backend cannot carry out (and whose documented failure
    ``step`` has checked) ends there as passed; the run's summary lists every such ending."""
    try:
        return (yield)
    except EndOfScenario as e:
        ENDED_EARLY.append(f"{pyfuncitem.nodeid}: {e}")
        return True


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ENDED_EARLY:
        terminalreporter.section("scenarios ended at a verb or step the backend cannot do")
        for line in ENDED_EARLY:
            terminalreporter.write_line(line)
