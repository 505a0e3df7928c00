"""The cluster benchmark cannot rot: ``python -m bench.cluster --smoke`` against real Redis and
hub processes; asserts every phase moved traffic and every figure is there - never how fast."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_bench_smoke(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT, check=True, timeout=240, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads((tmp_path / "cluster-smoke.json").read_text())
    assert [r["mode"] for r in result["runs"]] == ["single", "cluster-1", "cluster-2"]
    for run in result["runs"]:
        assert run["commands"] > 0 and run["hub_cpu_us_per_command"] > 0
    for run in result["runs"][1:]:
        assert run["redis_calls_per_command"] > 0
    assert result["failover"]["kills"] == 2 and result["failover"]["max_s"] > 0
