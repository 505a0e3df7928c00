"""Real redis-server processes on loopback ports for the cluster tests (Debian's redis-server,
installed by ``make sysdeps``).  Every wait is bounded: a server that does not come up fails
the test instead of hanging it."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def free_port(below: int = 65536) -> int:
    """A free loopback port under ``below`` (a cluster node also listens on port + 10000)."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < below:
            return port
    with socket.socket() as s:  # the system hands out high ports only: try low ones
        for port in range(20000, below):
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class RedisServer:
    """One redis-server; ``aof`` keeps its data across :meth:`restart` (appendfsync always)."""

    def __init__(self, workdir: Path, *, aof: bool = True, cluster: bool = False) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(55535 if cluster else 65536)
        self.aof = aof
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--protected-mode", "no"]  # fmt: skip
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                # an AOF being loaded answers LOADING: wait until it is done
                if client.ping() and int(client.info("persistence").get("loading", 0)) == 0:
                    break
            except redis.RedisError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)
        client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def create_cluster(servers: list[RedisServer]) -> None:
    """``redis-cli --cluster create`` over ``servers`` (masters only), then wait until every
    slot is served."""
    hosts = [f"127.0.0.1:{s.port}" for s in servers]
    subprocess.run(
        [REDIS_CLI, "--cluster", "create", *hosts, "--cluster-replicas", "0", "--cluster-yes"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    client = redis.Redis(port=servers[0].port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while client.cluster("info").get("cluster_state") != "ok":
        if time.monotonic() > deadline:
            raise RuntimeError("the Redis Cluster did not become ready")
        time.sleep(0.05)
    client.close()
