"""Fixtures of the conformance suite: ``world`` is one hub per test, parametrised by backend;
Chromium is started once per session (the streams world opens a fresh page per test)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from harness import chromium
from worlds import World, sim_world, streams_world

BACKENDS = ("sim", "streams")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(params=BACKENDS, loop_scope="session")
async def world(request: pytest.FixtureRequest, browser: Any) -> AsyncIterator[World]:
    async with contextlib.AsyncExitStack() as stack:
        if request.param == "sim":
            w: World = await stack.enter_async_context(sim_world())
        else:
            w = await stack.enter_async_context(streams_world(browser))
        yield w
