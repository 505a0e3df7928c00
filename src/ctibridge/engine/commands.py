"""Command preconditions (docs/protocol.md §3): each subtopic's planner turns a request into the one
backend action that carries it out, or refuses it with the reason as the failure's ``code``.

Planners are pure: they read the agent's snapshot and directory and the typed request data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

import msgspec

from .. import actions as act
from ..errors import RequestError
from ..model import AgentSnapshot, Connection, Contact, Directory
from ..protocol.registry import REGISTRY
from ..protocol.requests import (
    Digits,
    MakeCallData,
    OptionalId,
    QueueTransferData,
    RequestData,
    StateRef,
    Target,
)
from ..protocol.shapes import PHONE_PATTERN
from .views import connection_buttons, on_connected_call, situation


class Refused(RequestError):
    """A precondition does not hold; ``code`` says which (sent as the failure's ``code``, with
    the subtopic's failure type)."""


class Context(msgspec.Struct, frozen=True):
    snapshot: AgentSnapshot
    directory: Directory
    topic: str


Planner = Callable[[Context, RequestData], act.Action]
D = TypeVar("D")
PHONE = re.compile(PHONE_PATTERN)


def _data(data: RequestData, kind: type[D]) -> D:
    if not isinstance(data, kind):  # the decoder guarantees this; a mismatch is our bug
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


def _logged_in(ctx: Context) -> AgentSnapshot:
    if not ctx.snapshot.logged_in:
        raise Refused("agent is logged out")
    return ctx.snapshot


def _live_contact(ctx: Context) -> Contact:
    contact = _logged_in(ctx).voice_contact
    if contact is None:
        raise Refused("no call")
    if contact.ended:
        raise Refused(f"the call has ended ({contact.state})")
    return contact


def _enabled(contact: Contact, leg: Connection | None, button: str) -> bool:
    """Whether ``button`` is Enable on ``leg`` (the §4.2 table: one statement of what is legal)."""
    return leg is not None and button in connection_buttons(contact, leg, situation(contact))


def _require(contact: Contact, leg: Connection | None, button: str) -> Connection:
    """``leg`` when its ``button`` is Enable, else the refusal naming the button and situation."""
    if leg is None or not _enabled(contact, leg, button):
        where = "the call" if leg is None else f"the {leg.role.replace('_', '-')} connection"
        raise Refused(f"{button} is not enabled on {where} ({situation(contact)})")
    return leg


def _contact_button(ctx: Context, button: str) -> Contact:
    """The live voice contact, when its contact-level ``button`` (agent connection) is Enable."""
    contact = _live_contact(ctx)
    _require(contact, contact.agent_leg, button)
    return contact


def _other_legs(contact: Contact) -> list[Connection]:
    return [c for c in (contact.customer_leg, contact.third_party_leg) if c is not None]


def _named_leg(contact: Contact, wanted: str | None, button: str) -> Connection | None:
    """The leg an id in ``data`` picks (§3.1 "Ids in data"): a customer or third-party leg's
    id picks that leg (its ``button`` must be Enable); no id, the contactId or the agent leg's
    id mean "the leg the verb normally acts on" - None here.  The customer leg's id may equal
    the contactId (it does in the published samples): it then means the usual leg too."""
    if wanted is None or wanted == contact.contact_id:
        return None
    leg = contact.connection(wanted)
    if leg is None:
        raise Refused(f"unknown id {wanted}: not the contactId or a connectionId of the call")
    if leg.role == "agent":
        return None
    return _require(contact, leg, button)


def _usual_leg(contact: Contact, button: str) -> Connection:
    """The leg a verb acts on by default: the customer leg if its ``button`` is Enable, else the
    third party's (in a consult the active leg is the one whose hold/resume is Enable)."""
    for leg in _other_legs(contact):
        if _enabled(contact, leg, button):
            return leg
    return _require(contact, None, button)


def _leg_for(ctx: Context, data: RequestData, button: str) -> tuple[Contact, Connection]:
    contact = _live_contact(ctx)
    wanted = _data(data, OptionalId).id
    leg = _named_leg(contact, wanted, button)
    return contact, leg if leg is not None else _usual_leg(contact, button)


def _connected_customer(contact: Contact) -> Connection:
    customer = contact.customer_leg
    if customer is None or customer.status != "connected":
        raise Refused("the customer leg is not connected")
    return customer


def _endpoint(ctx: Context, target: act.Endpoint, *, phone_only: bool = False) -> act.Endpoint:
    """Resolve a target against the directory; a bare name may be an agent or a quick connect."""
    if target.kind == "phone":
        if not PHONE.match(target.value):
            raise Refused(f"not a phone number: {target.value}")
        return target
    if phone_only:
        raise Refused(f"not a phone number: {target.value}")
    d = ctx.directory
    if target.kind == "queue":
        if target.value not in d.queues:
            raise Refused(f"unknown queue: {target.value}")
        return target
    if target.kind == "agent" and target.value in d.agents:
        return target
    if target.value in d.quick_connects:
        return act.Endpoint(kind="quick_connect", value=target.value)
    raise Refused(f"unknown {target.kind.replace('_', ' ')}: {target.value}")


# --- call control ---------------------------------------------------------------------------
# A verb with a button is refused exactly when that button is Hide on the connection it acts on
# (_require); the planners add only what the table cannot say (targets, which leg).


def answer(ctx: Context, data: RequestData) -> act.Action:
    return act.Accept(contact_id=_contact_button(ctx, "answer").contact_id)


def accept_warm_transfer(ctx: Context, data: RequestData) -> act.Action:
    contact = _contact_button(ctx, "answer")
    if contact.kind != "transfer":
        raise Refused("the ringing call is not a transfer")
    return act.Accept(contact_id=contact.contact_id)


def reject(ctx: Context, data: RequestData) -> act.Action:
    return act.Reject(contact_id=_contact_button(ctx, "reject").contact_id)


def hold(ctx: Context, data: RequestData) -> act.Action:
    contact, leg = _leg_for(ctx, data, "hold")
    return act.Hold(contact_id=contact.contact_id, connection_id=leg.connection_id)


def resume(ctx: Context, data: RequestData) -> act.Action:
    contact, leg = _leg_for(ctx, data, "resume")
    return act.Resume(contact_id=contact.contact_id, connection_id=leg.connection_id)


def disconnect(ctx: Context, data: RequestData) -> act.Action:
    contact = _live_contact(ctx)
    leg = _named_leg(contact, _data(data, OptionalId).id, "disconnect")
    if leg is None:
        # the call ends for the agent: the agent leaves (a consulted agent keeps the customer)
        _usual_leg(contact, "disconnect")
        leg = contact.agent_leg
        assert leg is not None  # a leg with disconnect Enable means the agent is on the call
    return act.Hangup(contact_id=contact.contact_id, connection_id=leg.connection_id)


def clear_contact(ctx: Context, data: RequestData) -> act.Action:
    snapshot = _logged_in(ctx)
    wanted = _data(data, OptionalId).id
    if wanted is not None:
        contact = snapshot.contact(wanted)
        if contact is None:
            raise Refused(f"unknown contactId {wanted}")
    else:
        found = next((c for c in snapshot.contacts if c.ended), None)
        if found is None:
            raise Refused("no contact in ACW, missed or rejected to clear")
        contact = found
    _require(contact, contact.agent_leg, "clearContact")
    return act.Clear(contact_id=contact.contact_id)


def consult(ctx: Context, data: RequestData) -> act.Action:
    target = _data(data, Target).endpoint
    contact = _contact_button(ctx, "consult")
    if target is None:
        raise Refused("no consult target")
    return act.AddParty(contact_id=contact.contact_id, endpoint=_endpoint(ctx, target))


def external_consult(ctx: Context, data: RequestData) -> act.Action:
    target = _data(data, Target).endpoint
    contact = _contact_button(ctx, "consult")
    if target is None:
        raise Refused("no phone number")
    return act.AddParty(
        contact_id=contact.contact_id, endpoint=_endpoint(ctx, target, phone_only=True)
    )


def swap(ctx: Context, data: RequestData) -> act.Action:
    return act.Swap(contact_id=_contact_button(ctx, "swap").contact_id)


def conference(ctx: Context, data: RequestData) -> act.Action:
    return act.Conference(contact_id=_contact_button(ctx, "conference").contact_id)


def _blind_transferable(ctx: Context) -> Contact:
    """A two-party call with the customer connected: it can be sent to a target."""
    contact = _live_contact(ctx)
    _connected_customer(contact)
    if contact.third_party_leg is not None:
        raise Refused("a third party is on the call (transfer without a target)")
    return contact


def transfer(ctx: Context, data: RequestData) -> act.Action:
    target = _data(data, Target).endpoint
    if target is not None:  # blind: no button of its own (§4.2)
        contact = _blind_transferable(ctx)
        return act.Transfer(contact_id=contact.contact_id, endpoint=_endpoint(ctx, target))
    return act.Transfer(contact_id=_contact_button(ctx, "transfer").contact_id)


def queue_transfer(ctx: Context, data: RequestData) -> act.Action:
    qt = _data(data, QueueTransferData)
    _live_contact(ctx)
    endpoint = _endpoint(ctx, act.Endpoint(kind="queue", value=qt.queue_name))
    if qt.warm:  # as Consult, to the queue
        contact = _contact_button(ctx, "consult")
        return act.AddParty(contact_id=contact.contact_id, endpoint=endpoint)
    contact = _blind_transferable(ctx)
    return act.Transfer(contact_id=contact.contact_id, endpoint=endpoint)


def number_pad(ctx: Context, data: RequestData) -> act.Action:
    digits = _data(data, Digits).digits
    contact = _contact_button(ctx, "numberpad")
    # the active leg: the connected third party while consulting, else the connected customer
    third, customer = contact.third_party_leg, contact.customer_leg
    legs = [c for c in (third, customer) if c is not None and c.status == "connected"]
    if not legs:
        raise Refused("no connected leg")
    return act.SendDigits(
        contact_id=contact.contact_id, connection_id=legs[0].connection_id, digits=digits
    )


def consult_drop(ctx: Context, data: RequestData) -> act.Action:
    contact = _live_contact(ctx)
    third = contact.third_party_leg
    if third is None:
        raise Refused("no third party")
    return act.Hangup(contact_id=contact.contact_id, connection_id=third.connection_id)


def _preview(ctx: Context) -> Contact | None:
    return next((c for c in _logged_in(ctx).contacts if situation(c) == "preview"), None)


def skip(ctx: Context, data: RequestData) -> act.Action:
    contact = _preview(ctx)
    if contact is None:
        raise Refused("no preview contact offered")
    return act.SkipPreview(contact_id=contact.contact_id)


def make_call(ctx: Context, data: RequestData) -> act.Action:
    call = _data(data, MakeCallData)
    snapshot = _logged_in(ctx)
    if call.phone_number is None:
        preview = _preview(ctx)
        if preview is None:
            raise Refused("no phone number and no preview contact offered")
        return act.AcceptPreview(contact_id=preview.contact_id)
    # an Offline agent may dial (Amazon Connect allows it); a logged-out one may not
    if any(not c.ended for c in snapshot.contacts):
        raise Refused("the agent is on a call")
    if call.queue is not None and call.queue not in ctx.directory.queues:
        raise Refused(f"unknown queue: {call.queue}")
    endpoint = _endpoint(ctx, act.Endpoint(kind="phone", value=call.phone_number))
    if ctx.topic == "OutboundCall":
        return act.Dial(endpoint=endpoint, topic="OutboundCall", queue=call.queue)
    return act.Dial(endpoint=endpoint, topic="InboundCall", queue=call.queue)


# --- agent ----------------------------------------------------------------------------------


class StateNotFound(Refused):
    """UpdateState named no state of the agent: AGENT_STATE_NOT_FOUND, not the generic failure."""

    error_type = "AGENT_STATE_NOT_FOUND"


def update_state(ctx: Context, data: RequestData) -> act.Action:
    ref = _data(data, StateRef)
    _logged_in(ctx)
    state = ctx.directory.find_state(ref.label, ref.code)
    if state is None:
        names = ", ".join(s.label for s in ctx.directory.states)
        raise StateNotFound(f"no state {ref.label or ref.code!s}: expected one of {names}")
    return act.SetState(state=state)


def set_not_ready(ctx: Context, data: RequestData) -> act.Action:
    action = update_state(ctx, data)
    assert isinstance(action, act.SetState)
    if action.state.type != "not_routable":
        raise Refused(f"{action.state.label} is not a not-ready state")
    return action


def mute(ctx: Context, data: RequestData) -> act.Action:
    if not on_connected_call(_logged_in(ctx)):
        raise Refused("not on a connected call")
    return act.SetMute(muted=True)


def unmute(ctx: Context, data: RequestData) -> act.Action:
    if not on_connected_call(_logged_in(ctx)):
        raise Refused("not on a connected call")
    return act.SetMute(muted=False)


def login(ctx: Context, data: RequestData) -> act.Action:
    if ctx.snapshot.logged_in:
        raise Refused("already logged in")
    return act.Login()


def logout(ctx: Context, data: RequestData) -> act.Action:
    snapshot = _logged_in(ctx)
    if snapshot.contacts:
        raise Refused("the agent is on a contact")
    return act.Logout()


# canonical subtopic -> planner; call subtopics apply under InboundCall and OutboundCall alike.
CALL_PLANNERS: dict[str, Planner] = {
    "Answer": answer,
    "AcceptWarmTransfer": accept_warm_transfer,
    "Reject": reject,
    "Hold": hold,
    "Resume": resume,
    "Disconnect": disconnect,
    "ClearContact": clear_contact,
    "Consult": consult,
    "ExternalConsult": external_consult,
    "Swap": swap,
    "Conference": conference,
    "Transfer": transfer,
    "QueueTransfer": queue_transfer,
    "NumberPad": number_pad,
    "ConsultDrop": consult_drop,
    "Skip": skip,
    "MakeCall": make_call,
}
AGENT_PLANNERS: dict[str, Planner] = {
    "UpdateState": update_state,
    "SetNotReady": set_not_ready,
    "Mute": mute,
    "Unmute": unmute,
    "Login": login,
    "Logout": logout,
}

# every command row of the subtopic registry has its planner here, and only those (checked
# once, at import: a registry row without a planner is a bug, not a runtime refusal)
_COMMANDS = {row.name for row in REGISTRY if row.kind == "command"}
_PLANNED = set(CALL_PLANNERS) | set(AGENT_PLANNERS)
if _PLANNED != _COMMANDS:
    raise RuntimeError(f"planners and the subtopic registry differ: {_PLANNED ^ _COMMANDS}")
