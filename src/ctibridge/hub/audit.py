"""The audit log: one JSON line per command - who (agent, app, connection), what (topic,
subtopic, data, requestId, the contact it acted on) and the result (outcome, error, duration).

Written to ``[audit] path`` (appended) or, without a path, to the ``ctibridge.audit`` logger.
Lines are scrubbed of credentials like every log line, and the digits an agent keys in during a
call (``NumberPad``: card numbers, PINs) are masked to their last few (``****1234``,
``[audit] dtmf_visible_digits``).

Off the command's path: :meth:`AuditLog.record` only queues the entry; the entries of one loop
tick are encoded, scrubbed and written together at its end (one write), from a queue of at
most ``max_queued`` entries.  What does not fit, or what the file refuses (a full disk), is
dropped - counted (``ctibridge_audit_dropped_total``) and logged once a minute - never a stall
or an error in the command's path.  Without a loop (tools, tests) each entry is written at once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec

from .. import protocol as p
from ..engine import Finished
from .logs import Redactor
from .tick import at_tick_end

log = logging.getLogger("ctibridge.audit")


# subtopics whose data are digits keyed in by the agent (the canonical name; aliases map to it)
DTMF_SUBTOPICS = frozenset({"NumberPad"})


def mask_digits(value: Any, visible: int) -> Any:
    """``value`` with every string cut to its last ``visible`` characters behind ``****``
    (nested values too); ``visible`` < 0 leaves it as it is."""
    if visible < 0:
        return value
    if isinstance(value, str):
        return "****" + (value[-visible:] if visible else "")
    if isinstance(value, dict):
        return {k: mask_digits(v, visible) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_digits(v, visible) for v in value]
    return value


def audit_entry(done: Finished, app: str, now: int, elapsed: float | None) -> dict[str, Any]:
    """The audit record of a finished command (``elapsed``: seconds since it arrived)."""
    req = done.request
    return {
        "ts": p.iso(now),
        "agent": done.login,
        "app": app,
        "conn": done.origin,
        "source": req.source,
        "topic": req.topic,
        "subtopic": req.subtopic,
        "requestId": req.request_id,
        "contactId": done.contact_id,
        "data": (req.raw or {}).get("data"),
        "outcome": done.outcome,
        "errorType": done.error_type,
        "code": done.code,
        "ms": None if elapsed is None else round(elapsed * 1000, 3),
    }


_encode = msgspec.json.Encoder(enc_hook=str).encode
_KEYS = ("agent", "app", "conn", "contactId", "requestId", "subtopic", "outcome")
WARN_EVERY_S = 60.0  # dropped records are logged at most this often


class AuditLog:
    def __init__(
        self,
        path: str | None = None,
        secrets: tuple[str, ...] = (),
        dtmf_visible: int = 4,
        max_queued: int = 10_000,
    ) -> None:
        self.path = path
        self.dtmf_visible = dtmf_visible
        self.max_queued = max_queued
        self._redactor = Redactor(secrets)
        self._file: IO[str] | None = None
        self._queue: list[dict[str, Any]] = []
        self._scheduled = False
        self.dropped = 0
        self.on_drop: Callable[[int], None] | None = None  # the hub's metric
        self._warned = -WARN_EVERY_S
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def record(self, entry: dict[str, Any]) -> None:
        """Queue ``entry``; it is written at the end of this loop tick."""
        if len(self._queue) >= self.max_queued:
            self._drop(1, "audit queue full")
            return
        self._queue.append(entry)
        if not self._scheduled:
            self._scheduled = at_tick_end(self.flush)
            if not self._scheduled:
                self.flush()

    def flush(self) -> None:
        """Write the queued entries (one write)."""
        self._scheduled = False
        entries, self._queue = self._queue, []
        if not entries or (self._file is None and not log.isEnabledFor(logging.INFO)):
            return  # no file, and nobody listens to the audit logger
        lines = self._redactor.scrub(b"\n".join(_encode(self._masked(e)) for e in entries).decode())
        if self._file is None:  # a JSON log line per entry, with the entry as its "audit" object
            for line in lines.split("\n"):
                entry = json.loads(line)
                log.info("command", extra={"audit": entry, **{k: entry.get(k) for k in _KEYS}})
            return
        try:
            self._file.write(lines + "\n")
            self._file.flush()
        except OSError as e:
            self._drop(len(entries), f"audit file refused the write: {e}")

    def _masked(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("subtopic") in DTMF_SUBTOPICS and entry.get("data") is not None:
            return {**entry, "data": mask_digits(entry["data"], self.dtmf_visible)}
        return entry

    def _drop(self, n: int, why: str) -> None:
        self.dropped += n
        if self.on_drop is not None:
            self.on_drop(n)
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY_S:
            self._warned = now
            log.warning("audit records dropped", extra={"reason": why, "dropped": self.dropped})

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None
