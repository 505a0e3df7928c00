"""docs/protocol.md revision 2 rules, written here from the document and the published samples
(never read from the engine: this is the oracle a hub is checked against).

* §4.2 call buttons: the situation a contact is in, from its legs' statuses, and the buttons each
  connection shows in it (``CALL_RULES``; the published Answer sample and call StateSync say the
  two-party rows).
* §4.4 agent buttons (``agent_buttons``).
* ``CallModel``: the calls a stream of events implies, so every call event can be checked against
  the situation it describes (watch mode and every scenario step), with each leg's role by the
  §4.1 connection-role rule (``role_of``); a contact seen from its start whose first non-agent
  leg is not named by the contactId breaks that rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .diff import Message, Mismatch, values

BUTTONS = (
    "answer", "reject", "disconnect", "hold", "resume", "clearContact", "consult", "numberpad",
    "swap", "transfer", "conference",
)  # fmt: skip
AGENT_BUTTONS = ("NotReady", "Ready", "make_call", "mute", "unmute")


@dataclass(frozen=True)
class Rule:
    """One row of §4.2: the enabled buttons of each role (None: the row says nothing)."""

    name: str
    agent: frozenset[str] | None
    customer: frozenset[str] | None = frozenset()
    third: frozenset[str] | None = frozenset()

    def of(self, role: str) -> frozenset[str] | None:
        return {"agent": self.agent, "customer": self.customer, "third": self.third}[role]


F = frozenset[str]()
# (customer status, third-party status) of a live contact whose agent leg is connected -> row;
# None: no such leg (or it is disconnected)
CALL_RULES: dict[tuple[str | None, str | None], Rule] = {
    ("connected", None): Rule(
        "published Answer sample",
        frozenset({"consult", "numberpad"}),
        frozenset({"disconnect", "hold"}),
    ),
    ("hold", None): Rule(
        "§4.2 2-party, customer hold", frozenset({"consult"}), frozenset({"disconnect", "resume"})
    ),
    ("connecting", None): Rule("§4.2 outbound dialling", F, frozenset({"disconnect"})),
    ("hold", "connecting"): Rule(
        "§4.2 consult: third party connecting",
        F,
        frozenset({"disconnect", "resume"}),
        frozenset({"disconnect"}),
    ),
    ("hold", "connected"): Rule(
        "§4.2 consult: third party connected, customer hold",
        frozenset({"swap", "conference", "transfer", "numberpad"}),
        frozenset({"disconnect", "resume"}),
        frozenset({"disconnect", "hold"}),
    ),
    ("connected", "hold"): Rule(
        "§4.2 consult: customer connected, third party hold (after swap)",
        frozenset({"swap", "conference", "numberpad"}),
        frozenset({"disconnect", "hold"}),
        frozenset({"disconnect", "resume"}),
    ),
    ("connected", "connected"): Rule(
        "§4.2 conference",
        frozenset({"transfer", "numberpad"}),
        frozenset({"disconnect", "hold"}),
        frozenset({"disconnect", "hold"}),
    ),
    # the rows §4.2 adds where the published table is silent
    ("hold", "hold"): Rule(
        "§4.2 customer and third party both on hold",
        None,
        frozenset({"disconnect", "resume"}),
        frozenset({"disconnect", "resume"}),
    ),
    ("connected", "connecting"): Rule(
        "§4.2 customer resumed while the consulted party rings",
        frozenset({"numberpad"}),
        frozenset({"disconnect", "hold"}),
        frozenset({"disconnect"}),
    ),
    (None, "connected"): Rule(
        "§4.2 customer hung up during a consult",
        frozenset({"numberpad"}),
        F,
        frozenset({"disconnect", "hold"}),
    ),
    (None, "hold"): Rule(
        "§4.2 customer hung up during a consult", F, F, frozenset({"disconnect", "resume"})
    ),
    (None, "connecting"): Rule(
        "§4.2 customer hung up during a consult", F, F, frozenset({"disconnect"})
    ),
}
RINGING = Rule("published incoming call sample (§4.2 ringing)", frozenset({"answer", "reject"}))
DIALLING = CALL_RULES[("connecting", None)]
ENDED = Rule("§4.2 ACW, missed, rejected, error", frozenset({"clearContact"}))
GONE = Rule("published ClearContact sample (§4.2 after ClearContact)", F)
PREVIEW = Rule("§4.2 campaign preview offered", F)
NO_RULE = Rule("§4.2", None, None, None)


def button_items(enabled: Iterable[str]) -> dict[str, str]:
    on = set(enabled)
    return {b: "Enable" if b in on else "Hide" for b in BUTTONS}


@dataclass
class Leg:
    connection_id: str
    role: str  # agent, customer, third
    status: str
    event: str


@dataclass
class Contact:
    contact_id: str
    legs: dict[str, Leg] = field(default_factory=dict)

    def leg(self, role: str) -> Leg | None:
        return next((g for g in self.legs.values() if g.role == role), None)

    def rule(self) -> Rule:
        agent = self.leg("agent")
        if agent is None:
            return NO_RULE
        live = [g for g in self.legs.values() if g.status != "disconnected"]
        customer = next((g.status for g in live if g.role == "customer"), None)
        third = next((g.status for g in live if g.role == "third"), None)
        if agent.status == "disconnected":
            return GONE if agent.event == "DROPPED" else ENDED
        if agent.event == "Preview":
            return PREVIEW
        if agent.status == "connecting":
            return DIALLING if customer == "connecting" else RINGING
        return CALL_RULES.get((customer, third), NO_RULE)

    def expected(self, leg: Leg) -> tuple[frozenset[str] | None, str]:
        if leg.status == "disconnected" and leg.role != "agent":
            return F, "§4.2 a leg disconnected"
        rule = self.rule()
        return rule.of(leg.role), rule.name


def role_of(contact_id: str, connection_id: str, type_: str) -> str:
    """Connection roles (docs/protocol.md §4.1): the ``agent`` leg by its type, the customer leg
    by its connectionId, which is the contactId (as in the published samples), and every other
    leg a third party."""
    if type_ == "agent":
        return "agent"
    return "customer" if connection_id == contact_id else "third"


ROLE_RULE = "§4.1 connection roles: the customer leg's connectionId is the contactId"


class CallModel:
    """The contacts a stream of events implies (legs by connectionId, roles by ``role_of``)."""

    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        # contacts whose first event this model saw ringing or dialling: the first non-agent leg
        # of such a contact is its customer (third parties join later)
        self.from_start: set[str] = set()

    def apply(self, event: Message) -> tuple[Contact, Leg, list[Mismatch]]:
        actual = event["message"]["call"]["ResponseActual"]
        contact_id = actual["contactId"]
        found: list[Mismatch] = []
        if contact_id not in self.contacts and actual["status"] == "connecting":
            self.from_start.add(contact_id)
        contact = self.contacts.setdefault(contact_id, Contact(contact_id))
        cid = actual["connectionId"]
        leg = contact.legs.get(cid)
        if leg is None:
            role = role_of(contact_id, cid, actual["type"])
            first = role != "agent" and not any(g.role != "agent" for g in contact.legs.values())
            if role == "third" and first and contact_id in self.from_start:
                path = "message.call.ResponseActual.connectionId"
                found.append(Mismatch(path, contact_id, cid, ROLE_RULE))
            leg = contact.legs[cid] = Leg(cid, role, actual["status"], "")
        leg.status = actual["status"]
        leg.event = event["message"]["call"]["event"]
        return contact, leg, found

    def load_sync(self, answer: Message) -> None:
        """A call StateSync answer (§4.3) replaces what is known."""
        self.contacts.clear()
        self.from_start.clear()
        for call in answer["message"].get("calls") or []:
            contact = self.contacts.setdefault(call["contactId"], Contact(call["contactId"]))
            role = role_of(call["contactId"], call["connectionId"], call["type"])
            contact.legs[call["connectionId"]] = Leg(
                call["connectionId"], role, call["status"], call["status"]
            )

    def check_batch(self, events: list[Message]) -> list[tuple[Message, Mismatch]]:
        """Apply a batch of call events (those one change caused), then check each one's buttons
        against the situation the whole batch leaves its contact in."""
        applied = [(e, *self.apply(e)) for e in events]
        out = [(event, m) for event, _, _, found in applied for m in found]
        for event, contact, leg, _ in applied:
            want, rule = contact.expected(leg)
            if want is None:
                continue
            items = {f"message.call.ButtonStates.items.{b}": v
                     for b, v in button_items(want).items()}  # fmt: skip
            flags = {f"message.call.ResponseActual.buttonStates.{b}": b in want for b in BUTTONS}
            out += [(event, m) for m in values(event, items | flags, rule)]
        for _event, contact, leg, _ in applied:
            if leg.role == "agent" and leg.event == "DROPPED":
                self.contacts.pop(contact.contact_id, None)
                self.from_start.discard(contact.contact_id)
        return out

    def on_voice_contact(self) -> bool:
        """A live call (an ended contact in ACW is not one: §3.1 MakeCall's precondition is
        "not on a voice contact", and the agent can place a call from ACW)."""
        return any(
            (a := c.leg("agent")) is not None and a.status != "disconnected"
            for c in self.contacts.values()
        )


def agent_buttons(state_type: str, muted: bool, on_contact: bool) -> dict[str, str]:
    """§4.4: NotReady whenever logged in; Ready when not routable; make_call when not on a voice
    contact; mute when not muted, unmute when muted."""
    enabled = {
        "NotReady": True,
        "Ready": state_type.lower().replace(" ", "_") != "routable",
        "make_call": not on_contact,
        "mute": not muted,
        "unmute": muted,
    }
    return {b: "Enable" if on else "Hide" for b, on in enabled.items()}


def check_agent_event(event: Message, on_contact: bool | None) -> list[Mismatch]:
    """A SetAgentState event's buttons, data.state and names (§4.4; published SetAgentState,
    Mute and Get Agent States samples)."""
    message = event["message"]
    rules: Any = message.get("rules") or {}
    data = message.get("data") or {}
    actual = rules.get("ResponseActual") or {}
    kind = str(actual.get("type", "")).lower().replace(" ", "_")
    want: dict[str, Any] = {"message.event": actual.get("name")}
    state = STATE_BY_TYPE.get(kind)
    if state is not None:
        want["message.data.state"] = state
        if state == "Not_Ready":
            want["message.data.reasonCode.id"] = actual.get("name")
    out = values(event, want, "§4.4 SetAgentState data.state, event and reasonCode")
    buttons = agent_buttons(kind, bool(data.get("muted")), bool(on_contact))
    items = rules.get("ButtonStates", {}).get("items", {})
    if set(items) == {"mute", "unmute"}:
        expect: dict[str, Any] = {
            f"message.rules.ButtonStates.items.{b}": buttons[b] for b in ("mute", "unmute")
        }
        expect["message.rules.ButtonStates.count"] = 2
        return out + values(event, expect, "published Mute sample (§4.4)")
    if on_contact is None:  # the stream has not said whether the agent is on a contact
        buttons.pop("make_call")
    expect = {f"message.rules.ButtonStates.items.{b}": v for b, v in buttons.items()}
    expect["message.rules.ButtonStates.count"] = 5  # the published samples' five buttons
    return out + values(event, expect, "§4.4 agent buttons (published Get Agent States sample)")


STATE_BY_TYPE = {
    "routable": "Ready",
    "not_routable": "Not_Ready",
    "system": "Not_Ready",
    "error": "Not_Ready",
    "offline": "Offline",
}
