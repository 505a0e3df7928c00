"""The AsyncAPI 3 document of the WebSocket API, generated from the same msgspec types as the
JSON Schema (``schema.py``): one channel (``/ws``, one connection per app and agent), one message
per request subtopic (aliases included) and per event or answer, and the two operations - the
hub receives requests and sends events.  Served at ``GET /asyncapi.json``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .. import __version__
from .schema import event_types, request_types

ASYNCAPI_VERSION = "3.0.0"
_SCHEMA_REF = "#/components/schemas/{name}"

_DESCRIPTION = (
    "One JSON message API for Amazon Connect agent call control (docs/protocol.md revision 2: the "
    'published Acqueon "Amazon" messages). An app opens '
    "`/ws?agent=<login>` and acts for that agent: it sends requests (`source`) and receives "
    "every event of the agent (`message`), in order, each broadcast carrying a per-agent `seq`. "
    "The hub first sends the Agent and call StateSync answers, or with `resumeFrom=<seq>` "
    "the journaled events after that seq. Every request is answered by the events it caused or "
    "by one `Error` message."
)


def _query_schema(secured: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "agent": {"type": "string", "description": "The agent login this connection acts for."},
        "resumeFrom": {
            "type": "integer",
            "description": "Replay the journaled events after this seq before live events.",
        },
    }
    if secured:
        properties["token"] = {
            "type": "string",
            "description": "A token naming the agent (or send `Authorization: Bearer`).",
        }
    return {"type": "object", "properties": properties, "required": ["agent"]}


def asyncapi_document(
    host: str = "127.0.0.1:8765", *, secured: bool = True, version: str = __version__
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of a hub reached at ``host`` (``host:port``)."""
    requests = request_types()
    events = event_types()
    types = [*requests.values(), *events.values()]
    _, schemas = msgspec.json.schema_components(types, ref_template=_SCHEMA_REF)
    messages: dict[str, Any] = {}
    request_names: list[str] = []
    event_names: list[str] = []
    sides = ((request_names, requests, "Request"), (event_names, events, "Event"))
    for names, table, kind in sides:
        for (topic, subtopic), struct in table.items():
            name = struct.__name__
            names.append(name)
            messages[name] = {
                "name": name,
                "title": f"{topic}/{subtopic} {kind.lower()}",
                "summary": struct.__doc__ or f"{topic}/{subtopic}",
                "contentType": "application/json",
                "payload": {"$ref": _SCHEMA_REF.format(name=name)},
            }
    channel_messages = {name: {"$ref": f"#/components/messages/{name}"} for name in messages}

    def refs(names: list[str]) -> list[dict[str, str]]:
        return [{"$ref": f"#/channels/agent/messages/{name}"} for name in names]

    server: dict[str, Any] = {
        "host": host,
        "protocol": "ws",
        "description": "A ctibridge hub.",
    }
    components: dict[str, Any] = {"schemas": schemas, "messages": messages}
    if secured:
        server["security"] = [
            {"$ref": "#/components/securitySchemes/queryToken"},
            {"$ref": "#/components/securitySchemes/bearerToken"},
        ]
        components["securitySchemes"] = {
            "queryToken": {
                "type": "httpApiKey",
                "name": "token",
                "in": "query",
                "description": "A token from `ctibridge token create` naming the agent.",
            },
            "bearerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "The same token in an `Authorization: Bearer` header.",
            },
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "ctibridge", "version": version, "description": _DESCRIPTION},
        "defaultContentType": "application/json",
        "servers": {"hub": server},
        "channels": {
            "agent": {
                "address": "/ws",
                "title": "One app connection for one agent",
                "messages": channel_messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": _query_schema(secured),
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": {
            "receiveRequest": {
                "action": "receive",
                "channel": {"$ref": "#/channels/agent"},
                "summary": "An app sends a request (one JSON message per text frame).",
                "messages": refs(request_names),
            },
            "sendEvent": {
                "action": "send",
                "channel": {"$ref": "#/channels/agent"},
                "summary": "The hub sends events, answers and errors to the agent's apps.",
                "messages": refs(event_names),
            },
        },
        "components": components,
    }
