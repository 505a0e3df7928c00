"""The sans-IO engine: commands and snapshots in, backend actions and protocol events out."""

from .engine import Engine, UnknownAgent
from .outputs import Broadcast, Execute, Finished, Outcome, Output, Reply, Simulate
from .session import AgentSession

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
