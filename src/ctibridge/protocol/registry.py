"""The subtopic registry: one row per subtopic, everything else derived from it.

Theory of operation: a row names a canonical subtopic and says, once, everything the project
needs to know about it - the topics it is accepted under (§3), its aliases, the shape of its
``data`` (per topic where they differ), its failure type and sentence (§3, §5), and its kind:

* ``command`` - carried out by the engine's planner of the same name (``engine/commands.py``);
* ``query`` - answered to the requester only, never journaled (StateSync, GetStates, ...);
* ``simulator`` - carried out by the embedded simulator (§7).

Derived here: :data:`SUBTOPICS` (topic -> name or alias -> (canonical, shape)), the decoder's and
the JSON Schema's table; :data:`COMMAND_SUBTOPICS` (the names ``Simulator/FailNext`` takes);
:data:`QUERIES`; :data:`ID_CARRYING`; ``failure_for``.  ``tests/protocol/test_registry.py`` fails
when a row lacks its planner, its error type, its simulator failure mapping or its schema entry.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from .requests import SimFailNext, Topic
from .shapes import (
    CONFIGURE,
    CONNECTION_ID,
    CONSULT_TARGET,
    CONTACT_ID,
    CONTACT_REF,
    DIGITS,
    EXTERNAL_TARGET,
    INCOMING_CALL,
    MAKE_CALL,
    MAKE_CALL_OR_PREVIEW,
    OUTBOUND_RESULT,
    PREVIEW_CALL,
    QUEUE_TRANSFER,
    REASON_CODE,
    STATE,
    TRANSFER_TARGET,
    DataShape,
    FailNextObject,
    InvalidData,
)

Kind = Literal["command", "query", "simulator"]
CALL: tuple[Topic, ...] = ("InboundCall", "OutboundCall")
AGENT: tuple[Topic, ...] = ("Agent",)
SIMULATOR: tuple[Topic, ...] = ("Simulator",)


@dataclass(frozen=True)
class Subtopic:
    """One row: a canonical subtopic and everything about it."""

    name: str
    topics: tuple[Topic, ...]
    shape: DataShape | None = None
    failure: str | None = None  # the error type of a refusal (§3); None: never refused
    text: str | None = None  # the failure's sentence, when not its type's (§3.1 ExternalConsult)
    aliases: tuple[str, ...] = ()
    kind: Kind = "command"
    # another shape under one topic: OutboundCall/MakeCall without data accepts the preview
    shape_under: tuple[tuple[Topic, DataShape], ...] = ()
    carries_ids: bool = False  # data names a contact/connection: checked for FORBIDDEN (§5)

    def shape_for(self, topic: Topic) -> DataShape | None:
        return dict(self.shape_under).get(topic, self.shape)


def _fail_next(value: FailNextObject) -> SimFailNext:
    canonical = COMMAND_SUBTOPICS.get(value.subtopic.strip())
    if canonical is None:
        raise InvalidData("subtopic")
    return SimFailNext(canonical, value.error)


FAIL_NEXT = DataShape(
    "FailNext",
    FailNextObject,
    _fail_next,
    expects="{subtopic, error?} naming a call or agent subtopic",
)

S = Subtopic
REGISTRY: tuple[Subtopic, ...] = (
    # call control (§3.1), the same under both call topics
    S("Answer", CALL, failure="ANSWER_CALL_FAILED"),
    S("Reject", CALL, failure="REJECT_CALL_FAILED"),
    S("Hold", CALL, CONTACT_ID, "HOLD_CALL_FAILED", aliases=("SetHold",), carries_ids=True),
    S("Resume", CALL, CONNECTION_ID, "RESUME_CALL_FAILED", carries_ids=True),
    S("Disconnect", CALL, CONNECTION_ID, "DISCONNECT_CALL_FAILED", carries_ids=True),
    S("ClearContact", CALL, CONTACT_ID, "CLEAR_CONTACT_FAILED", carries_ids=True),
    S("Consult", CALL, CONSULT_TARGET, "CONSULT_CALL_FAILED"),
    S(
        "ExternalConsult",
        CALL,
        EXTERNAL_TARGET,
        "CONSULT_CALL_FAILED",
        text="External consult failed.",
    ),
    S("Swap", CALL, failure="SWAP_CALL_FAILED"),
    S("Conference", CALL, failure="CONFERENCE_CALL_FAILED"),
    S("Transfer", CALL, TRANSFER_TARGET, "TRANSFER_CALL_FAILED"),
    S("QueueTransfer", CALL, QUEUE_TRANSFER, "TRANSFER_CALL_FAILED"),
    S("NumberPad", CALL, DIGITS, "SEND_DTMF_FAILED", aliases=("SendDTMF", "SendDigits")),
    S("ConsultDrop", CALL, failure="CONSULT_DROP_FAILED"),
    S("AcceptWarmTransfer", CALL, failure="ANSWER_CALL_FAILED"),
    S("Skip", ("OutboundCall",), failure="SKIP_CONTACT_FAILED"),
    S(
        "MakeCall",
        CALL,
        MAKE_CALL,
        "MAKE_CALL_FAILED",
        aliases=("SetMakeCall",),
        shape_under=(("OutboundCall", MAKE_CALL_OR_PREVIEW),),
    ),
    S("StateSync", (*CALL, *AGENT), kind="query"),
    # agent (§3.2)
    S("UpdateState", AGENT, STATE, "UPDATE_AGENT_STATE_FAILED", aliases=("Update",)),
    S("GetStates", AGENT, aliases=("GetAgentState",), kind="query"),
    S("Mute", AGENT, failure="MUTE_FAILED"),
    S("Unmute", AGENT, failure="MUTE_FAILED"),
    S("SetNotReady", AGENT, REASON_CODE, "UPDATE_AGENT_STATE_FAILED"),
    S("Login", AGENT, failure="LOGIN_FAILED"),
    S("Logout", AGENT, failure="LOGOUT_FAILED"),
    S("CcpAgentState", AGENT, kind="query"),
    # simulator (§7)
    S("IncomingCall", SIMULATOR, INCOMING_CALL, "SIMULATOR_FAILED", kind="simulator"),
    S("CustomerHangup", SIMULATOR, CONTACT_REF, "SIMULATOR_FAILED", kind="simulator"),
    S("ThirdPartyAnswer", SIMULATOR, CONTACT_REF, "SIMULATOR_FAILED", kind="simulator"),
    S("ThirdPartyHangup", SIMULATOR, CONTACT_REF, "SIMULATOR_FAILED", kind="simulator"),
    S("OutboundResult", SIMULATOR, OUTBOUND_RESULT, "SIMULATOR_FAILED", kind="simulator"),
    S("Configure", SIMULATOR, CONFIGURE, "SIMULATOR_FAILED", kind="simulator"),
    S("FailNext", SIMULATOR, FAIL_NEXT, "SIMULATOR_FAILED", kind="simulator"),
    S("PreviewCall", SIMULATOR, PREVIEW_CALL, "SIMULATOR_FAILED", kind="simulator"),
    S("Reset", SIMULATOR, failure="SIMULATOR_FAILED", kind="simulator"),
)
del S

BY_NAME: dict[str, Subtopic] = {row.name: row for row in REGISTRY}
TOPICS: tuple[Topic, ...] = ("InboundCall", "OutboundCall", "Agent", "Simulator")

Entry = tuple[str, DataShape | None]
# topic -> subtopic or alias as sent -> (canonical name, data shape): what decoding looks up
SUBTOPICS: dict[Topic, dict[str, Entry]] = {
    topic: {
        name: (row.name, row.shape_for(topic))
        for row in REGISTRY
        if topic in row.topics
        for name in (row.name, *row.aliases)
    }
    for topic in TOPICS
}
# every call-control / agent subtopic or alias -> canonical name (Simulator/FailNext names these)
COMMAND_SUBTOPICS: dict[str, str] = {
    name: row.name for row in REGISTRY if row.kind == "command" for name in (row.name, *row.aliases)
}
QUERIES: frozenset[str] = frozenset(row.name for row in REGISTRY if row.kind == "query")
ID_CARRYING: frozenset[str] = frozenset(row.name for row in REGISTRY if row.carries_ids)


def closest(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` most likely meant (case first, then spelling), if any is close."""
    folded = {c.casefold(): c for c in candidates}
    if name.casefold() in folded:
        return folded[name.casefold()]
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_subtopic(topic: Topic, subtopic: str) -> str:
    """The ``code`` of UNKNOWN_SUBTOPIC (§5): the closest valid subtopic, else the valid ones."""
    names = list(SUBTOPICS[topic])
    best = closest(subtopic.strip(), names)
    if best is not None:
        return f"{subtopic}: did you mean {best}?"
    elsewhere = [t for t in TOPICS if subtopic.strip() in SUBTOPICS[t]]
    if elsewhere:
        return f"{subtopic}: a subtopic of {' and '.join(elsewhere)}, not {topic}"
    return f"{subtopic}: expected one of {', '.join(names)}"


def unknown_topic(topic: str) -> str:
    """The ``code`` of UNKNOWN_TOPIC: the closest valid topic, else the valid ones."""
    best = closest(topic.strip(), list(TOPICS))
    if best is not None:
        return f"topic {topic}: did you mean {best}?"
    return f"topic {topic}: expected one of {', '.join(TOPICS)}"
