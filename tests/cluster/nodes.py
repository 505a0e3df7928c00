"""Cluster nodes as real processes (``ctibridge serve --cluster``) for the cluster tests; every
wait is bounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from redis_servers import free_port

_MAIN = "from ctibridge.cli import main; raise SystemExit(main())"


class Node:
    def __init__(self, name: str, redis_url: str, logdir: Path, *, lease_ms: int = 1000,
                 agents: int = 3, extra: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.name = name
        self.redis_url = redis_url
        self.port = free_port()
        self.lease_ms = lease_ms
        self.agents = agents
        self.extra = extra  # more arguments of ``ctibridge serve`` (another backend)
        self.log = logdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> Node:
        env = {**os.environ, "CTIBRIDGE_CLUSTER_LEASE_MS": str(self.lease_ms),
               "CTIBRIDGE_LOG_LEVEL": "WARNING"}  # fmt: skip
        args = [sys.executable, "-c", _MAIN, "serve", "--insecure", "--port", str(self.port),
                "--agents", str(self.agents), "--cluster", self.redis_url,
                "--node-id", self.name, *self.extra]  # fmt: skip
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def post(self, login: str, message: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST ``message`` to /agents/{login}/messages: (status, body)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/agents/{login}/messages",
            data=json.dumps(message).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def wait_healthy(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if self.health()[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"node {self.name} not healthy: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """kill -9: no drain, no lease released."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM: drain, release the leases, exit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
