"""The engine's rules as literal tables (docs/protocol.md §4.1, §4.2, §3.3, §4.4).

Theory of operation: a contact's *situation* is looked up from the statuses of its customer and
third-party legs (``SITUATIONS``); the situation and a connection's role give that connection's
enabled call buttons (``ENABLED_CALL_BUTTONS``; ``protocol.CALL_BUTTONS`` is every button
name).  A connection's call event name comes from the contact's state and the connection's
status (``LIVE_EVENT`` / ``ENDED_EVENT``).  The agent's shown state while handling a contact is
a system state looked up in ``SYSTEM_STATE``.  Code looks these up;
it never re-derives them.

Deliberate deviations from / additions to protocol.md §4.2, each a row the published table lacks:

* ``preview`` — a campaign preview offered to the agent: no call buttons (it is accepted with
  ``OutboundCall/MakeCall`` or skipped with ``Skip``, which are not among the eleven buttons).
* ``both_held`` — the agent put customer and third party on hold: each leg can be resumed or
  disconnected; no contact-level button (swap needs one connected leg).
* ``third_party_only*`` — the customer hung up during a consult; the call goes on with the third
  party, whose leg keeps its own hold/resume/disconnect buttons and the agent keeps numberpad
  while connected.
* ``consult_ringing_live`` — the agent resumed the customer while the consulted party still
  rings: the customer leg can be held or disconnected again, the agent can send digits to it.

This table is also the precondition of every verb that has a button (§4.2, last paragraph):
``engine/commands.py`` refuses a verb exactly when its button is ``Hide`` on the connection it
would act on, so a button is ``Enable`` exactly when its verb is accepted.
"""

from __future__ import annotations

from typing import Literal

from ..model import AgentState, ConnectionRole, ConnectionStatus, ContactFailure, ContactState

Situation = Literal[
    "ringing",
    "preview",
    "dialling",
    "two_party",
    "two_party_held",
    "consult_ringing",
    "consult_ringing_live",
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
    ("connected", "connecting"): "consult_ringing_live",
    ("hold", "connecting"): "consult_ringing",
    ("hold", "connected"): "consult",
    ("connected", "hold"): "consult_swapped",
    ("connected", "connected"): "conference",
    ("hold", "hold"): "both_held",
    (None, "connected"): "third_party_only",
    (None, "hold"): "third_party_only_held",
    (None, "connecting"): "third_party_only_ringing",
}

# situation -> role -> enabled call buttons (every other button is "Hide").
ENABLED_CALL_BUTTONS: dict[Situation, dict[ConnectionRole, frozenset[str]]] = {
    "ringing": {"agent": frozenset({"answer", "reject"})},
    "preview": {},
    "dialling": {"customer": frozenset({"disconnect"})},
    # published Answer event and call StateSync: transfer is Hide on a two-party call (a blind
    # Transfer with a target is still accepted: it has no button of its own)
    "two_party": {
        "agent": frozenset({"consult", "numberpad"}),
        "customer": frozenset({"disconnect", "hold"}),
    },
    "two_party_held": {
        "agent": frozenset({"consult"}),
        "customer": frozenset({"disconnect", "resume"}),
    },
    "consult_ringing": {
        "customer": frozenset({"disconnect", "resume"}),
        "third_party": frozenset({"disconnect"}),
    },
    "consult_ringing_live": {
        "agent": frozenset({"numberpad"}),
        "customer": frozenset({"disconnect", "hold"}),
        "third_party": frozenset({"disconnect"}),
    },
    "consult": {
        "agent": frozenset({"swap", "conference", "transfer", "numberpad"}),
        "customer": frozenset({"disconnect", "resume"}),
        "third_party": frozenset({"disconnect", "hold"}),
    },
    "consult_swapped": {
        "agent": frozenset({"swap", "conference", "numberpad"}),
        "customer": frozenset({"disconnect", "hold"}),
        "third_party": frozenset({"disconnect", "resume"}),
    },
    "conference": {
        "agent": frozenset({"transfer", "numberpad"}),
        "customer": frozenset({"disconnect", "hold"}),
        "third_party": frozenset({"disconnect", "hold"}),
    },
    "both_held": {
        "customer": frozenset({"disconnect", "resume"}),
        "third_party": frozenset({"disconnect", "resume"}),
    },
    "third_party_only": {
        "agent": frozenset({"numberpad"}),
        "third_party": frozenset({"disconnect", "hold"}),
    },
    "third_party_only_held": {"third_party": frozenset({"disconnect", "resume"})},
    "third_party_only_ringing": {"third_party": frozenset({"disconnect"})},
    "ended": {"agent": frozenset({"clearContact"})},
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
    # a failed dial is a "missed-like end" (§3.1 MakeCall); outbound contacts rename it ACW
    "error": "missed",
}

