"""The hub's writes to the journal (docs/protocol.md §6): each engine step's events are
appended and committed before any of them is sent; when that fails (a full disk) the hub
withholds the events, refuses commands and retries the journal until it takes writes again.
A journal that writes each agent on its own (the cluster's) may fail some agents only
(:class:`~ctibridge.journal.PartialCommit`): then only their events are withheld.
Also the agent's journaled snapshot, which a restarted hub compares with the backend's.

Functions of the :class:`~ctibridge.hub.core.Hub` in a room of their own: they read and set the
hub's journal state (``journal_error``, the recovery task)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

import msgspec

from ..engine import Broadcast
from ..journal import CommitsAsync, PartialCommit
from ..model import AgentSnapshot

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("ctibridge.hub")

RETRY_S = 0.5  # how often a failing journal is tried again


NOTHING: frozenset[str] = frozenset()


def write_step(
    hub: Hub, broadcasts: list[Broadcast], encoded: list[bytes]
) -> frozenset[str] | None:
    """Append and commit one engine step's events (or a loop tick's) - before any of them is
    sent.  None when that failed: then none of them may be sent; else the agents whose events
    the journal refused alone (a lease lost, in a cluster): theirs may not be sent."""
    start = time.perf_counter()
    try:
        _append(hub, broadcasts, encoded)
        hub.journal.commit()
    except Exception as e:
        return _refused(hub, e, broadcasts, start)
    return _written(hub, broadcasts, start, NOTHING)


async def write_step_async(
    hub: Hub, journal: CommitsAsync, broadcasts: list[Broadcast], encoded: list[bytes]
) -> frozenset[str] | None:
    """:func:`write_step` with a commit that is awaited (``hub/steps.py``)."""
    start = time.perf_counter()
    try:
        _append(hub, broadcasts, encoded)
        await journal.commit_async()
    except Exception as e:
        return _refused(hub, e, broadcasts, start)
    return _written(hub, broadcasts, start, NOTHING)


def _append(hub: Hub, broadcasts: list[Broadcast], encoded: list[bytes]) -> None:
    for out, data in zip(broadcasts, encoded, strict=True):
        seq = out.envelope.seq
        assert isinstance(seq, int)
        hub.journal.append(out.login, seq, data)


def _refused(
    hub: Hub, e: Exception, broadcasts: list[Broadcast], start: float
) -> frozenset[str] | None:
    if not isinstance(e, PartialCommit):
        _failed(hub, e)
        return None
    refused = frozenset(e.logins)
    if not e.lost:  # Redis refused a write: as a failed journal, but the others go out
        _failed(hub, e)
        return refused
    log.warning("events refused: %s", e, extra={"kind": "journal"})
    return _written(hub, broadcasts, start, refused)


def _written(
    hub: Hub, broadcasts: list[Broadcast], start: float, refused: frozenset[str]
) -> frozenset[str]:
    if broadcasts:
        hub.metrics.observe(hub.metrics.journal_lag, time.perf_counter() - start)
        if hub.journal_error is not None:
            _recovered(hub)
    return refused


def _failed(hub: Hub, e: Exception) -> None:
    if hub.journal_error is None:
        log.exception("journal write failed: withholding events, refusing commands",
                      extra={"kind": "journal"})  # fmt: skip
    hub.journal_error = f"{type(e).__name__}: {e}"
    hub.metrics.journal_errors.inc()
    hub.metrics.journal_available.set(0)
    hub.count_error("JOURNAL")
    if hub._recovery is None or hub._recovery.done():
        with contextlib.suppress(RuntimeError):  # no loop: the next step tries again
            hub._recovery = asyncio.get_running_loop().create_task(_retry(hub))
            hub._tasks.add(hub._recovery)
            hub._recovery.add_done_callback(hub._tasks.discard)


def _recovered(hub: Hub) -> None:
    log.warning("journal writes succeed again", extra={"kind": "journal"})
    hub.journal_error = None
    hub.metrics.journal_available.set(1)


async def _retry(hub: Hub) -> None:
    """Write the agents' states until the journal takes them: then it is back."""
    while hub.journal_error is not None and not hub.draining:
        await asyncio.sleep(RETRY_S)
        if hub.journal_error is None:
            break
        try:
            for login in hub.engine.sessions:
                hub.journal.save_state(login, state_bytes(hub, login))
            hub.journal.commit()
        except Exception as e:
            hub.journal_error = f"{type(e).__name__}: {e}"
            continue
        _recovered(hub)
    if hub.journal_error is None and hub._withheld:
        hub.resync_withheld()


def state_bytes(hub: Hub, login: str) -> bytes:
    return msgspec.json.encode(hub.engine.session(login).snapshot)


def save_state(hub: Hub, login: str) -> None:
    try:
        hub.journal.save_state(login, state_bytes(hub, login))
    except Exception:
        log.exception("journal save failed", extra={"agent": login, "kind": "journal"})
        hub.metrics.journal_errors.inc()


def saved_snapshot(hub: Hub, login: str) -> AgentSnapshot | None:
    data = hub.journal.state(login)
    if data is None:
        return None
    try:
        return msgspec.json.decode(data, type=AgentSnapshot)
    except msgspec.DecodeError:
        log.warning("journaled snapshot unreadable; starting from the backend's",
                    extra={"agent": login})  # fmt: skip
        return None
