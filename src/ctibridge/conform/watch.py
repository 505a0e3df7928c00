"""Watch mode: attach to an agent as one more app and check every message that passes
(shape, §4.2/§4.4 buttons for the state the stream implies, seq continuity); report only
violations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..client import Client
from .checker import Finding, StreamChecker
from .scenarios import describe


async def watch(
    url: str,
    agent: str = "agent1",
    token: str | None = None,
    report: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
    settle: float = 0.3,
) -> int:
    """Until the hub closes the connection (or ``stop`` is set); returns how many violations
    were reported.  A change's call events are checked together once the stream has been quiet
    for ``settle`` seconds or the next change starts."""
    client = await Client.connect(url, agent, token=token, source="ctibridge-conform-watch")
    checker = StreamChecker()
    count = 0

    def emit(found: list[Finding]) -> None:
        nonlocal count
        for message, m in found:
            count += 1
            where = f"seq {message.get('seq')}" if "seq" in message else "(no seq)"
            report(f"VIOLATION {where} {describe(message)}: {m}")

    try:
        for message in client.sync:
            emit(checker.feed(message))
        while stop is None or not stop.is_set():
            try:
                message = await client.next_event(timeout=settle)
            except TimeoutError:
                emit(checker.flush())
                continue
            emit(checker.feed(message))
        # stopped: whatever the hub queued for this app before now is still checked
        for message in await client.flush():
            emit(checker.feed(message))
    except ConnectionError:
        pass
    finally:
        emit(checker.flush())
        await client.close()
    return count
