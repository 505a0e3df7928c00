"""The audit log: one JSON line per command - who (agent, app, connection), what (topic,
subtopic, data, requestId, the contact it acted on) and the result (outcome, error, duration).

Written to ``[audit] path`` (appended, a line at a time) or, without a path, to the
``ctibridge.audit`` logger.  Lines are scrubbed of credentials like every log line, and the
digits an agent keys in during a call (``NumberPad``: card numbers, PINs) are masked to their
last few (``****1234``, ``[audit] dtmf_visible_digits``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from .. import protocol as p
from ..engine import Finished
from .logs import Redactor

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


class AuditLog:
    def __init__(
        self, path: str | None = None, secrets: tuple[str, ...] = (), dtmf_visible: int = 4
    ) -> None:
        self.path = path
        self.dtmf_visible = dtmf_visible
        self._redactor = Redactor(secrets)
        self._file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def record(self, entry: dict[str, Any]) -> None:
        if entry.get("subtopic") in DTMF_SUBTOPICS and entry.get("data") is not None:
            entry = {**entry, "data": mask_digits(entry["data"], self.dtmf_visible)}
        line = self._redactor.scrub(json.dumps(entry, separators=(",", ":"), default=str))
        if self._file is not None:
            self._file.write(line + "\n")
        else:  # a JSON log line with the entry as its "audit" object
            entry = json.loads(line)
            keys = ("agent", "app", "conn", "contactId", "requestId", "subtopic", "outcome")
            log.info("command", extra={"audit": entry, **{k: entry.get(k) for k in keys}})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
