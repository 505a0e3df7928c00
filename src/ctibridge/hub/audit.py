"""The audit log: one JSON line per command - who (agent, app, connection), what (topic,
subtopic, data, requestId, the contact it acted on) and the result (outcome, error, duration).

Written to ``[audit] path`` (appended, a line at a time) or, without a path, to the
``ctibridge.audit`` logger.  Lines are scrubbed of credentials like every log line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import IO, Any

from .logs import Redactor

log = logging.getLogger("ctibridge.audit")


class AuditLog:
    def __init__(self, path: str | None = None, secrets: tuple[str, ...] = ()) -> None:
        self.path = path
        self._redactor = Redactor(secrets)
        self._file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def record(self, entry: dict[str, Any]) -> None:
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
