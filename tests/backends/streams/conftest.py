"""Bridge tests share the conformance harness (a served hub, Chromium, the bridge page)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from support.harness import chromium


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bridge_browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b
