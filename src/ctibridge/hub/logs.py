"""Structured logs: one JSON object a line, with the fields an operator filters on.

Fields passed as ``extra=`` (``agent``, ``app``, ``conn``, ``contactId``, ``requestId``, ...)
become keys of the line.  Every line goes through :class:`Redactor` first: tokens (and a
``token=`` query parameter, which uvicorn logs with the request line at INFO) and the configured
secrets are replaced, so no credential reaches a log whatever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

FIELDS = (
    "agent", "app", "conn", "contactId", "requestId", "topic", "subtopic", "outcome",
    "errorType", "code", "reason", "kind", "queued", "remote", "seq", "resumeFrom",
)  # fmt: skip
REDACTED = "[redacted]"
_TOKEN_RE = re.compile(r"ctb1\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
_QUERY_TOKEN_RE = re.compile(r"(token=)[^&\s\"']+")
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[^\s\"']+")


class Redactor(logging.Filter):
    """Removes credentials from a record's message and fields before any handler formats it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _TOKEN_RE.sub(f"ctb1.{REDACTED}", text)
        text = _QUERY_TOKEN_RE.sub(rf"\g<1>{REDACTED}", text)
        return _BEARER_RE.sub(rf"\g<1>{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for name in FIELDS:
            value = record.__dict__.get(name)
            if isinstance(value, str):
                record.__dict__[name] = self.scrub(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        audit = record.__dict__.get("audit")
        if audit is not None:
            line["audit"] = audit
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [f"{n}={record.__dict__[n]}" for n in FIELDS if record.__dict__.get(n) is not None]
        audit = record.__dict__.get("audit")
        if audit is not None:
            fields.append(json.dumps(audit, separators=(",", ":"), default=str))
        return f"{text} {' '.join(fields)}" if fields else text


def configure(
    fmt: str = "json",
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every logger (ours and uvicorn's) to one redacting handler on ``stream``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
