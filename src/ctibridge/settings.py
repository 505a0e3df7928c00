"""Configuration in one place: a typed settings value built by the CLI and passed down."""

from __future__ import annotations

from typing import Literal

import msgspec

BackendName = Literal["sim", "streams", "connect", "hybrid"]


class Settings(msgspec.Struct, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8765
    backend: BackendName = "sim"
    # a command without a backend result by then fails with code "timeout" (§6)
    command_deadline_ms: int = 10_000
    # events held per agent for resumeFrom
    journal_capacity: int = 10_000
    # messages waiting to be written to one app before it is dropped as too slow
    send_queue_limit: int = 10_000
    # the simulator: demo agents and deterministic ids (None: random)
    sim_agents: int = 5
    sim_seed: int | None = None
