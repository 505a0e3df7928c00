"""Background work of a backend is kept (so stop can cancel it) and its failures are logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from ctibridge.backends.tasks import spawn

log = logging.getLogger("ctibridge.test")


async def test_a_failing_background_task_is_logged_not_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks: set[asyncio.Task[None]] = set()

    async def close_a_dead_socket() -> None:
        raise ConnectionResetError("peer gone")

    with caplog.at_level(logging.WARNING, logger="ctibridge.test"):
        spawn(tasks, close_a_dead_socket(), log)
        assert len(tasks) == 1
        await asyncio.gather(*tasks)
    assert not tasks  # forgotten once done
    [record] = [r for r in caplog.records if r.name == "ctibridge.test"]
    assert record.exc_info is not None and record.exc_info[0] is ConnectionResetError
