"""JSON Schema of every message, generated from the msgspec types (never written by hand).

Each request (per topic and subtopic, aliases included) and each event or answer (per topic and
subtopic) becomes one Struct type built from the tables - ``registry.SUBTOPICS`` for requests,
``wire.EVENTS`` for events - with ``topic`` and ``subtopic`` pinned to their values, so the schema
says exactly which ``data`` / ``message`` goes with which subtopic.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, cast

import msgspec
from msgspec import UNSET, UnsetType

from .decode import RequestEnvelope, RequestId, Source
from .registry import SUBTOPICS
from .wire import EVENTS

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF = "#/$defs/{name}"

_Field = tuple[str, Any] | tuple[str, Any, Any]


def _const(value: str) -> Any:
    return cast(Any, Literal)[value]


@cache
def request_types() -> dict[tuple[str, str], type[msgspec.Struct]]:
    """(topic, subtopic as sent - aliases included) -> the Struct type of that request."""
    types: dict[tuple[str, str], type[msgspec.Struct]] = {}
    for topic, table in SUBTOPICS.items():
        for name, (canonical, shape) in table.items():
            fields: list[_Field] = [
                ("channel", Literal["Amazon"]),
                ("topic", _const(topic)),
                ("subtopic", _const(name)),
                ("source", Source),
            ]
            if shape is not None:
                fields.append(
                    ("data", shape.wire) if shape.required else ("data", shape.wire | None, None)
                )
            fields.append(("requestId", RequestId | UnsetType, UNSET))
            doc = f"{topic}/{name}" + (f" (alias of {canonical})" if name != canonical else "")
            types[topic, name] = msgspec.defstruct(
                f"{topic}{name}Request", fields, frozen=True, module=__name__
            )
            types[topic, name].__doc__ = doc
    return types


@cache
def event_types() -> dict[tuple[str, str], type[msgspec.Struct]]:
    """(topic, subtopic) -> the Struct type of that event or answer."""
    types: dict[tuple[str, str], type[msgspec.Struct]] = {}
    for (topic, subtopic), message in EVENTS.items():
        name = subtopic if subtopic.startswith(topic) else f"{topic}{subtopic}"
        types[topic, subtopic] = msgspec.defstruct(
            f"{name}Event",
            [
                ("channel", Literal["Amazon"]),
                ("topic", _const(topic)),
                ("subtopic", _const(subtopic)),
                ("message", message),
                ("seq", int | UnsetType, UNSET),
                ("requestId", str | UnsetType, UNSET),
            ],
            frozen=True,
            module=__name__,
        )
        types[topic, subtopic].__doc__ = f"{topic}/{subtopic}"
    return types


def json_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) document: ``$defs`` has every request (``Request``) and every event
    or answer (``Event``); the document itself accepts any of them."""
    requests = list(request_types().values())
    events = list(event_types().values())
    refs, defs = msgspec.json.schema_components(
        [RequestEnvelope, *requests, *events], ref_template=_REF
    )
    defs["Request"] = {
        "description": "A message from an app to the hub.",
        "anyOf": list(refs[1 : 1 + len(requests)]),
    }
    defs["Event"] = {
        "description": "A message from the hub to an app.",
        "anyOf": list(refs[1 + len(requests) :]),
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "ctibridge messages",
        "anyOf": [{"$ref": _REF.format(name="Request")}, {"$ref": _REF.format(name="Event")}],
        "$defs": defs,
    }
