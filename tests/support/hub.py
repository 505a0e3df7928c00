"""Helpers for the hub's production tests: secured settings, tokens, raw WebSocket clients that
report how the hub closed them, and a hub run as a real ``ctibridge serve`` process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import websockets

from ctibridge import auth
from ctibridge.hub.connection import AppConnection
from ctibridge.settings import AuthSettings, LimitSettings, Settings
from livehub import LiveHub, start_live_hub, stop_live_hub

SECRET = "test-secret-" + "k" * 40
Message = dict[str, Any]


def secured(seed: int = 7, **limits: Any) -> Settings:
    """Settings of a hub that requires tokens (signed with SECRET)."""
    return Settings(
        sim_seed=seed,
        auth=AuthSettings(secret=SECRET),
        limits=msgspec.structs.replace(LimitSettings(), **limits),
    )


@pytest.fixture
async def secured_hub() -> AsyncIterator[LiveHub]:
    """A live hub that requires tokens (``secured()``); shared through tests/conftest.py."""
    live = await start_live_hub(secured())
    try:
        yield live
    finally:
        await stop_live_hub(live)


def insecure(seed: int = 7, **limits: Any) -> Settings:
    return Settings(
        sim_seed=seed,
        auth=AuthSettings(insecure=True),
        limits=msgspec.structs.replace(LimitSettings(), **limits),
    )


def token(
    *agents: str, app: str = "test-app", ttl: int | None = 3600, now: int | None = None
) -> str:
    return auth.issue(SECRET, list(agents), app, int(time.time()) if now is None else now, ttl)


def ws_url(base: str, agent: str | None = "agent1", **query: Any) -> str:
    params = {"agent": agent, **query} if agent is not None else dict(query)
    text = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{base}/ws?{text}"


async def close_of(
    url: str, timeout: float = 5.0, **kwargs: Any
) -> tuple[int | None, str, list[Message]]:
    """Connect, read until the hub closes the connection: (code, reason, messages received)."""
    messages: list[Message] = []
    async with websockets.connect(url, **kwargs) as ws:
        try:
            async with asyncio.timeout(timeout):
                async for frame in ws:
                    messages.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
    return (ws.close_code, ws.close_reason or "", messages)


async def recv_json(ws: Any, timeout: float = 5.0) -> Message:
    message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    assert isinstance(message, dict)
    return message


def request(topic: str, subtopic: str, data: Any = None, rid: str | None = None) -> str:
    message: Message = {"channel": "Amazon", "topic": topic, "subtopic": subtopic, "source": "t"}
    if data is not None:
        message["data"] = data
    if rid is not None:
        message["requestId"] = rid
    return json.dumps(message)


# --- a hub in its own process ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class HubProcess:
    """``ctibridge serve`` as a child process (so it can be SIGTERMed and ``kill -9``ed)."""

    def __init__(self, tmp: Path, config: str, port: int | None = None, *args: str) -> None:
        self.tmp = tmp
        self.port = port or free_port()
        self.config = tmp / "ctibridge.toml"
        self.config.write_text(config)
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        # runs in the child before the hub starts (e.g. resource limits: a disk that fills up)
        self.preexec: Any = None
        self.url = f"ws://127.0.0.1:{self.port}"
        self.http = f"http://127.0.0.1:{self.port}"
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = open(self.tmp / f"hub-{self.runs}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ctibridge.cli", "serve", "--port", str(self.port),
             "--config", str(self.config), *self.args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=self.preexec,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited {self.proc.returncode}: {self.log()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"hub did not listen: {self.log()}")

    def log(self, run: int | None = None) -> str:
        return (self.tmp / f"hub-{run or self.runs}.log").read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextlib.contextmanager
def hub_process(tmp: Path, config: str, *args: str) -> Iterator[HubProcess]:
    hub = HubProcess(tmp, config, None, *args)
    try:
        yield hub
    finally:
        hub.stop()


def outbox_messages(conn: AppConnection) -> list[dict[str, Any]]:
    """Everything queued for an in-process app connection,
    taken off its outbox and decoded."""
    out: list[dict[str, Any]] = []
    while not conn.outbox.empty():
        text = conn.outbox.get_nowait()
        assert text is not None
        out.append(json.loads(text))
    return out
