"""Model values -> wire events and answers (docs/protocol.md §4, §5).

Render functions only translate: which buttons are enabled, which event a connection shows and
which state the agent shows are the engine's decisions, passed in.  Button objects depend only on
the set of enabled buttons, so each distinct set is rendered once and shared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, cast, get_args

from msgspec import UNSET

from ..model import AgentSnapshot, AgentState, Connection, Contact
from .errors import ProtocolError
from .wire import (
    AGENT_BUTTONS,
    CALL_BUTTONS,
    AgentButtonItems,
    AgentButtonStates,
    AgentInfoMessage,
    AgentRules,
    AgentStateActual,
    AgentStateData,
    AgentStateName,
    AgentStateSyncMessage,
    Call,
    CallAttribute,
    CallButtonFlags,
    CallButtonItems,
    CallButtonStates,
    CallEventMessage,
    CallEventName,
    CallResponseActual,
    CallResponseFields,
    CallStateSyncMessage,
    CallSummary,
    CcpAgentStateMessage,
    Envelope,
    ErrorMessage,
    GetStatesMessage,
    LoginSuccessMessage,
    LogoutAgentInfo,
    LogoutSuccessMessage,
    MediaProperties,
    ReasonCode,
    SetAgentStateMessage,
    StateLabel,
    iso,
)

CALL_EVENTS: frozenset[str] = frozenset(get_args(CallEventName))
# state type -> SetAgentState ``data.state`` (§4.4): every state that is not routable or offline is
# published as Not_Ready with the Connect state's name in ``reasonCode.id``
AGENT_STATE_NAME: dict[str, AgentStateName] = {
    "routable": "Ready",
    "not_routable": "Not_Ready",
    "system": "Not_Ready",
    "error": "Not_Ready",
    "offline": "Offline",
}
MUTE_BUTTONS: tuple[str, ...] = ("mute", "unmute")
_NO_BUTTONS: frozenset[str] = frozenset()


def _check_buttons(buttons: frozenset[str], known: tuple[str, ...]) -> None:
    unknown = buttons.difference(known)
    if unknown:
        raise ValueError(f"unknown buttons {sorted(unknown)}")


@lru_cache(maxsize=1 << len(CALL_BUTTONS))
@lru_cache(maxsize=1024)  # a call's events repeat a few button sets: rendered once each
def _call_buttons(buttons: frozenset[str]) -> tuple[CallButtonStates, CallButtonFlags]:
    _check_buttons(buttons, CALL_BUTTONS)
    items = CallButtonItems(**{b: "Enable" if b in buttons else "Hide" for b in CALL_BUTTONS})
    flags = CallButtonFlags(**{b: b in buttons for b in CALL_BUTTONS})
    return CallButtonStates(items=items, count=11), flags


@lru_cache(maxsize=2 << len(AGENT_BUTTONS))
def _agent_buttons(buttons: frozenset[str], mute_only: bool = False) -> AgentButtonStates:
    _check_buttons(buttons, AGENT_BUTTONS)
    names = MUTE_BUTTONS if mute_only else AGENT_BUTTONS
    items = AgentButtonItems(**{b: "Enable" if b in buttons else "Hide" for b in names})
    return AgentButtonStates(items=items, count=2 if mute_only else 5)


def agent_info(snapshot: AgentSnapshot) -> AgentInfoMessage:
    """The agent's ``agentInfo`` (§4.4): LoginSuccess, Agent/StateSync, ``User`` of outbound
    call events."""
    info = snapshot.info
    return AgentInfoMessage(
        name=info.name,
        extension=info.extension,
        loginName=info.login,
        muted=snapshot.muted,
        softphoneEnabled=info.softphone_enabled,
        routingProfile=info.routing_profile,
        queues=info.queues,
    )


def _call_variables(contact: Contact) -> dict[str, str]:
    return _variables(contact.ani, contact.dnis, contact.attributes)


@lru_cache(maxsize=4096)  # they do not change during a call: built once per call, not per event
def _variables(
    ani: str | None, dnis: str | None, attributes: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    return {"ANI": ani or "", "DNIS": dnis or "", **dict(attributes)}


def _queue_timestamp(contact: Contact) -> str | None:
    return None if contact.queue_since is None else iso(contact.queue_since)


def call_event(
    contact: Contact,
    connection: Connection,
    event: str,
    buttons: frozenset[str],
    user: AgentInfoMessage | None = None,
) -> Envelope:
    """``<topic>StateChange`` for one connection of ``contact`` (§4.1); an outbound contact's
    events carry the agent's ``user`` and the published outbound CallType."""
    if event not in CALL_EVENTS:
        raise ValueError(f"unknown call event {event!r}")
    outbound = contact.topic == "OutboundCall"
    if outbound and user is None:
        raise ValueError("an outbound call event needs the agent's User")
    call_event_name = cast(CallEventName, event)
    button_states, flags = _call_buttons(buttons)
    since = iso(connection.since)
    call = Call(
        ButtonStates=button_states,
        ActionsAllowed=None,
        ResponseType=0,
        ResponseText="Success",
        ResponseActual=CallResponseActual(
            connectionId=connection.connection_id,
            contactId=contact.contact_id,
            phoneNumber=connection.phone_number,
            status=connection.status,
            statusTimestamp=since,
            type=connection.type,
            buttonStates=flags,
            previousStatus=connection.previous_status,
        ),
        CallVariables=_call_variables(contact),
        ExtendedCallVariables=None,
        ResponseFields=CallResponseFields(
            Participants=(),
            MediaProperties=MediaProperties(
                callType=connection.type,
                queueName=contact.queue,
                queueTimestamp=_queue_timestamp(contact),
            ),
            fromAddress=connection.phone_number,
            CallState=call_event_name,
            Type=connection.type,
            CurrentStateTime=since,
            Campaign=contact.campaign,
            DN=contact.queue or contact.dnis or "",
        ),
        id=connection.connection_id,
        event=call_event_name,
        CallType=(
            ("Consult" if connection.role == "third_party" else "Regular-Call")
            if outbound
            else connection.type
        ),
        User=user if outbound and user is not None else UNSET,
    )
    return Envelope(
        topic=contact.topic,
        subtopic=f"{contact.topic}StateChange",
        message=CallEventMessage(call=call, source="event"),
    )