# Outbound contacts (§4.1): the published campaign events replace the connection's event name.
# (event name as above, connection role) -> campaign event; a pair not listed keeps its name.
CAMPAIGN_EVENT: dict[tuple[str, ConnectionRole], str] = {
    ("connecting", "agent"): "Initiate",
    ("connecting", "customer"): "Initiate",
    ("connected", "agent"): "CustAnswered",
    ("connected", "customer"): "CustAnswered",
    ("hold", "customer"): "Hold",
    ("hold", "agent"): "Hold",
    ("connecting", "third_party"): "Consult",
    ("connected", "third_party"): "Consult",
    ("hold", "third_party"): "Hold",
    ("missed", "agent"): "ACW",
    ("rejected", "agent"): "ACW",
}
# situation -> the campaign event every live connection of an outbound contact shows in it, where
# the situation names it better than the connection's own status does
CAMPAIGN_SITUATION_EVENT: dict[Situation, str] = {
    "preview": "Preview",
    "conference": "Conference",
    "consult_swapped": "Swapped",
}
DROPPED = "DROPPED"


def _system(name: str) -> AgentState:
    return AgentState(label=name, code=name, type="system")


def _error(name: str) -> AgentState:
    return AgentState(label=name, code=name, type="error")


# The agent's shown state while handling a contact (§3.3), by what the contact is doing; after a
# failure it is one of Amazon Connect's agent error states (type error).
SystemCase = Literal[
    "ringing", "dialling", "talking", "acw", "missed", "busy", "no_answer", "failed"
]
SYSTEM_STATE: dict[SystemCase, AgentState] = {
    "ringing": _system("PendingBusy"),
    "dialling": _system("CallingCustomer"),
    "talking": _system("Busy"),
    "acw": _system("AfterCallWork"),
    "missed": _error("MissedCallAgent"),
    "busy": _error("LineEngagedCustomer"),
    "no_answer": _error("MissedCallCustomer"),
    "failed": _error("FailedConnectCustomer"),
}
SYSTEM_CASE_OF_END: dict[ContactState, SystemCase] = {
    "acw": "acw",
    "error": "failed",  # refined by the contact's failure (SYSTEM_CASE_OF_FAILURE)
    "missed": "missed",
    "rejected": "missed",
}
SYSTEM_CASE_OF_FAILURE: dict[ContactFailure, SystemCase] = {
    "busy": "busy",
    "no_answer": "no_answer",
    "failed": "failed",
}

# Agent buttons (§4.4, as the published samples show them): each button is enabled when every
# listed condition holds.  ``not_routable`` is about the state the agent shows (a system or error
# state is not routable).  Deviation kept from the samples: ``mute`` is Enable on an idle agent
# (Get Agent States, Set Not Ready, LogoutSuccess samples) although Mute needs a connected call.
AgentCondition = Literal["logged_in", "not_routable", "no_live_contact", "muted", "unmuted"]
AGENT_BUTTON_NEEDS: dict[str, frozenset[AgentCondition]] = {
    "NotReady": frozenset({"logged_in"}),
    "Ready": frozenset({"logged_in", "not_routable"}),
    "make_call": frozenset({"logged_in", "no_live_contact"}),
    "mute": frozenset({"logged_in", "unmuted"}),
    "unmute": frozenset({"logged_in", "muted"}),
}
# the buttons a Mute / Unmute event carries (the published Mute sample: count 2)
MUTE_BUTTONS: tuple[str, ...] = ("mute", "unmute")
