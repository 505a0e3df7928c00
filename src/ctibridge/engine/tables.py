"""The engine's rules as literal tables (PROTOCOL.md §4.1, §4.2, §3.3, §4.4).

Theory of operation: a contact's *situation* is looked up from the statuses of its customer and
third-party legs (``SITUATIONS``); the situation and a connection's role give that connection's
enabled call buttons (``CALL_BUTTONS``).  A connection's call event name comes from the contact's
state and the connection's status (``LIVE_EVENT`` / ``ENDED_EVENT``).  The agent's shown state
while handling a contact is a system state looked up in ``SYSTEM_STATE``.  Code looks these up;
it never re-derives them.

Deliberate deviations from / additions to PROTOCOL.md §4.2, each a row the published table lacks:

* ``preview`` — a campaign preview offered to the agent: no call buttons (it is accepted with
  ``OutboundCall/MakeCall`` or skipped with ``Skip``, which are not among the eleven buttons).
* ``both_held`` — the agent put customer and third party on hold: each leg can be resumed or
  disconnected; no contact-level button (swap needs one connected leg).
* ``third_party_only*`` — the customer hung up during a consult; the call goes on with the third
  party, whose leg keeps its own hold/resume/disconnect buttons and the agent keeps numberpad
  while connected.
"""

from __future__ import annotations

from typing import Literal

from ..model import AgentState, ConnectionRole, ConnectionStatus, ContactState

Situation = Literal[
    "ringing",
    "preview",
    "dialling",
    "two_party",
    "two_party_held",
    "consult_ringing",
    "consult",
    "consult_swapped",
    "conference",
    "both_held",
    "third_party_only",
    "third_party_only_held",
    "third_party_only_ringing",
    "ended",
    "idle",
]

Leg = ConnectionStatus | None  # None: the contact has no such leg

# (customer leg status, third-party leg status) -> situation, for a live contact whose agent leg
# is connected (ringing, preview and dialling are decided before this lookup, see situation()).
SITUATIONS: dict[tuple[Leg, Leg], Situation] = {
    ("connected", None): "two_party",
    ("hold", None): "two_party_held",
    ("connected", "connecting"): "consult_ringing",
    ("hold", "connecting"): "consult_ringing",
    ("hold", "connected"): "consult",
    ("connected", "hold"): "consult_swapped",
    ("connected", "connected"): "conference",
    ("hold", "hold"): "both_held",
    (None, "connected"): "third_party_only",
    (None, "hold"): "third_party_only_held",
    (None, "connecting"): "third_party_only_ringing",
}

_ = frozenset
# situation -> role -> enabled call buttons (every other button is "Hide").
CALL_BUTTONS: dict[Situation, dict[ConnectionRole, frozenset[str]]] = {
    "ringing": {"agent": _({"answer", "reject"})},
    "preview": {},
    "dialling": {"customer": _({"disconnect"})},
    "two_party": {
        "agent": _({"consult", "numberpad", "transfer"}),
        "customer": _({"disconnect", "hold"}),
    },
    "two_party_held": {
        "agent": _({"consult", "transfer"}),
        "customer": _({"disconnect", "resume"}),
    },
    "consult_ringing": {
        "customer": _({"disconnect", "resume"}),
        "third_party": _({"disconnect"}),
    },
    "consult": {
        "agent": _({"swap", "conference", "transfer", "numberpad"}),
        "customer": _({"disconnect", "resume"}),
        "third_party": _({"disconnect", "hold"}),
    },
    "consult_swapped": {
        "agent": _({"swap", "conference", "numberpad"}),
        "customer": _({"disconnect", "hold"}),
        "third_party": _({"disconnect", "resume"}),
    },
    "conference": {
        "agent": _({"transfer", "numberpad"}),
        "customer": _({"disconnect", "hold"}),
        "third_party": _({"disconnect", "hold"}),
    },
    "both_held": {
        "customer": _({"disconnect", "resume"}),
        "third_party": _({"disconnect", "resume"}),
    },
    "third_party_only": {"agent": _({"numberpad"}), "third_party": _({"disconnect", "hold"})},
    "third_party_only_held": {"third_party": _({"disconnect", "resume"})},
    "third_party_only_ringing": {"third_party": _({"disconnect"})},
    "ended": {"agent": _({"clearContact"})},
    "idle": {},
}

# Call event names (§4.1): a live contact names a connection by its status; an ended contact
# names the agent leg by the contact's end state and every other leg DROPPED.  A connection that
# disappears from the snapshot is DROPPED.
LIVE_EVENT: dict[ConnectionStatus, str] = {
    "connecting": "connecting",
    "connected": "connected",
    "hold": "hold",
    "disconnected": "DROPPED",
}
ENDED_EVENT: dict[ContactState, str] = {
    "acw": "ACW",
    "missed": "missed",
    "rejected": "rejected",
    "error": "error",
}
DROPPED = "DROPPED"


def _system(name: str) -> AgentState:
    return AgentState(label=name, code=name, type="system")


# The agent's shown state while handling a contact (§3.3), by what the contact is doing.
SystemCase = Literal["ringing", "dialling", "talking", "acw", "missed"]
SYSTEM_STATE: dict[SystemCase, AgentState] = {
    "ringing": _system("PendingBusy"),
    "dialling": _system("CallingCustomer"),
    "talking": _system("Busy"),
    "acw": _system("AfterCallWork"),
    "missed": _system("MissedCallAgent"),
}
SYSTEM_CASE_OF_END: dict[ContactState, SystemCase] = {
    "acw": "acw",
    "error": "acw",
    "missed": "missed",
    "rejected": "missed",
}

# Agent buttons (§4.4): each button is enabled when every listed condition holds.
AgentCondition = Literal[
    "logged_in", "routable", "not_routable", "no_contact", "no_live_contact", "not_offline",
    "on_connected_call", "muted", "unmuted",
]  # fmt: skip
AGENT_BUTTONS: dict[str, frozenset[AgentCondition]] = {
    "Ready": frozenset({"logged_in", "not_routable", "no_contact"}),
    "NotReady": frozenset({"logged_in", "routable"}),
    "make_call": frozenset({"logged_in", "not_offline", "no_live_contact"}),
    "mute": frozenset({"on_connected_call", "unmuted"}),
    "unmute": frozenset({"on_connected_call", "muted"}),
}