def call_statesync(
    topic: str, contact: Contact | None, buttons: Mapping[str, frozenset[str]]
) -> Envelope:
    """The call StateSync answer (§4.3); ``buttons`` by connection id (missing: none enabled)."""
    if contact is None:
        message = CallStateSyncMessage(attributes=(), queueName=None, queueTimestamp=None, calls=())
    else:
        message = CallStateSyncMessage(
            attributes=tuple(
                CallAttribute(name=k, value=v) for k, v in _call_variables(contact).items()
            ),
            queueName=contact.queue,
            queueTimestamp=_queue_timestamp(contact),
            calls=tuple(
                CallSummary(
                    connectionId=c.connection_id,
                    contactId=contact.contact_id,
                    phoneNumber=c.phone_number,
                    status=c.status,
                    statusTimestamp=iso(c.since),
                    type=c.type,
                    buttonStates=_call_buttons(buttons.get(c.connection_id, _NO_BUTTONS))[1],
                )
                for c in contact.connections
            ),
        )
    return Envelope(topic=topic, subtopic="StateSync", message=message)


def _state_actual(shown: AgentState, shown_since: int) -> AgentStateActual:
    return AgentStateActual(
        agentStateARN=None, type=shown.type, name=shown.label, startTimestamp=iso(shown_since)
    )


def _rules(shown: AgentState, shown_since: int, buttons: frozenset[str]) -> AgentRules:
    return AgentRules(
        ButtonStates=_agent_buttons(buttons), ResponseActual=_state_actual(shown, shown_since)
    )


def _label(state: AgentState) -> StateLabel:
    return StateLabel(label=state.label, code=state.code, type=state.type)


