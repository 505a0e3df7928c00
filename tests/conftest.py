"""Shared fixtures: ``live``, a real hub over the simulator (see livehub.py), and
``secured_hub``, one that requires tokens (support/hub.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livehub import SAMPLES, LiveHub, sample, start_live_hub, stop_live_hub
from support.hub import secured_hub

__all__ = [
    "SAMPLES", "LiveHub", "live", "sample", "secured_hub", "start_live_hub", "stop_live_hub"
]  # fmt: skip


@pytest.fixture
async def live() -> AsyncIterator[LiveHub]:
    hub = await start_live_hub()
    try:
        yield hub
    finally:
        await stop_live_hub(hub)
