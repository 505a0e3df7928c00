"""Settings from a TOML file, CTIBRIDGE_* variables and flags, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctibridge.config import ConfigError, load_settings
from ctibridge.settings import Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ctibridge.toml"
    path.write_text(text)
    return path


def test_defaults_without_any_source() -> None:
    assert load_settings() == Settings()


def test_file_sections_env_and_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        port = 9000
        [auth]
        allowed_origins = ["https://crm.example"]
        [limits]
        rate_per_s = 5
        max_connections_per_agent = 3
        [journal]
        path = "var/journal.db"
        max_events = 50
        """,
    )
    env = {
        "CTIBRIDGE_LIMITS_RATE_PER_S": "7.5",
        "CTIBRIDGE_AUTH_SECRET": "x" * 40,
        "CTIBRIDGE_AUTH_ALLOWED_ORIGINS": "https://a.example, https://b.example",
        "CTIBRIDGE_AUTH_INSECURE": "false",
        "CTIBRIDGE_PORT": "9001",
        "UNRELATED": "1",
    }
    settings = load_settings(path, env, {"port": 9002, "journal": {"max_events": 60}})
    assert settings.port == 9002  # flag over env over file
    assert settings.limits.rate_per_s == 7.5  # env over file
    assert settings.limits.max_connections_per_agent == 3  # file
    assert settings.limits.rate_burst == Settings().limits.rate_burst  # default
    assert settings.auth.secret == "x" * 40
    assert settings.auth.insecure is False
    assert settings.auth.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.journal.path == "var/journal.db"
    assert settings.journal.max_events == 60


def test_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("y" * 40 + "\n")
    path = write(tmp_path, f'[auth]\nsecret_file = "{secret}"\n')
    assert load_settings(path).auth.secret == "y" * 40
    # the variable wins over the file
    assert load_settings(path, {"CTIBRIDGE_AUTH_SECRET": "z" * 40}).auth.secret == "z" * 40


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("prot = 1\n", {}, "unknown setting"),
        ("[limits]\nrate_per_sec = 1\n", {}, "invalid setting"),
        ("[journal]\nsynchronous = 'sometimes'\n", {}, "invalid setting"),
        ("port = 'eighty'\n", {}, "invalid setting"),
        ("port = \n", {}, "not valid TOML"),
        ("", {"CTIBRIDGE_LIMITS_SEND_QUEUE": "lots"}, "invalid setting"),
    ],
)
def test_bad_configuration_is_an_error(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), env)


def test_missing_files_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path / "nope.toml")
    path = write(tmp_path, f'[auth]\nsecret_file = "{tmp_path / "nope"}"\n')
    with pytest.raises(ConfigError, match="secret_file"):
        load_settings(path)
