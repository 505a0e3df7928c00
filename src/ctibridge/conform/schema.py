"""Shapes of messages against the published samples shipped with this package (package data,
``samples/rev<N>/``) and docs/protocol.md §5 for errors (no error was ever published)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from . import REVISION
from .diff import Message, Mismatch, get, shape


@cache
def sample(name: str) -> Any:
    text = files(__package__).joinpath("samples", f"rev{REVISION}", f"{name}.json").read_text()
    return json.loads(text)


def _error_sample() -> Message:
    return {"channel": "Amazon", "topic": "", "subtopic": "Error",
            "message": {"type": "", "code": "", "text": "", "request": None}}  # fmt: skip


# subtopic -> (sample file, what the reader is told, [ext] key paths, paths with open key sets)
CALL_EXT = frozenset({"message.call.User"})
SHAPES: dict[str, tuple[str, str, frozenset[str], frozenset[str]]] = {
    "InboundCallStateChange": ("clear-contact-response-agent", "published ClearContact sample",
                               CALL_EXT, frozenset({"message.call.CallVariables"})),
    "OutboundCallStateChange": ("clear-contact-response-agent", "published ClearContact sample",
                                CALL_EXT, frozenset({"message.call.CallVariables"})),
    "SetAgentState": ("agent-setagentstate-event", "published SetAgentState sample",
                      frozenset({"message.data.reasonCode", "message.data.nextState"}),
                      frozenset()),
    "CcpAgentState": ("agent-ccpagentstate-response", "published CcpAgentState sample",
                      frozenset(), frozenset()),
    "LoginSuccess": ("agent-loginsuccess-response", "published LoginSuccess sample",
                     frozenset({"message.agentInfo.routingProfile", "message.agentInfo.queues"}),
                     frozenset()),
    "LogoutSuccess": ("agent-logoutsuccess-response", "published LogoutSuccess sample",
                      frozenset({"message.agentInfo.routingProfile", "message.agentInfo.queues",
                                 "message.agentState", "message.rules"}),
                      frozenset({"message.agentState", "message.rules"})),
}  # fmt: skip


def _nullable(published: Any, paths: tuple[str, ...]) -> Any:
    """A copy of a sample with null at ``paths`` (a sample's null allows any value)."""
    out = json.loads(json.dumps(published))
    for path in paths:
        *parents, last = path.split(".")
        node = out
        for key in parents:
            node = node[key]
        node[last] = None
    return out


# §4.1: previousStatus is null for a new connection, phoneNumber/fromAddress for the agent leg;
# a call placed by the agent came through no queue
CALL_NULLS = (
    "message.call.ResponseActual.previousStatus",
    "message.call.ResponseActual.phoneNumber",
    "message.call.ResponseFields.fromAddress",
    "message.call.ResponseFields.MediaProperties.queueName",
    "message.call.ResponseFields.MediaProperties.queueTimestamp",
)


def check(message: Message) -> list[Mismatch]:
    """Every difference between ``message`` and the published shape of its subtopic."""
    subtopic = message.get("subtopic")
    if subtopic == "Error":
        return list(shape(message, _error_sample(), "docs/protocol.md §5 error shape",
                          open_paths=frozenset({"message.request"})))  # fmt: skip
    if subtopic == "StateSync" and message.get("topic") != "Agent":
        # §4.3: with no contact, queueName and queueTimestamp are null
        published = _nullable(sample("call-statesync-response"),
                              ("message.queueName", "message.queueTimestamp"))  # fmt: skip
        return list(shape(message, published,
                          "published call StateSync sample",
                          open_paths=frozenset({"message"})))  # fmt: skip
    spec = SHAPES.get(str(subtopic))
    if spec is None:
        return []
    name, reference, extra, open_paths = spec
    published = sample(name)
    items = get(message, "message.rules.ButtonStates.items")
    if subtopic == "SetAgentState" and isinstance(items, dict) and len(items) == 2:
        # Mute/Unmute events carry only mute and unmute (§4.4)
        published, reference = sample("agent-setagentstate-response-3"), "published Mute sample"
    if str(subtopic).endswith("CallStateChange"):
        published = _nullable(published, CALL_NULLS)
    out = list(shape(message, published, reference, extra=extra, open_paths=open_paths))
    if subtopic == "SetAgentState":
        # the published SetAgentState sample lacks reasonCode; the Mute sample shows its shape
        reason = message.get("message", {}).get("data", {}).get("reasonCode")
        if reason is not None:
            out += shape({"reasonCode": reason}, {"reasonCode": {"id": ""}},
                         "published Mute sample", path="message.data")  # fmt: skip
    return out
