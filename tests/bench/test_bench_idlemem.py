"""bench.idlemem cannot rot: it holds the idle connections it opened and attributes their memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_idlemem_lists_the_hubs_allocations_per_idle_connection() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.idlemem", "--connections", "30", "--top", "5", "--only-hub"],
        cwd=ROOT, check=True, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["connections"] == 30
    assert result["held"] == 30
    assert result["bytes_per_connection"] > 0
    assert 0 < len(result["top"]) <= 5
    assert all("/ctibridge/" in row["at"] for row in result["top"])  # --only-hub: the hub's own
