"""An engine step's way out (docs/protocol.md §6): its events journaled, then sent.

With a journal that groups commits the hub holds the steps of a loop tick and commits them
once at its end (``Hub.carry_out``).  With one whose commit is a network round trip
(:class:`~ctibridge.journal.CommitsAsync`: the cluster's Redis journal) that commit is awaited
in :func:`commits`, one at a time, never blocking the loop: the steps made while it is under
way wait behind it and go with the next commit, in order; a node's requestId records (SET NX)
waiting then ride in the same pipeline.

Functions of the :class:`~ctibridge.hub.core.Hub` in a room of their own, like ``journaling``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import protocol as p
from ..engine import Broadcast, Finished, Output, Reply
from ..journal import CommitsAsync
from ..protocol.registry import QUERIES
from . import journaling
from .connection import AppConnection

if TYPE_CHECKING:
    from .core import Hub

# one engine step: its outputs, the app whose StateSync it is (if any), what runs once it is out
Step = tuple[list[Output], AppConnection | None, Callable[[], None] | None]


def encoded(steps: list[Step]) -> tuple[list[Broadcast], list[bytes]]:
    broadcasts = [o for outputs, _, _ in steps for o in outputs if isinstance(o, Broadcast)]
    return broadcasts, [p.encode(o.envelope) for o in broadcasts]


def start_commits(hub: Hub) -> bool:
    """Start :func:`commits` unless under way, or nothing waits; False without a loop."""
    if hub._committing is not None:
        return True
    journal = hub.journal
    if not hub._steps and not (isinstance(journal, CommitsAsync) and journal.wants_commit()):
        return True
    try:
        task = asyncio.get_running_loop().create_task(commits(hub))
    except RuntimeError:
        return False
    hub._committing = task
    hub._tasks.add(task)
    task.add_done_callback(hub._tasks.discard)
    return True


async def commits(hub: Hub) -> None:
    """Commit the held steps (and whatever else waits) and send them, until nothing waits."""
    journal = hub.journal
    assert isinstance(journal, CommitsAsync)
    try:
        while hub._steps or journal.wants_commit():
            steps, hub._steps = hub._steps, []
            hub._inflight = steps
            hub._round_done, hub._next_done = hub._next_done, None
            try:
                broadcasts, data = encoded(steps)
                refused = await journaling.write_step_async(hub, journal, broadcasts, data)
                deliver(hub, steps, broadcasts, data, refused)
            finally:
                hub._inflight = []
                done, hub._round_done = hub._round_done, None
                if done is not None and not done.done():
                    done.set_result(None)
    finally:
        hub._committing = None
        if hub._steps:  # (a failure above): what waits is not stranded
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(start_commits, hub)


def barrier(hub: Hub) -> asyncio.Future[None] | None:
    """A future done once the steps held now are out (None: none are)."""
    if hub._committing is None:
        return None
    loop = asyncio.get_running_loop()
    if hub._steps:
        if hub._next_done is None:
            hub._next_done = loop.create_future()
        return hub._next_done
    if hub._round_done is None:
        hub._round_done = loop.create_future()
    return hub._round_done


def deliver(
    hub: Hub, steps: list[Step], broadcasts: list[Broadcast], encoded: list[bytes],
    refused: frozenset[str] | None,
) -> None:  # fmt: skip
    """Send journaled steps: their events but those of ``refused`` agents (None: all of
    them refused), their answers; count and audit what finished."""
    data = iter(encoded)
    finished: list[Finished] = []
    for outputs, only, then in steps:
        for out in outputs:
            if isinstance(out, Broadcast):
                event = next(data)
                if refused is not None and out.login not in refused:
                    seq = out.envelope.seq
                    hub._publish(out.login, event, seq if isinstance(seq, int) else None)
                elif refused is None or hub.journal_error is not None:  # never sent: its
                    hub._withheld.add(out.login)  # seq could name another after a restart
            elif isinstance(out, Reply):
                if only is not None and out.origin == only.id:
                    only.push(p.encode(out.envelope).decode())
                else:
                    hub._reply(out.login, out.origin, out.envelope)
            elif isinstance(out, Finished):  # counted and audited once its messages are out
                finished.append(out)
        for done in finished:
            hub._finished(done)
            withheld = hub._withheld if hub.journal_error is not None else refused or ()
            if done.login in withheld and done.request.subtopic not in QUERIES:
                # its events may have been withheld: the sender hears why (the StateSync
                # sent when the journal recovers shows what the command did)
                hub._reply(done.login, done.origin, hub._journal_error_event(done.request))
        finished.clear()
        if then is not None:
            then()
    if refused is not None and broadcasts and hub._withheld and hub.journal_error is None:
        hub.resync_withheld()
