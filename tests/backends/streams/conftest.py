"""Bridge tests share the conformance harness (a served hub, Chromium, the bridge page)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from support.harness import chromium


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bridge_browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b
