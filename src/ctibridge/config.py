"""The Amazon Connect configuration: one TOML file plus environment overrides.

Sections this module owns (other sections of the same file, e.g. ``[auth]``, are left alone):

* ``[connect]`` — the instance (region, id, CCP URL), the agents (login -> Connect user id or
  ARN, or discovered with ``ListUsers``), the outbound flow and queue, the Agent Event Stream
  (Kinesis stream, checkpoint file) and the API rate limits.
* ``[bridge]`` — the Streams browser bridge: heartbeat, how long a silent bridge is trusted,
  how long an action waits for the snapshot that shows it.

Environment overrides: ``CTIBRIDGE_CONNECT_<KEY>`` / ``CTIBRIDGE_BRIDGE_<KEY>`` set a scalar key
of that section (``CTIBRIDGE_CONNECT_REGION=eu-west-2``); lists are comma separated.  Values are
validated by the same types as the file, so a typo fails at start-up with the key named.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec


class RateLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A token bucket: ``rate`` requests per second on average, bursts of up to ``burst``."""

    rate: float = 2.0
    burst: int = 5


class ConnectConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    region: str = ""
    instance_id: str = ""
    # https://<alias>.my.connect.aws (the CCP is <instance_url>/ccp-v2); ccp_url overrides it
    instance_url: str = ""
    ccp_url: str = ""
    # login -> Connect user id or user ARN; with discover_users, ListUsers fills in the rest
    agents: dict[str, str] = {}
    discover_users: bool = False
    # StartOutboundVoiceContact: the flow that places the call and the queue it is filed under
    contact_flow_id: str = ""
    outbound_queue_id: str = ""
    source_phone_number: str = ""
    # the Agent Event Stream: a Kinesis stream name or ARN, and where per-shard positions are kept
    kinesis_stream: str = ""
    checkpoint_file: str = "var/aes-checkpoints.json"
    # where a consumer without a checkpoint starts: LATEST (then re-sync) or TRIM_HORIZON
    start_position: str = "LATEST"
    poll_seconds: float = 1.0
    # every Connect API has its own bucket; `rates` overrides it per operation name
    rate: RateLimit = RateLimit()
    rates: dict[str, RateLimit] = {}
    max_attempts: int = 6
    # hybrid: how long a bridge snapshot may disagree with the Agent Event Stream
    reconcile_seconds: float = 10.0
    # tests and VPC endpoints; empty = the AWS default
    endpoint_url: str = ""
    kinesis_endpoint_url: str = ""

    @property
    def user_ids(self) -> dict[str, str]:
        """login -> user id (an ARN is reduced to its last path segment)."""
        return {login: ref.rsplit("/", 1)[-1] for login, ref in self.agents.items()}

    @property
    def ccp(self) -> str:
        if self.ccp_url:
            return self.ccp_url
        return self.instance_url.rstrip("/") + "/ccp-v2" if self.instance_url else ""

    def limit(self, operation: str) -> RateLimit:
        return self.rates.get(operation, self.rate)


class BridgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # agents served by the bridge when [connect] names none
    agents: list[str] = []
    heartbeat_seconds: float = 5.0
    # a bridge not heard from for this long is gone
    timeout_seconds: float = 15.0
    # how long a successful action waits for the snapshot that shows its effect
    settle_ms: int = 2000
    # the amazon-connect-streams bundle; empty = the copy `make deps` puts beside the page
    streams_js: str = ""


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    connect: ConnectConfig = ConnectConfig()
    bridge: BridgeConfig = BridgeConfig()

    def logins(self) -> list[str]:
        return list(self.connect.agents) or list(self.bridge.agents)


class ConfigError(ValueError):
    pass


_SECTIONS: dict[str, type[msgspec.Struct]] = {"connect": ConnectConfig, "bridge": BridgeConfig}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (TOML; None = no file) and apply ``CTIBRIDGE_<SECTION>_<KEY>`` overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: {e}") from None
    env = os.environ if env is None else env
    for section, kind in _SECTIONS.items():
        prefix = f"CTIBRIDGE_{section.upper()}_"
        table = dict(raw.get(section) or {})
        for name, value in env.items():
            if not name.startswith(prefix):
                continue
            key = name[len(prefix) :].lower()
            if key not in kind.__struct_fields__:
                raise ConfigError(f"{name}: no key {key!r} in [{section}]")
            table[key] = _env_value(value, kind.__annotations__.get(key, ""))
        raw[section] = table
    try:
        return msgspec.convert({k: raw[k] for k in _SECTIONS}, Config, strict=False, str_keys=True)
    except msgspec.ValidationError as e:
        raise ConfigError(f"configuration: {e}") from None


def _env_value(value: str, annotation: object) -> object:
    if str(annotation).startswith("list"):
        return [v.strip() for v in value.split(",") if v.strip()]
    if str(annotation).startswith("dict"):  # login=user,login=user
        pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
        return {k.strip(): v.strip() for k, v in pairs}
    return value
