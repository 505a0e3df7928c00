"""An engine step's way out (docs/protocol.md §6): its events journaled, then sent.

With a journal that groups commits the hub holds the steps of a loop tick and commits them
once at its end (``Hub.carry_out``).  With one whose commit is a network round trip
(:class:`~ctibridge.journal.CommitsAsync`: the cluster's Redis journal) that commit is awaited
in :func:`commits`, one at a time, never blocking the loop: the steps made while it is under
way wait behind it and go with the next commit, in order, with the requestIds the node
remembered meanwhile (each in its agent's append).

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
from . import cluster_seam, journaling
from .connection import AppConnection
from .transport import text_frame

if TYPE_CHECKING:
    from .core import Hub

UNSYNCED = 1 << 62  # the floor of an app waiting for its StateSync: no event is sent to it

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
            hub._inflight, hub._in_round = steps, True
            hub._round_done, hub._next_done = hub._next_done, None
            try:
                broadcasts, data = encoded(steps)
                refused = await journaling.write_step_async(hub, journal, broadcasts, data)
                deliver(hub, steps, broadcasts, data, refused)
            finally:
                hub._inflight, hub._in_round = [], False
                done, hub._round_done = hub._round_done, None
                if done is not None and not done.done():
                    done.set_result(None)
    finally:
        hub._committing = None
        if hub._steps:  # (a failure above): what waits is not stranded
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon(start_commits, hub)
        elif hub._next_done is not None:  # (no round took it: nothing was left to commit)
            if not hub._next_done.done():
                hub._next_done.set_result(None)
            hub._next_done = None


def barrier(hub: Hub) -> asyncio.Future[None] | None:
    """A future done once the steps held now are out (None: none are)."""
    if hub._committing is None:
        return None
    loop = asyncio.get_running_loop()
    # what waits now goes with the next round: the one after the round under way, or the
    # first one of a commit task not started yet (its future, taken as "the round under way",
    # was dropped when the round began: with a snapshot alone waiting flushed() never
    # returned - seen in a test; a node's hand-over and stop await it)
    if hub._steps or not hub._in_round:
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
    if refused and hub.cluster is not None:
        steps = _unsync(hub, steps, refused)
    data = iter(encoded)
    finished: list[Finished] = []
    # a step's events, per agent, go to each app at once (one frame write per app and step)
    events: dict[str, list[tuple[bytes, int | None]]] = {}
    for outputs, only, then in steps:
        for out in outputs:
            if isinstance(out, Broadcast):
                event = next(data)
                if refused is not None and out.login not in refused:
                    seq = out.envelope.seq
                    queued = events.get(out.login)
                    if queued is None:
                        queued = events[out.login] = []
                    queued.append((event, seq if isinstance(seq, int) else None))
                elif refused is None or hub.journal_error is not None:  # never sent: its
                    hub._withheld.add(out.login)  # seq could name another after a restart
            elif isinstance(out, Reply):
                if out.login in events:  # after the events before it
                    publish(hub, out.login, events.pop(out.login))
                if only is not None and out.origin == only.id:
                    only.push(p.encode(out.envelope).decode())
                else:
                    hub._reply(out.login, out.origin, out.envelope)
            elif isinstance(out, Finished):  # counted and audited once its messages are out
                finished.append(out)
        for login, queued in events.items():
            publish(hub, login, queued)
        events.clear()
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


def _unsync(hub: Hub, steps: list[Step], refused: frozenset[str]) -> list[Step]:
    """The StateSyncs of new apps of agents whose lease moved on with this commit (its events
    refused, this node no longer the owner), held behind it or the next: they show events
    that were never journaled - and the app's ``floor`` would skip the new owner's events of
    the same seqs.  They are not sent, nor is anything else until the app gets a new one,
    from the journal's snapshot, once the node follows the agent (``cluster_seam.resync``)."""
    moved = {login for login in refused if not cluster_seam.owned(hub, login)}
    if not moved:
        return steps

    def cut(step: Step) -> Step:
        outputs, only, then = step
        if only is None or only.login not in moved:
            return step
        hub._unsynced.setdefault(only.login, []).append(only)
        only.floor = UNSYNCED  # (its StateSync first)
        kept = [o for o in outputs if not (isinstance(o, Reply) and o.origin == only.id)]
        return kept, None, then

    hub._steps = [cut(step) for step in hub._steps]
    return [cut(step) for step in steps]


def publish(hub: Hub, login: str, events: list[tuple[bytes, int | None]]) -> None:
    """Send ``events`` (journaled, in order) to every app of ``login``: their frames are
    built once and written to each app that can take them now as one write; an app that
    cannot gets them one by one through its outbox."""
    hub.stats["events"] += len(events)
    hub.metrics.count(hub.metrics.published, n=len(events))
    conns = hub.connections.get(login)
    if not conns:
        return
    frames = b"".join([text_frame(data) for data, _ in events])  # once for every app
    texts: list[str] | None = None
    sent = 0
    for conn in list(conns.values()):
        # events already in the StateSync this app was sent are not sent again (Hub.carry_out)
        had = [seq is not None and seq <= conn.floor for _, seq in events]
        if all(had):
            continue
        if not any(had) and conn.write_now(frames):
            sent += len(events)
            continue
        if texts is None:
            texts = [data.decode() for data, _ in events]
        for text, (_, seq), skip in zip(texts, events, had, strict=True):
            if skip:
                continue
            if conn.push(text, None, seq):
                sent += 1
            else:
                hub._unsent(conn)
    if sent:
        hub.metrics.count(hub.metrics.sent, n=sent)  # once per event, not per app
