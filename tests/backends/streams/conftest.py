"""Bridge tests share the conformance harness (a served hub, Chromium, the bridge page)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "conformance"))

from harness import chromium


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bridge_browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b