def agent_state_event(
    snapshot: AgentSnapshot,
    shown: AgentState,
    shown_since: int,
    buttons: frozenset[str],
    *,
    mute_only: bool = False,
) -> Envelope:
    """``Agent/SetAgentState`` (§4.4): ``shown`` is the state the agent shows (maybe a system
    or error state), since ``shown_since``; ``buttons`` the enabled agent buttons, of which a
    Mute/Unmute event (``mute_only``) carries only mute and unmute."""
    info = snapshot.info
    state = AGENT_STATE_NAME[shown.type]
    data = AgentStateData(
        muted=snapshot.muted,
        name=info.name,
        extension=info.extension,
        loginName=info.login,
        softphoneEnabled=info.softphone_enabled,
        state=state,
        reasonCode=ReasonCode(id=shown.label) if state == "Not_Ready" else UNSET,
        stateChangeTime=iso(shown_since),
        type=shown.type,
        nextState=None if snapshot.next_state is None else _label(snapshot.next_state),
    )
    rules = AgentRules(
        ButtonStates=_agent_buttons(buttons, mute_only),
        ResponseActual=_state_actual(shown, shown_since),
    )
    message = SetAgentStateMessage(rules=rules, data=data, event=shown.label, source="event")
    return Envelope(topic="Agent", subtopic="SetAgentState", message=message)


def agent_statesync(
    snapshot: AgentSnapshot, shown: AgentState, shown_since: int, buttons: frozenset[str]
) -> Envelope:
    """The ``Agent/StateSync`` answer (§4.4); a logged-out agent gets the published nulls."""
    if not snapshot.logged_in:
        message = AgentStateSyncMessage(
            loginState="LoggedOut", agentInfo=None, agentState=None, rules=""
        )
    else:
        message = AgentStateSyncMessage(
            loginState="LoggedIn",
            agentInfo=agent_info(snapshot),
            agentState=_state_actual(shown, shown_since),
            rules=_rules(shown, shown_since, buttons),
        )
    return Envelope(topic="Agent", subtopic="StateSync", message=message)


def login_success(snapshot: AgentSnapshot) -> Envelope:
    """``Agent/LoginSuccess`` (§3.2), as the published sample: the state follows separately."""
    message = LoginSuccessMessage(
        loginState="LoggedIn", agentInfo=agent_info(snapshot), agentState=None, rules=None
    )
    return Envelope(topic="Agent", subtopic="LoginSuccess", message=message)


def logout_success(
    snapshot: AgentSnapshot, shown: AgentState, shown_since: int, buttons: frozenset[str]
) -> Envelope:
    """``Agent/LogoutSuccess`` (§3.2): the state and rules the agent had when it logged out."""
    info = snapshot.info
    message = LogoutSuccessMessage(
        loginState="LoggedOut",
        agentInfo=LogoutAgentInfo(
            muted=snapshot.muted,
            name=info.name,
            extension=info.extension,
            loginName=info.login,
            softphoneEnabled=info.softphone_enabled,
        ),
        agentState=_state_actual(shown, shown_since),
        rules=_rules(shown, shown_since, buttons),
    )
    return Envelope(topic="Agent", subtopic="LogoutSuccess", message=message)


def get_states(states: Sequence[AgentState]) -> Envelope:
    """The ``Agent/GetStates`` answer: the agent's selectable states."""
    message = GetStatesMessage(states=tuple(_label(s) for s in states))
    return Envelope(topic="Agent", subtopic="GetStates", message=message)


def ccp_agent_state(shown: AgentState) -> Envelope:
    """The ``Agent/CcpAgentState`` answer: the state the CCP shows."""
    message = CcpAgentStateMessage(name=shown.label, type=shown.type)
    return Envelope(topic="Agent", subtopic="CcpAgentState", message=message)


def error_event(
    topic: str,
    type: str,
    code: str,
    text: str,
    request: dict[str, Any] | None,
    request_id: str | None,
) -> Envelope:
    """The one error shape of §5."""
    return Envelope(
        topic=topic,
        subtopic="Error",
        message=ErrorMessage(type=type, code=code, text=text, request=request),
        requestId=UNSET if request_id is None else request_id,
    )


def protocol_error_event(err: ProtocolError) -> Envelope:
    return error_event(err.topic, err.type, err.code, err.text, err.request, err.request_id)
