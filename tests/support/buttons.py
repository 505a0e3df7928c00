"""The buttons as the tests know them, written out literally (never imported from the engine or
the protocol package): their names in the published samples' order, and docs/protocol.md §4.2 -
the enabled call buttons of each connection row (agent connection, customer leg, third-party
leg) in each situation, every other button "Hide".  One copy for the wire tests
(tests/e2e), the backend tests (support/steps.py) and the toolbar's (tests/browser)."""

from __future__ import annotations

# ButtonStates.items of a call event and of SetAgentState, in the published samples' order
CALL_BUTTONS = (
    "answer", "reject", "disconnect", "hold", "resume", "clearContact", "consult", "numberpad",
    "swap", "transfer", "conference",
)  # fmt: skip
AGENT_BUTTONS = ("NotReady", "Ready", "make_call", "mute", "unmute")

S = frozenset
NONE: frozenset[str] = S()

# situation -> role -> enabled buttons
SITUATIONS: dict[str, dict[str, frozenset[str]]] = {
    "ringing": {"agent": S({"answer", "reject"}), "customer": NONE},
    "2-party connected": {
        "agent": S({"consult", "numberpad"}),
        "customer": S({"disconnect", "hold"}),
    },
    "2-party held": {
        "agent": S({"consult"}),
        "customer": S({"disconnect", "resume"}),
    },
    "consult: third party connecting": {
        "agent": NONE,
        "customer": S({"disconnect", "resume"}),
        "third": S({"disconnect"}),
    },
    "consult: third party connected, customer held": {
        "agent": S({"swap", "conference", "transfer", "numberpad"}),
        "customer": S({"disconnect", "resume"}),
        "third": S({"disconnect", "hold"}),
    },
    "after swap": {
        "agent": S({"swap", "conference", "numberpad"}),
        "customer": S({"disconnect", "hold"}),
        "third": S({"disconnect", "resume"}),
    },
    "conference": {
        "agent": S({"transfer", "numberpad"}),
        "customer": S({"disconnect", "hold"}),
        "third": S({"disconnect", "hold"}),
    },
    "outbound dialling": {"agent": NONE, "customer": S({"disconnect"})},
    "ACW": {"agent": S({"clearContact"}), "customer": NONE, "third": NONE},
    "missed": {"agent": S({"clearContact"}), "customer": NONE},
    "rejected": {"agent": S({"clearContact"}), "customer": NONE},
    "after ClearContact": {"agent": NONE, "customer": NONE},
    # rows the engine adds (documented in engine/tables.py as deliberate additions)
    "both held": {
        "agent": NONE,
        "customer": S({"disconnect", "resume"}),
        "third": S({"disconnect", "resume"}),
    },
    "customer gone, third party connected": {
        "agent": S({"numberpad"}),
        "third": S({"disconnect", "hold"}),
    },
    "preview offered": {"agent": NONE},
}
