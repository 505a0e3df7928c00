"""The layering rule of ctibridge/__init__.py, enforced: the sans-IO core imports no I/O."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import ctibridge

ROOT = Path(ctibridge.__file__).parent
FORBIDDEN = {
    "asyncio", "starlette", "uvicorn", "boto3", "botocore", "time", "logging", "socket",
    "websockets", "ctibridge.hub", "ctibridge.backends", "ctibridge.client", "ctibridge.cli",
    "ctibridge.clock",
}  # fmt: skip
CORE = sorted(
    [
        *(ROOT / "protocol").glob("*.py"),
        *(ROOT / "engine").glob("*.py"),
        ROOT / "model.py",
        ROOT / "actions.py",
    ]
)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_io(path: Path) -> None:
    bad = {
        name
        for name in imported_modules(path)
        for forbidden in FORBIDDEN
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_sees_relative_imports() -> None:
    names = imported_modules(ROOT / "engine" / "session.py")
    assert "ctibridge.protocol" in names and "ctibridge.model.AgentSnapshot" in names


def test_public_surface() -> None:
    public = {
        name
        for name in dir(ctibridge)
        if not name.startswith("_") and not isinstance(getattr(ctibridge, name), ModuleType)
    }
    assert set(ctibridge.__all__) == public | {"__version__"}
    assert set(ctibridge.__all__) == {"Client", "Result", "Settings", "__version__"}


IO_LIBRARIES = ("websockets", "asyncio", "starlette", "uvicorn", "boto3", "botocore")


@pytest.mark.parametrize("package", ["ctibridge.engine", "ctibridge.protocol", "ctibridge.model"])
def test_importing_the_core_loads_no_io_library(package: str) -> None:
    # a fresh interpreter: this test process has long since imported asyncio and the hub
    probe = (
        f"import sys, {package}\nprint(' '.join(m for m in {IO_LIBRARIES!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == [], f"import {package} loaded {loaded}"


def test_the_lazy_package_still_serves_its_public_names() -> None:
    probe = "import sys, ctibridge; ctibridge.Client; print('websockets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
