"""docs/architecture.md describes the code as it is: every source module it names exists, and
every package of src/ctibridge (and each page folder under static/) is described, so it cannot
rot.

A module is named in backticks (`hub/core.py`, `world.py`); in a row of the package table a
bare name is looked up inside that row's package, elsewhere anywhere in the source tree.  A
top-level package has a row of its own; a sub-package is named (`sim/`) in its parent's row."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ctibridge"
DOC = (ROOT / "docs" / "architecture.md").read_text()

TICKED = re.compile(r"`([^`\s]+)`")
ROW = re.compile(r"^\| `([\w/]+/)` \|")
# paths the document names outside the package, relative to the repository
OUTSIDE = ("tests/", "bridge/", "docs/")


def rows(doc: str) -> dict[str, str]:
    """The package table: the package a row describes -> the row's text."""
    return {m.group(1): line for line in doc.splitlines() if (m := ROW.match(line))}


def modules(text: str) -> list[str]:
    """Every source module (``.py`` / ``.js``) named in backticks, without a ``:name`` suffix."""
    names = [m.split(":")[0] for m in TICKED.findall(text)]
    return [n for n in names if n.endswith((".py", ".js")) and not n.startswith(OUTSIDE)]


def exists_under(base: Path, name: str) -> bool:
    return any(p.as_posix().endswith("/" + name) for p in base.rglob(Path(name).name))


def missing_modules(doc: str) -> list[str]:
    table = rows(doc)
    missing = [
        f"{name} (row {package})"
        for package, line in table.items()
        for name in modules(line)
        if not exists_under(SRC / package, name) and not exists_under(SRC, name)
    ]
    rest = "\n".join(line for line in doc.splitlines() if line not in table.values())
    missing += [name for name in modules(rest) if not exists_under(SRC, name)]
    outside = [n.split(":")[0] for n in TICKED.findall(doc) if n.startswith(OUTSIDE)]
    return missing + [path for path in outside if not (ROOT / path).exists()]


def packages() -> list[str]:
    """Every package directory and static page folder, relative to src/ctibridge."""
    found = [p.parent for p in SRC.rglob("__init__.py") if p.parent != SRC]
    found += [p for p in (SRC / "static").iterdir() if p.is_dir()]
    return sorted(p.relative_to(SRC).as_posix() for p in found)


def undescribed(doc: str) -> list[str]:
    table = rows(doc)
    out = []
    for package in packages():
        if f"{package}/" in table:
            continue
        parent, _, name = package.rpartition("/")
        if not parent or f"`{name}/`" not in table.get(f"{parent}/", ""):
            out.append(package)
    return out


def test_every_module_the_document_names_exists() -> None:
    assert rows(DOC), "the package table was not found"
    assert missing_modules(DOC) == []


def test_every_package_is_described() -> None:
    assert undescribed(DOC) == []


def test_a_renamed_module_or_a_package_left_out_is_caught() -> None:
    table = rows(DOC)
    hub_row = table["hub/"]
    renamed = DOC.replace(hub_row, hub_row.replace("`core.py`", "`kernel.py`"))
    assert missing_modules(renamed) == ["kernel.py (row hub/)"]
    backends_row = table["backends/"]
    no_sim = DOC.replace(backends_row, backends_row.replace("`sim/`", "the simulator"))
    assert undescribed(no_sim) == ["backends/sim"]
    assert "conform" in undescribed(DOC.replace(table.get("conform/", "\0"), ""))
