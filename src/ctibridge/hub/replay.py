"""Resume (docs/protocol.md §6): an app that reconnects with the last ``seq`` it saw gets the
journaled events after it, read in pages as its outbox has room - or, when the journal no longer
has them, the current state and ``RESUME_GAP``."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .. import protocol as p
from ..journal import ReadsOffLoop
from .connection import AppConnection

if TYPE_CHECKING:
    from .core import Hub

log = logging.getLogger("ctibridge.hub")


async def resume_replay(
    hub: Hub, conn: AppConnection, resume_from: int, until: int, truth: list[str]
) -> None:
    """Send ``conn`` the journaled events after ``resume_from`` up to ``until`` (the last
    one sent when it connected), a page at a time, each page read when its outbox has room
    for it (off the loop when the journal allows); then ``truth`` (a StateSync pair as of
    its connecting, or nothing), then the live events that waited meanwhile."""
    login = conn.login
    size = max(1, hub.settings.limits.replay_page)
    off_loop = isinstance(hub.journal, ReadsOffLoop) and hub.journal.reads_off_loop
    after = resume_from
    if after < 0 or after > until:  # unreadable, or a seq this journal never held
        replay_gap(hub, conn, after)
        return
    try:
        while after < until:
            while not conn.room(size) and conn.close_code is None:
                await asyncio.sleep(0.02)  # the app first takes what it was sent
            count = min(size, until - after)
            if off_loop:
                page = await asyncio.to_thread(hub.journal.since, login, after, count)
            else:
                page = hub.journal.since(login, after, count)
                await asyncio.sleep(0)  # other work runs between pages
            if conn.close_code is not None:
                return
            if page is None or len(page) != count:
                replay_gap(hub, conn, after)
                return
            for data in page:
                if not conn.enqueue(data.decode()):
                    return
            after += count
    except Exception:  # a journal that cannot be read: the app starts afresh
        log.exception("resume replay failed", extra={"agent": login, "conn": conn.id})
        replay_gap(hub, conn, after)
        return
    held, conn.held = conn.held or [], None
    for text in truth:
        if not conn.enqueue(text):
            return
    for _, text in held:  # all of them came after `until`
        if not conn.enqueue(text):
            return


def replay_gap(hub: Hub, conn: AppConnection, after: int) -> None:
    """The journal no longer has what ``conn`` asked for: the current state + RESUME_GAP.
    Events that waited behind the replay are in that state; answers still go."""
    held, conn.held = conn.held or [], None
    gap = p.error_event(
        "System",
        "RESUME_GAP",
        f"events after seq {after} are no longer in the journal",
        p.ERROR_TEXT["RESUME_GAP"],
        None,
        None,
    )

    def then() -> None:  # after the StateSync (which may wait for the events it shows)
        conn.push(p.encode(gap).decode())
        for seq, text in held:
            if seq is None:
                conn.push(text)

    hub.carry_out(hub.engine.sync(conn.login, conn.id), only=conn, then=then)
