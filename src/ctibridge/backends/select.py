"""Build the backend ``ctibridge serve --backend NAME`` asks for, from the configuration."""

from __future__ import annotations

from ..clock import Clock
from ..config import Config, ConfigError
from .base import Backend


def build_backend(
    name: str, clock: Clock, config: Config, *, sim_agents: int = 5, sim_seed: int | None = None
) -> Backend:
    if name == "sim":
        from .sim import SimBackend

        return SimBackend(clock, seed=sim_seed, agents=sim_agents)
    logins = config.logins()
    if not logins and not (name != "streams" and config.connect.discover_users):
        raise ConfigError("no agents: list them in [connect.agents] (or [bridge] agents)")
    if name == "streams":
        from .streams import StreamsBackend

        if not config.connect.ccp:
            raise ConfigError("the bridge needs the CCP: set [connect] instance_url or ccp_url")
        return StreamsBackend(
            clock, config.bridge, logins, ccp_url=config.connect.ccp, region=config.connect.region
        )
    raise ConfigError(f"backend {name!r} is not available in this build")
