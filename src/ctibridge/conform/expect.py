"""What a scenario step must cause, as expectations: each event's label and key paths, each path
naming the published sample or docs/protocol.md rule that says so (``call``, ``third``, ``agent``,
``mute``, ``ccp``, ``changed``, ``error``), and the §4.2 rows the scenarios name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import rules
from .diff import Message, Mismatch, values

THIRD = "+15557654321"
IB = "InboundCall"
R = rules.CALL_RULES
F = rules.F
TWO_PARTY = R[("connected", None)]
HELD = R[("hold", None)]
CONSULTING = R[("hold", "connected")]
CONSULT_RINGING = R[("hold", "connecting")]
SWAPPED = R[("connected", "hold")]
CONFERENCE = R[("connected", "connected")]


@dataclass(frozen=True)
class Expect:
    """One event a step must cause: its label and key paths, each with its reference."""

    label: str
    checks: tuple[tuple[dict[str, Any], str], ...]

    def diff(self, event: Message) -> list[Mismatch]:
        return [m for fields, ref in self.checks for m in values(event, fields, ref)]


def call(
    kind: str, event: str, status: str, previous: str | None, rule: rules.Rule, role: str = ""
) -> Expect:
    """A call event of the connection of type ``kind`` (§4.1) with the buttons ``rule`` gives
    its role (§4.2)."""
    role = role or {"agent": "agent", "inbound": "customer"}.get(kind, "customer")
    want = rule.of(role)
    fields: dict[str, Any] = {
        "message.call.ResponseActual.type": kind,
        "message.call.event": event,
        "message.call.ResponseActual.status": status,
        "message.call.ResponseActual.previousStatus": previous,
    }
    checks: list[tuple[dict[str, Any], str]] = [(fields, "§4.1 call event")]
    if want is not None:
        items = {f"message.call.ButtonStates.items.{b}": v
                 for b, v in rules.button_items(want).items()}  # fmt: skip
        checks.append((items, rule.name))
    return Expect(f"{kind} {event}", tuple(checks))


def third(event: str, status: str, previous: str | None, rule: rules.Rule) -> Expect:
    return call("outbound", event, status, previous, rule, role="third")


def agent(state: str, nxt: str | None = None, muted: bool = False) -> Expect:
    fields = {"subtopic": "SetAgentState", "message.event": state, "message.data.muted": muted}
    checks: list[tuple[dict[str, Any], str]] = [(fields, "§3.2 SetAgentState")]
    if nxt is not None:
        checks.append(({"message.data.nextState.label": nxt}, "§3.2 enqueued next state"))
    return Expect(f"SetAgentState {state}", tuple(checks))


def mute(state: str, muted: bool) -> Expect:
    fields = {"subtopic": "SetAgentState", "message.event": state, "message.data.muted": muted,
              "message.rules.ButtonStates.count": 2}  # fmt: skip
    return Expect(f"SetAgentState {state} muted={muted}", ((fields, "published Mute sample"),))


def ccp(state: str) -> Expect:
    return Expect(
        f"CcpAgentState {state}",
        (({"subtopic": "CcpAgentState", "message.name": state}, "§3.2 CcpAgentState"),),
    )


def changed(state: str) -> list[Expect]:
    """A change of the agent's state: SetAgentState, then CcpAgentState (§3.2)."""
    return [agent(state), ccp(state)]


def error(kind: str, code: str) -> Expect:
    fields = {"subtopic": "Error", "message.type": kind, "message.code": code}
    return Expect(f"Error {kind}", ((fields, f"§3/§5 {kind}"),))
