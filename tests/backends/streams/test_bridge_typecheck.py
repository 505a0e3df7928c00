"""The build's type check of the bridge script (``make bridge-check``) really guards the Streams
calls: the shipped bridge.js passes, a copy calling a method Streams does not declare fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TSC = ROOT / "bridge" / "node_modules" / ".bin" / "tsc"
BRIDGE_JS = ROOT / "src" / "ctibridge" / "static" / "bridge" / "bridge.js"
SNAPSHOT_JS = BRIDGE_JS.with_name("snapshot.js")  # loaded first; bridge.js uses its mapping
TYPES = ROOT / "bridge" / "node_modules" / "amazon-connect-streams" / "src" / "index.d.ts"


def check(script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    shipped = json.loads((ROOT / "bridge" / "tsconfig.json").read_text())
    config = {
        "compilerOptions": shipped["compilerOptions"],
        "files": [str(TYPES), str(SNAPSHOT_JS), str(script)],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(config))
    return subprocess.run(
        [str(TSC), "-p", str(tmp_path / "tsconfig.json")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_bridge_calls_only_what_streams_declares(tmp_path: Path) -> None:
    result = check(BRIDGE_JS, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_undeclared_streams_call_fails_the_check(tmp_path: Path) -> None:
    source = BRIDGE_JS.read_text()
    assert ".toggleActiveConnections(cb)" in source
    bad = tmp_path / "bridge.js"
    bad.write_text(source.replace(".toggleActiveConnections(cb)", ".swapConnections(cb)"))
    result = check(bad, tmp_path)
    assert result.returncode != 0
    assert "Property 'swapConnections' does not exist on type 'Contact'" in result.stdout
