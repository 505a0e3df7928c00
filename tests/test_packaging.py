"""What pyproject.toml promises about dependencies holds for what is installed and imported."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

import ctibridge

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())


def requirement(name: str) -> Requirement:
    deps = [Requirement(d) for d in PYPROJECT["project"]["dependencies"]]
    return next(r for r in deps if r.name == name)


def test_the_uvicorn_in_use_is_in_the_tested_range() -> None:
    import uvicorn  # `make oldest` puts the range's lower end first on the path

    spec = requirement("uvicorn").specifier
    assert uvicorn.__version__ in spec, f"uvicorn {uvicorn.__version__} outside {spec}"


def test_boto3_is_an_extra_and_serving_the_simulator_never_imports_it() -> None:
    core = {Requirement(d).name for d in PYPROJECT["project"]["dependencies"]}
    assert "boto3" not in core
    assert any(
        Requirement(d).name == "boto3"
        for d in PYPROJECT["project"]["optional-dependencies"]["connect"]
    )
    probe = (
        "import sys\n"
        "from ctibridge.backends.build import build_backend\n"
        "from ctibridge.clock import ManualClock\n"
        "from ctibridge.settings import Settings\n"
        "from ctibridge.hub.app import create_app\n"
        "build_backend('sim', ManualClock(), Settings())\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_version_is_written_once() -> None:
    assert "version" in PYPROJECT["project"]["dynamic"]
    assert "version" not in PYPROJECT["project"]
    assert version("ctibridge") == ctibridge.__version__
