"""``ctibridge serve --cluster``: the settings it reads ([cluster], CTIBRIDGE_CLUSTER_*, flags),
and the clear refusal of --journal (in cluster mode the journal lives in Redis)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ctibridge.config import load_settings

_MAIN = "from ctibridge.cli import main; raise SystemExit(main())"


def test_cluster_settings_from_file_env_and_defaults(tmp_path: Path) -> None:
    assert load_settings(None, {}, {}).cluster.redis_url is None  # single process by default
    assert load_settings(None, {}, {}).cluster.lease_ms == 3000
    config = tmp_path / "c.toml"
    config.write_text('[cluster]\nredis_url = "redis://10.0.0.1:6379/0"\nnode_id = "a"\n')
    s = load_settings(str(config), {"CTIBRIDGE_CLUSTER_LEASE_MS": "1500"}, {})
    assert (s.cluster.redis_url, s.cluster.node_id, s.cluster.lease_ms) == (
        "redis://10.0.0.1:6379/0", "a", 1500,
    )  # fmt: skip
    env = {"CTIBRIDGE_CLUSTER_REDIS_URL": "redis://127.0.0.1:7000/2"}
    assert load_settings(None, env, {}).cluster.redis_url == "redis://127.0.0.1:7000/2"


def test_journal_is_refused_in_cluster_mode(tmp_path: Path) -> None:
    args = [sys.executable, "-c", _MAIN, "serve", "--insecure", "--cluster",
            "redis://127.0.0.1:1/0", "--journal", str(tmp_path / "j.db")]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--journal" in done.stderr and "cluster" in done.stderr and "Redis" in done.stderr
    assert not (tmp_path / "j.db").exists()


def test_unreachable_redis_at_start_is_a_clear_error() -> None:
    args = [sys.executable, "-c", _MAIN, "serve", "--insecure", "--cluster",
            "redis://127.0.0.1:1/0"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "Redis at redis://127.0.0.1:1/0 does not answer" in done.stderr
    assert "Traceback" not in done.stderr
