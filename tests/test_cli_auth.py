"""The CLI's security surface: `token create` / `token secret`, `serve` refusing to start
without a secret or with --insecure off loopback, and client commands carrying --token."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from ctibridge import auth
from ctibridge.cli import main, parse_ttl
from ctibridge.settings import AuthSettings, Settings
from livehub import start_live_hub, stop_live_hub

SECRET = "cli-secret-" + "q" * 40


def test_token_create(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTIBRIDGE_AUTH_SECRET", SECRET)
    args = ["token", "create", "--agent", "agent1", "--agent", "agent2", "--app", "crm"]
    assert main([*args, "--ttl", "8h"]) == 0
    token = capsys.readouterr().out.strip()
    grant = auth.verify(SECRET, token, int(time.time()))
    assert grant.app == "crm" and grant.agents == {"agent1", "agent2"}
    assert grant.expires_at is not None
    assert abs(grant.expires_at - time.time() - 8 * 3600) < 60
    assert main([*args, "--ttl", "never"]) == 0
    never = capsys.readouterr().out.strip()
    assert auth.verify(SECRET, never, int(time.time()) + 10**9).expires_at is None
    assert main(args) == 0  # [auth] default_ttl_s: a day
    default = auth.verify(SECRET, capsys.readouterr().out.strip(), int(time.time()))
    assert default.expires_at is not None and abs(default.expires_at - time.time() - 86400) < 60


def test_token_create_needs_a_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CTIBRIDGE_AUTH_SECRET", raising=False)
    assert main(["token", "create", "--agent", "a", "--app", "x"]) == 2
    assert "no auth secret" in capsys.readouterr().err
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    config = tmp_path / "c.toml"
    config.write_text(f'[auth]\nsecret_file = "{secret}"\n')
    assert main(["token", "create", "--agent", "a", "--app", "x", "--config", str(config)]) == 0
    assert auth.verify(SECRET, capsys.readouterr().out.strip(), int(time.time())).app == "x"
    assert main(["token", "create", "--agent", "a", "--app", "x", "--ttl", "soon"]) == 2


def test_token_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "secret"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["token", "secret"]) == 0
    assert len(first) >= auth.MIN_SECRET_CHARS and first != capsys.readouterr().out.strip()


def test_parse_ttl() -> None:
    assert [parse_ttl(t) for t in ("90", "90s", "15m", "8h", "30d", "never")] == [
        90, 90, 900, 28800, 2592000, None
    ]  # fmt: skip
    for bad in ("0", "-5", "8x", "", "h"):
        with pytest.raises(ValueError):
            parse_ttl(bad)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "no auth secret"),
        (["--insecure", "--host", "0.0.0.0"], {}, "only allowed on a loopback host"),
        ([], {"CTIBRIDGE_AUTH_SECRET": "short"}, "at least 32"),
        ([], {"CTIBRIDGE_LIMITS_RATE_PER_S": "fast"}, "invalid setting"),
    ],
)
def test_serve_refuses_to_start_unsafely(
    args: list[str],
    env: dict[str, str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CTIBRIDGE_AUTH_SECRET", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["serve", "--port", "1", *args]) == 2
    assert message in capsys.readouterr().err


async def test_client_commands_carry_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    live = await start_live_hub(Settings(sim_seed=3, auth=AuthSettings(secret=SECRET)))
    try:
        token = auth.issue(SECRET, ["agent1"], "cli", int(time.time()), 60)
        request = '{"topic":"Agent","subtopic":"UpdateState","data":{"label":"Break"}}'
        base = ["send", "--url", live.url, "--agent", "agent1", request]
        assert await asyncio.to_thread(main, [*base, "--token", token]) == 0
        event = json.loads(capsys.readouterr().out.splitlines()[0])
        assert event["message"]["event"] == "Break"
        assert event["message"]["data"]["state"] == "Not_Ready"
        assert await asyncio.to_thread(main, base) == 2  # no token: the hub closes 4401
        err = capsys.readouterr().err  # and the way out
        assert "pass --token or set CTIBRIDGE_TOKEN" in err and "4401" in err
    finally:
        await stop_live_hub(live)


def test_token_create_url_prints_the_ready_to_open_toolbar_link(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CTIBRIDGE_AUTH_SECRET", SECRET)
    args = ["token", "create", "--agent", "agent1", "--agent", "agent 2", "--app", "toolbar"]
    assert main([*args, "--url", "https://cti.example.com/"]) == 0
    lines = capsys.readouterr().out.split()
    assert [line.split("#")[0] for line in lines] == [
        "https://cti.example.com/agent/agent1",
        "https://cti.example.com/agent/agent%202",
    ]
    token = lines[0].split("#token=")[1]
    assert lines[1].endswith(f"#token={token}")
    assert auth.verify(SECRET, token, int(time.time())).agents == {"agent1", "agent 2"}
    assert main([*args[:4], "--app", "t", "--url"]) == 0  # the configured host and port
    assert capsys.readouterr().out.startswith("http://127.0.0.1:8765/agent/agent1#token=ctb1.")
