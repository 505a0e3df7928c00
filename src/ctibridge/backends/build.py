"""Build the backend ``ctibridge serve --backend NAME`` asks for, from the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..clock import Clock
from ..config import ConfigError
from ..settings import Settings
from .base import Backend

if TYPE_CHECKING:
    from .connect import ConnectBackend


def build_backend(
    name: str, clock: Clock, config: Settings, *, sim_agents: int = 5, sim_seed: int | None = None
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
    if name == "connect":
        return _connect_backend(clock, config)
    if name == "hybrid":
        from .hybrid import HybridBackend
        from .streams import StreamsBackend

        if not config.connect.ccp:
            raise ConfigError("the bridge needs the CCP: set [connect] instance_url or ccp_url")
        if not config.connect.agents:
            raise ConfigError("hybrid needs its agents listed in [connect.agents]")
        connect = _connect_backend(clock, config)
        streams = StreamsBackend(
            clock, config.bridge, list(connect.logins()), ccp_url=config.connect.ccp,
            region=config.connect.region,
        )  # fmt: skip
        return HybridBackend(
            clock, streams, connect, reconcile_seconds=config.connect.reconcile_seconds
        )
    raise ConfigError(f"backend {name!r} is not available in this build")


def _connect_backend(clock: Clock, config: Settings) -> ConnectBackend:
    try:
        import boto3

        from .connect import ConnectApi, ConnectBackend, connect_client
    except ImportError as e:  # boto3 is the [connect] extra: the simulator never needs it
        raise ConfigError(
            f"the connect backend needs boto3 ({e.name} is missing): "
            "pip install 'ctibridge[connect]'"
        ) from None

    c = config.connect
    missing = [k for k in ("region", "instance_id") if not getattr(c, k)]
    if missing:
        raise ConfigError(f"[connect] needs {', '.join(missing)}")
    if c.contact_flow_id and not (c.outbound_queue_id or c.source_phone_number):
        # StartOutboundVoiceContact refuses a call with neither (Connect API reference)
        raise ConfigError(
            "[connect] contact_flow_id needs outbound_queue_id or source_phone_number: "
            "StartOutboundVoiceContact places the call with one of them"
        )
    kinesis = None
    if c.kinesis_stream:
        kinesis = boto3.client(
            "kinesis", region_name=c.region, endpoint_url=c.kinesis_endpoint_url or None
        )
    return ConnectBackend(clock, c, ConnectApi(connect_client(c), c), kinesis=kinesis)
