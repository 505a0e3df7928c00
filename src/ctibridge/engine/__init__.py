"""The sans-IO engine: commands and snapshots in, backend actions and protocol events out."""

from .session import (
    AgentSession,
    Broadcast,
    Engine,
    Execute,
    Finished,
    Outcome,
    Output,
    Reply,
    Simulate,
    UnknownAgent,
)

__all__ = [
    "AgentSession",
    "Broadcast",
    "Engine",
    "Execute",
    "Finished",
    "Outcome",
    "Output",
    "Reply",
    "Simulate",
    "UnknownAgent",
]
