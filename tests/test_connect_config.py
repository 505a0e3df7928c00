"""The [connect]/[bridge] sections of the settings: TOML, environment overrides, clear errors;
and ``serve`` building the backend it names from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctibridge.backends.build import build_backend
from ctibridge.backends.streams import StreamsBackend
from ctibridge.cli import main
from ctibridge.clock import ManualClock
from ctibridge.config import BridgeConfig, ConfigError, RateLimit, load_settings
from ctibridge.settings import Settings

TOML = """
[auth]          # another section of the same file
allowed_origins = ["https://crm.example"]

[connect]
region = "eu-west-2"
instance_id = "aaaaaaaa-bbbb-cccc-dddd-111111111111"
instance_url = "https://acme.my.connect.aws/"
contact_flow_id = "flow-1"
kinesis_stream = "arn:aws:kinesis:eu-west-2:111122223333:stream/aes"
rate = { rate = 3, burst = 6 }

[connect.agents]
alice = "arn:aws:connect:eu-west-2:111122223333:instance/aaaa/agent/u-alice"
bob = "u-bob"

[connect.rates]
GetCurrentUserData = { rate = 1, burst = 1 }

[bridge]
heartbeat_seconds = 2
"""


def write(tmp_path: Path, text: str = TOML) -> Path:
    path = tmp_path / "ctibridge.toml"
    path.write_text(text)
    return path


def test_the_file_is_read_with_defaults_for_the_rest(tmp_path: Path) -> None:
    config = load_settings(write(tmp_path), {})
    c = config.connect
    assert (c.region, c.instance_id, c.contact_flow_id) == (
        "eu-west-2",
        "aaaaaaaa-bbbb-cccc-dddd-111111111111",
        "flow-1",
    )
    assert c.ccp == "https://acme.my.connect.aws/ccp-v2"
    assert c.user_ids == {"alice": "u-alice", "bob": "u-bob"}
    assert c.limit("PutUserStatus") == RateLimit(3, 6)
    assert c.limit("GetCurrentUserData") == RateLimit(1, 1)
    assert config.bridge == BridgeConfig(heartbeat_seconds=2)
    assert config.logins() == ["alice", "bob"]


def test_environment_overrides(tmp_path: Path) -> None:
    env = {
        "CTIBRIDGE_CONNECT_REGION": "us-west-2",
        "CTIBRIDGE_CONNECT_MAX_ATTEMPTS": "3",
        "CTIBRIDGE_CONNECT_DISCOVER_USERS": "true",
        "CTIBRIDGE_CONNECT_AGENTS": "carol=u-carol, dave=u-dave",
        "CTIBRIDGE_BRIDGE_AGENTS": "x,y",
        "CTIBRIDGE_BRIDGE_TIMEOUT_SECONDS": "7.5",
        "UNRELATED": "1",
    }
    config = load_settings(write(tmp_path), env)
    assert config.connect.region == "us-west-2"
    assert config.connect.max_attempts == 3 and config.connect.discover_users is True
    assert config.connect.agents == {"carol": "u-carol", "dave": "u-dave"}
    assert config.bridge.agents == ["x", "y"] and config.bridge.timeout_seconds == 7.5
    assert load_settings(None, {"CTIBRIDGE_CONNECT_REGION": "ap-south-1"}).connect.region == (
        "ap-south-1"
    )


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[connect]\nregoin = 'x'\n", {}, "regoin"),
        ("[connect]\nmax_attempts = 'many'\n", {}, "max_attempts"),
        ("[connect\n", {}, "ctibridge.toml"),
        ("", {"CTIBRIDGE_BRIDGE_HEARTBEAT": "1"}, "CTIBRIDGE_BRIDGE_HEARTBEAT"),
        ("", {"CTIBRIDGE_BRIDGE_SETTLE_MS": "soon"}, "settle_ms"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), env)


BRIDGE_ONLY = load_settings(None, {"CTIBRIDGE_BRIDGE_AGENTS": "a"})


def test_build_backend(tmp_path: Path) -> None:
    config = load_settings(write(tmp_path), {})
    backend = build_backend("streams", ManualClock(), config)
    assert isinstance(backend, StreamsBackend) and list(backend.logins()) == ["alice", "bob"]
    assert backend.ccp_url == "https://acme.my.connect.aws/ccp-v2"
    with pytest.raises(ConfigError, match="no agents"):
        build_backend("streams", ManualClock(), Settings())
    with pytest.raises(ConfigError, match="CCP"):
        build_backend(
            "streams", ManualClock(), load_settings(None, {"CTIBRIDGE_BRIDGE_AGENTS": "a"})
        )
    with pytest.raises(ConfigError, match="instance_id"):
        build_backend(
            "connect", ManualClock(), load_settings(None, {"CTIBRIDGE_BRIDGE_AGENTS": "a"})
        )


def test_outbound_calls_need_a_queue_or_a_source_number_at_start() -> None:
    env = {
        "CTIBRIDGE_BRIDGE_AGENTS": "a", "CTIBRIDGE_CONNECT_REGION": "us-east-1",
        "CTIBRIDGE_CONNECT_INSTANCE_ID": "i-1", "CTIBRIDGE_CONNECT_CONTACT_FLOW_ID": "flow-1",
    }  # fmt: skip
    with pytest.raises(ConfigError, match="outbound_queue_id or source_phone_number"):
        build_backend("connect", ManualClock(), load_settings(None, env))
    config = load_settings(None, {**env, "CTIBRIDGE_CONNECT_SOURCE_PHONE_NUMBER": "+18005550100"})
    assert build_backend("connect", ManualClock(), config).name == "connect"


def test_serve_reports_configuration_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--backend", "connect", "--config", str(write(tmp_path, "[x"))]) == 2
    assert "ctibridge.toml" in capsys.readouterr().err
