"""Names protocol.md revision 2 prescribes, written here once for the tests' oracles (never read
from the code under test)."""

from __future__ import annotations

# SetAgentState data.state by the state's type (§4.4): Ready, Not_Ready (the Connect state's name
# in reasonCode.id), Offline
PUBLISHED_STATE = {
    "routable": "Ready",
    "not_routable": "Not_Ready",
    "system": "Not_Ready",
    "error": "Not_Ready",
    "offline": "Offline",
}
# Simulator/OutboundResult of a dialled customer -> the agent error state it leaves (§3.3)
DIAL_ERROR_STATES = [
    ("busy", "LineEngagedCustomer"),
    ("noAnswer", "MissedCallCustomer"),
    ("failed", "FailedConnectCustomer"),
]
