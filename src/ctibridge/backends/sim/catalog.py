"""What the simulated Amazon Connect instance contains: states, queues, quick connects, timings.

Also the table of which backend actions a ``Simulator/FailNext`` subtopic arms a failure for.
"""

from __future__ import annotations

from ...actions import (
    Accept,
    AcceptPreview,
    Action,
    AddParty,
    Clear,
    Conference,
    Dial,
    Hangup,
    Hold,
    Login,
    Logout,
    Reject,
    Resume,
    SendDigits,
    SetMute,
    SetState,
    SkipPreview,
    Swap,
    Transfer,
)
from ...model import AgentInfo, AgentState, Directory

AVAILABLE = AgentState(label="Available", code="Available", type="routable")
OFFLINE = AgentState(label="Offline", code="Offline", type="offline")

STATES: tuple[AgentState, ...] = (
    AVAILABLE,
    AgentState(label="Not Ready", code="Not Ready", type="not_routable"),
    AgentState(label="Break", code="Break", type="not_routable"),
    AgentState(label="Lunch", code="Lunch", type="not_routable"),
    OFFLINE,
)
QUEUES: tuple[str, ...] = ("InboundTest", "Sales", "Support")
QUICK_CONNECTS: tuple[str, ...] = ("Billing", "Supervisor")

DEFAULT_QUEUE = "InboundTest"
DEFAULT_DNIS = "+18005550100"
DEFAULT_RING_SECONDS = 20.0  # an offered call is missed when not answered in time
DEFAULT_ANSWER_SECONDS = 3.0  # a dialled customer or consulted party picks up after this

ROUTING_PROFILE = "Basic Routing Profile"
INSTANCE_ARN = "arn:aws:connect:us-east-1:000000000000:instance/sim"

# Simulator/FailNext: the canonical request subtopic -> the backend actions it is carried out by.
# The next ``execute`` of any of these actions fails (and consumes the armed failure).
FAILABLE: dict[str, tuple[type[Action], ...]] = {
    "Answer": (Accept,),
    "AcceptWarmTransfer": (Accept,),
    "Reject": (Reject,),
    "Hold": (Hold,),
    "Resume": (Resume,),
    "Disconnect": (Hangup,),
    "ConsultDrop": (Hangup,),
    "ClearContact": (Clear,),
    "Consult": (AddParty,),
    "ExternalConsult": (AddParty,),
    "Swap": (Swap,),
    "Conference": (Conference,),
    "Transfer": (Transfer,),
    "QueueTransfer": (Transfer, AddParty),
    "NumberPad": (SendDigits,),
    "MakeCall": (Dial, AcceptPreview),
    "Skip": (SkipPreview,),
    "UpdateState": (SetState,),
    "SetNotReady": (SetState,),
    "Mute": (SetMute,),
    "Unmute": (SetMute,),
    "Login": (Login,),
    "Logout": (Logout,),
}
DEFAULT_FAILURE = "InternalServiceException: simulated failure"


def agent_logins(count: int) -> tuple[str, ...]:
    return tuple(f"agent{n}" for n in range(1, count + 1))


def agent_info(login: str) -> AgentInfo:
    number = login.removeprefix("agent")
    return AgentInfo(
        login=login,
        name=f"Agent {number}",
        extension="",
        softphone_enabled=True,
        routing_profile=ROUTING_PROFILE,
        queues=QUEUES,
        arn=f"{INSTANCE_ARN}/agent/{login}",
    )


def directory_for(login: str, logins: tuple[str, ...]) -> Directory:
    return Directory(
        states=STATES,
        queues=QUEUES,
        quick_connects=QUICK_CONNECTS,
        agents=tuple(other for other in logins if other != login),
    )
