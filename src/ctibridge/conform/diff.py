"""Key-path differences: what a message should have said, what it said, and the published
sample or docs/protocol.md rule that says so."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "missing"})()
# keys any message may add to its sample's (docs/protocol.md §2: ignored by conformance)
ENVELOPE_EXT = frozenset({"seq", "requestId"})


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: Any
    got: Any
    reference: str

    def __str__(self) -> str:
        return (
            f"{self.path}: expected {show(self.expected)}, got {show(self.got)} ({self.reference})"
        )


class Nonconformance(AssertionError):
    """A scenario step whose messages differ from the contract: every difference found."""

    def __init__(self, step: str, mismatches: list[Mismatch]) -> None:
        self.step = step
        self.mismatches = mismatches
        super().__init__(f"{step}: " + "; ".join(str(m) for m in mismatches))


def show(value: Any) -> str:
    if value is MISSING:
        return "nothing"
    if isinstance(value, type):
        return JSON_TYPE.get(value, value.__name__)
    return json.dumps(value, default=str)


JSON_TYPE = {str: "a string", int: "a number", bool: "a boolean", dict: "an object",
             list: "an array", type(None): "null"}  # fmt: skip


def get(message: Any, path: str) -> Any:
    """``message`` at a dotted key path (``MISSING`` where a key is absent)."""
    node = message
    for key in path.split("."):
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return MISSING
    return node


def values(message: Any, expected: Mapping[str, Any], reference: str) -> list[Mismatch]:
    """Every path of ``expected`` whose value in ``message`` differs."""
    out = []
    for path, want in expected.items():
        got = get(message, path)
        if got != want or type(got) is not type(want):
            out.append(Mismatch(path, want, got, reference))
    return out


def _kind(value: Any) -> type:
    return int if isinstance(value, float) else type(value)


def shape(
    message: Any,
    sample: Any,
    reference: str,
    *,
    extra: frozenset[str] = frozenset(),
    open_paths: frozenset[str] = frozenset(),
    path: str = "",
) -> Iterator[Mismatch]:
    """Keys, nesting and value types of ``message`` against a published ``sample``: every key of
    the sample present with the same JSON type (a sample's null allows any type), no other keys
    but ``extra`` paths (the [ext] keys) and those under ``open_paths`` (contact attributes)."""
    if isinstance(sample, dict):
        if not isinstance(message, dict):
            yield Mismatch(path or "message", dict, _kind(message), reference)
            return
        for key, want in sample.items():
            sub = f"{path}.{key}" if path else key
            if key not in message:
                yield Mismatch(sub, _kind(want), MISSING, reference)
            else:
                yield from shape(message[key], want, reference, extra=extra,
                                 open_paths=open_paths, path=sub)  # fmt: skip
        if path in open_paths:
            return
        for key in message:
            sub = f"{path}.{key}" if path else key
            if key not in sample and sub not in extra and not (not path and key in ENVELOPE_EXT):
                yield Mismatch(sub, MISSING, message[key], reference)
    elif isinstance(sample, list):
        if not isinstance(message, list):
            yield Mismatch(path, list, _kind(message), reference)
        elif sample:
            for i, item in enumerate(message):
                yield from shape(item, sample[0], reference, extra=extra,
                                 open_paths=open_paths, path=f"{path}.{i}")  # fmt: skip
    elif sample is not None and _kind(message) is not _kind(sample):
        yield Mismatch(path, _kind(sample), _kind(message), reference)
