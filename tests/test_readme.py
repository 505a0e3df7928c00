"""Every code block of README.md, run as a reader would, against a hub started with `make run`.

Each block is handled by what it is (``kind_of``); a block no rule covers fails the suite, so a
new kind of example cannot go untested:

* ``python`` — a complete program: run with this interpreter against a fresh `make run` hub.
* ``sh`` — the lines run with ``bash -euo pipefail`` (``.venv/bin`` first on PATH, the repo as the
  working directory) against a fresh `make run` hub, except three kinds of line:
  ``make run`` is the command that started that hub (the line checks it answers ``/healthz``);
  another ``make TARGET`` is checked with ``make -n TARGET`` (the target exists; running the
  test suite, the fuzzer or the benchmark from inside the test suite is not sensible);
  ``ctibridge serve ...`` is parsed by the CLI's own parser and its ``--config`` file (the
  README's ``toml`` block) loaded with the hub's settings loader (serving needs Amazon Connect).
* ``text`` with ``$ ctibridge`` lines — a transcript: every command runs, in order, on a fresh
  hub, and prints exactly the lines shown under it (``(exit N)``: exits N).
* ``text`` with ``ctibridge COMMAND`` lines — a usage synopsis: every option shown is in that
  command's ``--help``.
* ``text`` naming ``src/ctibridge/`` — the layout: every directory and ``.py`` file named exists.
* ``toml`` — loads with the hub's settings loader; ``json`` — parses, and an IAM policy names
  exactly the Amazon Connect and Kinesis operations the code calls.

The hub listens on a free port: ``127.0.0.1:8765`` in a block is replaced by it, and
``CTIBRIDGE_URL`` points the CLI at it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from ctibridge.cli import build_parser
from ctibridge.config import load_settings
from ctibridge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
VENV_BIN = Path(sys.executable).parent
DEFAULT_ADDRESS = "127.0.0.1:8765"
# a fenced block, also one indented inside a list item (its lines are dedented)
BLOCK = re.compile(r"^( *)```(\w*)\n(.*?)^\1```$", re.M | re.S)
SERVE = re.compile(r"^(?:\.venv/bin/)?ctibridge serve\b(.*)$")
MAKE = re.compile(r"^make (\w+)\b")


@dataclass(frozen=True)
class Block:
    line: int  # where it starts in README.md
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang or 'plain'}"


def readme_blocks() -> list[Block]:
    text = README.read_text()
    return [
        Block(text.count("\n", 0, m.start()) + 1, m[2], textwrap.dedent(m[3]))
        for m in BLOCK.finditer(text)
    ]


def kind_of(block: Block) -> str | None:
    if block.lang == "python":
        return "python"
    if block.lang in ("sh", "bash", "shell"):
        return "shell"
    if block.lang in ("toml", "json", "caddyfile"):
        return block.lang
    if block.lang == "text":
        if re.search(r"^\$ ctibridge ", block.text, re.M):
            return "transcript"
        if re.match(r"ctibridge \w+", block.text):
            return "usage"
        if "src/ctibridge/" in block.text:
            return "layout"
    return None


BLOCKS = readme_blocks()


def test_every_block_is_tested() -> None:
    assert len(BLOCKS) >= 8, "the README's code blocks were not found"
    untested = [b.id for b in BLOCKS if kind_of(b) is None]
    assert untested == [], f"README blocks no rule of tests/test_readme.py runs: {untested}"


# --- a hub, started the way the README says ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MakeRun:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    """`make run` on a free port with its own journal; stopped with SIGTERM, as an operator
    would, after which it must have logged exactly one shutdown line and exited 0."""
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}",
             f"JOURNAL_DB={tmp_path / 'journal.db'}"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    hub = MakeRun(port, process, log)
    try:
        deadline = time.monotonic() + 120
        while not healthy(port):
            assert process.poll() is None, f"make run exited:\n{hub.output()}"
            assert time.monotonic() < deadline, f"no hub after 120 s:\n{hub.output()}"
            time.sleep(0.1)
        yield hub
    finally:
        # make waits for its one child, the hub: SIGTERM the hub, make then exits with its code
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        if not pids:
            process.terminate()
        code = process.wait(timeout=30)
    text = hub.output()
    assert code == 0, text
    assert len(re.findall(r"shutting down", text)) == 1, text


def localise(text: str, hub: MakeRun | None) -> str:
    return text if hub is None else text.replace(DEFAULT_ADDRESS, f"127.0.0.1:{hub.port}")


def environment(hub: MakeRun | None) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CTIBRIDGE_TOKEN", None)
    if hub is not None:
        env["CTIBRIDGE_URL"] = hub.url
    return env


# --- the blocks ----------------------------------------------------------------------------------


def run_python(block: Block, hub: MakeRun, tmp_path: Path) -> None:
    program = tmp_path / "example.py"
    program.write_text(localise(block.text, hub))
    done = subprocess.run(
        [sys.executable, str(program)], cwd=tmp_path, env=environment(hub),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, f"README {block.id} failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), f"README {block.id} printed nothing"


def check_serve(command: str, block: Block, tmp_path: Path) -> None:
    """A `ctibridge serve` line: the CLI accepts it, and its --config (the README's next toml
    block) loads."""
    args = build_parser().parse_args(["serve", *shlex.split(command)])
    if args.config:
        toml = min(
            (b for b in BLOCKS if b.lang == "toml"), key=lambda b: abs(b.line - block.line)
        )  # the configuration shown next to the command
        path = tmp_path / args.config
        path.write_text(toml.text)
        load_settings(str(path), {}, {"backend": args.backend})


def shell_script(block: Block, hub: MakeRun, tmp_path: Path) -> str:
    lines = ["trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for line in localise(block.text, hub).splitlines():
        bare = line.split("#", 1)[0].strip()
        make, serve = MAKE.match(bare), SERVE.match(bare)
        if make and make[1] == "run":
            lines.append(f"curl -sf http://127.0.0.1:{hub.port}/healthz > /dev/null  # make run")
        elif make:
            lines.append(f"make -n {make[1]} > /dev/null")
        elif serve:
            check_serve(serve[1], block, tmp_path)
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def run_shell(block: Block, hub: MakeRun, tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", shell_script(block, hub, tmp_path)],
        cwd=ROOT, env=environment(hub), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, f"README {block.id} failed:\n{done.stdout}\n{done.stderr}"


def transcript(text: str) -> list[tuple[str, list[str], int]]:
    """``$ command`` lines, each with the output lines under it and its exit code."""
    steps: list[tuple[str, list[str], int]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], [], 0))
        elif steps and (m := re.fullmatch(r"\(exit (\d+)\)", line.strip())):
            command, out, _ = steps[-1]
            steps[-1] = (command, out, int(m[1]))
        elif steps and line.strip():
            steps[-1][1].append(line.rstrip())
    return steps


def run_transcript(block: Block, hub: MakeRun) -> None:
    steps = transcript(block.text)
    assert steps
    for command, expected, code in steps:
        argv = shlex.split(command)
        assert argv[0] == "ctibridge"
        done = subprocess.run(
            [str(VENV_BIN / "ctibridge"), *argv[1:]], cwd=ROOT, env=environment(hub),
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        got = [line.rstrip() for line in done.stdout.splitlines() if line.strip()]
        assert (got, done.returncode) == (expected, code), f"$ {command}\n{done.stderr}"


def check_usage(block: Block) -> None:
    entries: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("ctibridge "):
            entries.append(line)
        elif line.strip() and entries:
            entries[-1] += " " + line.strip()
    assert entries
    for entry in entries:
        for part in entry.split("|  "):  # `token create ...  |  token secret`
            words = part.split("#", 1)[0].split()
            words = words[1:] if words[0] == "ctibridge" else words
            command = words[:2] if words[0] == "token" else words[:1]
            done = subprocess.run(
                [str(VENV_BIN / "ctibridge"), *command, "--help"], capture_output=True,
                text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            for option in re.findall(r"--[a-z][a-z-]*", part):
                assert option in done.stdout, f"{' '.join(command)} --help lacks {option}"
            for choice in re.findall(r"\b\w[\w-]*(?:\|[\w-]+)+", part):  # sim actions, backends
                for name in choice.split("|"):
                    assert name in done.stdout, f"{' '.join(command)} --help lacks {name}"


def check_layout(block: Block) -> None:
    path_token = re.compile(r"(?<![\w/.-])((?:[\w-]+/)*[\w-]+\.py|(?:[\w-]+/)+)(?![\w.])")
    section = item = ROOT  # the top-level entry (`src/ctibridge/`) and the one it describes
    named = 0
    for line in block.text.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = item = ROOT / line.split()[0]
        elif indent == 2:  # `  engine/   ...`; deeper lines go on describing it
            item = section / line.split()[0]
        bases = [ROOT, section, item]
        for token in path_token.findall(line):
            named += 1
            assert any((base / token).exists() for base in bases), f"layout names {token!r}"
    assert named >= 10


def check_json(block: Block) -> None:
    document = json.loads(block.text)
    if "Statement" not in document:
        return
    actions = {a for s in document["Statement"] for a in s["Action"]}
    source = {
        "connect": (ROOT / "src/ctibridge/backends/connect/api.py").read_text(),
        "kinesis": (ROOT / "src/ctibridge/backends/connect/kinesis.py").read_text(),
    }
    for service, code in source.items():
        session = boto3.session.Session()
        model = session.client(service, region_name="us-east-1").meta.service_model  # type: ignore[call-overload]
        called = set()
        for operation in model.operation_names:
            snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
            if f'"{operation}"' in code or f'"{snake}"' in code:
                called.add(f"{service}:{operation}")
        named = {a for a in actions if a.startswith(f"{service}:")}
        assert named == called, f"the policy names {sorted(named)}, the code calls {sorted(called)}"


def check_caddyfile(block: Block) -> None:
    """A reverse proxy in front of the hub: one site block that forwards to the address a hub
    listens on by default."""
    assert block.text.count("{") == block.text.count("}") == 1
    targets = re.findall(r"^\s*reverse_proxy\s+(\S+)\s*$", block.text, re.M)
    defaults = Settings()
    assert targets == [f"{defaults.host}:{defaults.port}"], targets


NEEDS_HUB = {"python": run_python, "shell": run_shell}


def blocks_of(*kinds: str) -> list[Block]:
    return [b for b in BLOCKS if kind_of(b) in kinds]


@pytest.mark.parametrize("block", blocks_of(*NEEDS_HUB), ids=lambda b: b.id)
def test_block_runs_against_make_run(block: Block, make_run: MakeRun, tmp_path: Path) -> None:
    NEEDS_HUB[kind_of(block) or ""](block, make_run, tmp_path)


@pytest.mark.parametrize("block", blocks_of("transcript"), ids=lambda b: b.id)
def test_transcript_reproduces_on_a_fresh_hub(block: Block, make_run: MakeRun) -> None:
    run_transcript(block, make_run)


@pytest.mark.parametrize(
    "block", blocks_of("usage", "layout", "toml", "json", "caddyfile"), ids=lambda b: b.id
)
def test_reference_block_matches_the_code(block: Block, tmp_path: Path) -> None:
    kind = kind_of(block)
    if kind == "usage":
        check_usage(block)
    elif kind == "layout":
        check_layout(block)
    elif kind == "json":
        check_json(block)
    elif kind == "caddyfile":
        check_caddyfile(block)
    else:
        path = tmp_path / "ctibridge.toml"
        path.write_text(block.text)
        load_settings(str(path), {}, {})


def test_make_run_banner_shows_the_toolbar(make_run: MakeRun) -> None:
    banner = make_run.output()
    assert f"toolbar: http://127.0.0.1:{make_run.port}/" in banner
    with urllib.request.urlopen(f"http://127.0.0.1:{make_run.port}/", timeout=5) as page:
        assert b"Agent toolbar" in page.read()


def test_doc_links_resolve() -> None:
    """Every relative link of README.md and docs/*.md names a file that exists (the protocol is
    docs/protocol.md, not the PROTOCOL.md of the design papers)."""
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        assert "PROTOCOL.md" not in text, f"{doc.name} names PROTOCOL.md: docs/protocol.md"
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:|#", target):
                continue
            path = (doc.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{doc.name} links to {target}, which does not exist"
