"""A call button is Enable exactly when its verb, sent now, is accepted (docs/protocol.md §4.2).

Walks every situation (reached through the simulator), presses every one of the eleven buttons
on every connection of the contact - enabled or not - from a fresh copy of the situation, and
checks both directions: an Enable button's verb is carried out (neither the engine nor the
simulated Connect refuses it), a Hide button's verb is refused by the engine.  The buttons shown
must also be §4.2's rows, written independently in ``test_engine_machine.expected_buttons``:
changing one row of ``engine/tables.py`` fails this test (an enabled verb the backend refuses,
or a row that is no longer the published one).
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_driver import Driver
from test_engine_machine import expected_buttons
from test_every_pair import SITUATIONS as BASE
from test_every_pair import reach as reach_situation

from ctibridge.model import Connection, Contact
from ctibridge.protocol import CALL_BUTTONS

Step = tuple[str, str, Any]
TALK = BASE["two_party"]
CONSULT = BASE["consult_ringing"]
CONSULTED = BASE["consult"]
SITUATIONS: dict[str, list[Step]] = {
    **{k: v for k, v in BASE.items() if k not in ("idle", "logged_out")},
    "consult_ringing_live": [*CONSULT, ("InboundCall", "Resume", None)],
    "both_held": [*CONSULTED, ("InboundCall", "Hold", None)],
    "third_party_only_held": [*BASE["third_party_only"], ("InboundCall", "Hold", None)],
    "third_party_only_ringing": [*CONSULT, ("Simulator", "CustomerHangup", {})],
    "dialling_answered": [*BASE["dialling"], ("Simulator", "OutboundResult", {"result": "answer"})],
    "dial_failed": [*BASE["dialling"], ("Simulator", "OutboundResult", {"result": "busy"})],
}
LEG_VERBS = {"hold": "Hold", "resume": "Resume", "disconnect": "Disconnect"}
CONTACT_VERBS: dict[str, tuple[str, Any]] = {
    "answer": ("Answer", None),
    "reject": ("Reject", None),
    "clearContact": ("ClearContact", None),
    "consult": ("Consult", "+15559990000"),
    "numberpad": ("NumberPad", "1"),
    "swap": ("Swap", None),
    "conference": ("Conference", None),
    "transfer": ("Transfer", None),
}


def reach(name: str) -> Driver:
    d = reach_situation(name, SITUATIONS)
    d.take_finished()
    return d


def contact_of(d: Driver) -> Contact:
    contact = d.engine.session("agent1").snapshot.voice_contact
    assert contact is not None
    return contact


def shown(d: Driver, contact: Contact, conn: Connection) -> frozenset[str]:
    return d.engine.session("agent1").conn_views[(contact.contact_id, conn.connection_id)].buttons


def press(name: str, button: str, conn_index: int) -> tuple[bool, str]:
    """Press ``button`` of connection ``conn_index`` in a fresh copy of situation ``name``:
    (whether it is Enable, the command's outcome)."""
    d = reach(name)
    contact = contact_of(d)
    conn = contact.connections[conn_index]
    if button in LEG_VERBS:
        subtopic, data = LEG_VERBS[button], conn.connection_id
        if conn.role == "agent" or conn.connection_id == contact.contact_id:
            # the agent leg's id and the contactId mean "the usual leg": any leg's button
            legs = [c for c in contact.connections if c.role != "agent"]
            enable = any(button in shown(d, contact, c) for c in legs)
        else:
            enable = button in shown(d, contact, conn)
    else:
        subtopic, data = CONTACT_VERBS[button]
        if conn.role != "agent":
            return button in shown(d, contact, conn), "n/a"  # contact buttons: agent leg only
        enable = button in shown(d, contact, conn)
    d.send("agent1", "InboundCall", subtopic, data)
    outcomes = [f.outcome for f in d.take_finished() if f.login == "agent1"]
    return enable, outcomes[-1]


CASES = [
    (name, button, i)
    for name in sorted(SITUATIONS)
    for i in range(len(contact_of(reach(name)).connections))
    for button in CALL_BUTTONS
]


@pytest.mark.parametrize("name", sorted(SITUATIONS))
def test_buttons_shown_are_the_published_rows(name: str) -> None:
    d = reach(name)
    contact = contact_of(d)
    want = expected_buttons(contact)
    got = {c.connection_id: shown(d, contact, c) for c in contact.connections}
    assert got == want


@pytest.mark.parametrize(("name", "button", "index"), CASES)
def test_enable_iff_accepted(name: str, button: str, index: int) -> None:
    enable, outcome = press(name, button, index)
    if outcome == "n/a":
        assert not enable, f"{button} shown on a leg: it belongs to the agent connection"
    elif enable:
        assert outcome == "ok", f"{button} is Enable in {name} but the command was {outcome}"
    else:
        assert outcome == "refused", f"{button} is Hide in {name} but the command was {outcome}"
