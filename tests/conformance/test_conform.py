"""``ctibridge conform`` against real served hubs: it passes against the hub `make run` serves;
against a hub with one deliberately broken rule it fails with the diff that names the rule (one
test per kind of breakage); live mode with a scripted operator; watch mode; the reports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ctibridge import auth
from ctibridge.backends.sim import SimBackend
from ctibridge.cli import main
from ctibridge.client import Client
from ctibridge.clock import ManualClock
from ctibridge.conform.runner import run
from ctibridge.conform.scenarios import SCENARIOS
from ctibridge.conform.watch import watch
from ctibridge.engine import tables
from ctibridge.hub import Hub
from ctibridge.protocol import registry, render, wire
from ctibridge.settings import AuthSettings, Settings
from support.harness import Served

BIN = Path(sys.executable).parent
SETTINGS = Settings(auth=AuthSettings(insecure=True))
NAMES = [e.name for e in SCENARIOS]
IB = "InboundCall"


@contextlib.asynccontextmanager
async def served_hub(settings: Settings = SETTINGS) -> AsyncIterator[Served]:
    clock = ManualClock()
    async with Served(Hub(SimBackend(clock, seed=7, agents=2), clock, settings)) as served:
        yield served


async def conform(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The command itself (its argument parser, runner and printing), in a thread beside the
    hub's event loop."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["conform", *args])
    return code, capsys.readouterr().out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def make_run(tmp_path: Path) -> Iterator[int]:
    """`make run`'s command line (sim backend, demo agents, --insecure, a journal) in a process
    of its own, on a free port."""
    port = free_port()
    serve = subprocess.Popen(
        [BIN / "ctibridge", "serve", "--host", "127.0.0.1", "--port", str(port), "--backend",
         "sim", "--insecure", "--journal", str(tmp_path / "journal.db")],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("w"),
    )  # fmt: skip
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.05)
        yield port
    finally:
        serve.terminate()
        serve.wait(30)


def test_passes_against_the_hub_make_run_serves(tmp_path: Path) -> None:
    """`ctibridge conform ws://...` as an integrator runs it, against `make run`'s hub."""
    junit, report = tmp_path / "conform.xml", tmp_path / "conform.html"
    with make_run(tmp_path) as port:
        done = subprocess.run(
            [BIN / "ctibridge", "conform", f"ws://127.0.0.1:{port}", "--junit", str(junit),
             "--html", str(report)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith(("PASS", "FAIL", "SKIP"))] == [
        f"PASS {name}" for name in NAMES
    ]
    assert (
        lines[-1] == f"{len(NAMES)} passed, 0 failed, 0 skipped (driven mode, protocol revision 2)"
    )
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == (str(len(NAMES)), "0")
    assert [c.get("name") for c in suite.iter("testcase")] == NAMES
    page = report.read_text()
    assert f"{len(NAMES)} passed" in page and all(name in page for name in NAMES)
    assert "<script" not in page and "http" not in page.replace(f"ws://127.0.0.1:{port}", "")


# --- one deliberately broken rule per kind: each fails with the diff that names it ----------------


async def test_a_broken_button_table_row_fails_naming_the_published_answer_sample(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        tables.ENABLED_CALL_BUTTONS["two_party"],
        "agent",
        frozenset({"consult", "numberpad", "transfer"}),
    )
    async with served_hub() as hub:
        code, out = await conform(capsys, hub.url, "--only", "inbound_call")
    assert code == 1
    assert out.splitlines()[0] == "FAIL inbound_call"
    assert (
        '    InboundCall/Answer: message.call.ButtonStates.items.transfer: expected "Hide", '
        'got "Enable" (published Answer sample)'
    ) in out.splitlines()


async def test_a_broken_render_key_fails_naming_the_published_sample(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every call event is encoded with ``ResponseText`` spelled ``Responsetext``."""
    encoder = wire._ENCODER

    class Misspelling:
        def encode(self, value: Any) -> bytes:
            return encoder.encode(value).replace(b'"ResponseText":', b'"Responsetext":')

    monkeypatch.setattr(wire, "_ENCODER", Misspelling())
    async with served_hub() as hub:
        code, out = await conform(capsys, hub.url, "--only", "number_pad")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "FAIL number_pad"
    assert (
        "    a call arrives: message.call.ResponseText: expected a string, got nothing "
        "(published ClearContact sample)" in lines
    )
    assert (
        '    a call arrives: message.call.Responsetext: expected nothing, got "Success" '
        "(published ClearContact sample)" in lines
    )


async def test_a_broken_render_table_value_fails_naming_the_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SetAgentState's data.state of a routable state published as "Available"."""
    monkeypatch.setitem(render.AGENT_STATE_NAME, "routable", "Available")  # type: ignore[arg-type]
    async with served_hub() as hub:
        code, out = await conform(capsys, hub.url, "--only", "agent_states_and_next_state")
    assert code == 1
    assert (
        '    Agent/UpdateState {"label": "Available"}: message.data.state: expected "Ready", got '
        '"Available" (§4.4 SetAgentState data.state, event and reasonCode)'
    ) in out.splitlines()


async def test_a_broken_error_type_fails_naming_the_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hold = registry.BY_NAME["Hold"]
    monkeypatch.setitem(
        registry.BY_NAME, "Hold", dataclasses.replace(hold, failure="HOLD_FAILED", text="x")
    )
    async with served_hub() as hub:
        code, out = await conform(
            capsys, hub.url, "--only", "refused_hold", "--only", "inbound_call"
        )
    assert code == 1
    assert out.splitlines()[:2] == [
        "PASS inbound_call",
        "FAIL refused_hold",
    ]
    assert (
        "    InboundCall/Hold refused by Amazon Connect: message.type: "
        'expected "HOLD_CALL_FAILED", got "HOLD_FAILED" (§3/§5 HOLD_CALL_FAILED)'
    ) in out.splitlines()


async def test_unknown_scenario_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    async with served_hub() as hub:
        code = await asyncio.to_thread(main, ["conform", hub.url, "--only", "nope"])
    assert code == 2
    assert "no scenario nope (there are: " in capsys.readouterr().err


# --- live mode ------------------------------------------------------------------------------------

SIMULATED = {
    "ring": ("IncomingCall", {"phoneNumber": "+15551234567"}),
    "customer_hangup": ("CustomerHangup", None),
    "third_party_answer": ("ThirdPartyAnswer", None),
    "third_party_hangup": ("ThirdPartyHangup", None),
    "outbound_answer": ("OutboundResult", {"result": "answer"}),
}


class ScriptedOperator:
    """A person at the phones, played through the Simulator topic by another app; it records
    what it was asked and how often the kit showed its progress line."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.asked: list[str] = []
        self.progress = 0

    async def ask(self, step: str, instruction: str) -> None:
        self.asked.append(instruction)
        subtopic, data = SIMULATED[step]
        result = await self.client.request("Simulator", subtopic, *([data] if data else []))
        assert result.ok, result.error

    def waiting(self, instruction: str, elapsed: float, timeout: float) -> None:
        self.progress += 1

    def done(self) -> None:
        pass


async def test_live_mode_asks_the_operator_for_what_it_cannot_cause() -> None:
    async with served_hub() as hub:
        phones = await Client.connect(hub.url, "agent1", source="the-phones")
        operator = ScriptedOperator(phones)
        outcomes: list[str] = []
        try:
            mode, results = await run(
                hub.url, "agent1",
                only=["inbound_call", "customer_hangs_up", "consult_swap_conference_transfer",
                      "refused_hold", "logout_and_login"],
                live=True, operator=operator, timeout=10,
                report=lambda o: outcomes.append(o.line()),
            )  # fmt: skip
        finally:
            await phones.close()
    assert mode == "live"
    assert outcomes == [
        "PASS inbound_call",
        "PASS customer_hangs_up",
        "PASS consult_swap_conference_transfer",
        "PASS logout_and_login",  # needs nobody: runs by itself
        "SKIP refused_hold\n    needs an injected Amazon Connect failure (driven mode only)",
    ]
    assert [r.status for r in results].count("PASS") == 4
    assert operator.asked == [
        "place a call to the agent's queue now from +15551234567... waiting 10 s",
        "place a call to the agent's queue now from +15551234567... waiting 10 s",
        "hang up the customer's phone now... waiting 10 s",
        "place a call to the agent's queue now from +15551234567... waiting 10 s",
        "answer the consulted party's phone now... waiting 10 s",
    ]
    assert operator.progress >= len(operator.asked)


async def test_live_mode_fails_a_step_nobody_does_within_the_timeout() -> None:
    class Absent(ScriptedOperator):
        async def ask(self, step: str, instruction: str) -> None:
            self.asked.append(instruction)

    async with served_hub() as hub:
        operator = Absent(None)  # type: ignore[arg-type]
        _, results = await run(hub.url, only=["customer_hangs_up"], live=True,
                               operator=operator, timeout=1.5)  # fmt: skip
    assert results[0].status == "FAIL"
    assert results[0].details == [
        "after call StateSync before the scenario: AssertionError: nothing arrived within 2 s "
        "of: place a call to the agent's queue now from +15551234567"
    ]
    assert operator.progress >= 1


PROMPTS = {
    "place a call": ("IncomingCall", {"phoneNumber": "+15551234567"}),
    "hang up the customer's phone": ("CustomerHangup", None),
}


def test_the_command_in_live_mode_prompts_on_the_console(tmp_path: Path) -> None:
    """`ctibridge conform --live`: a scripted operator reads the prompts on stderr and does each
    step through the Simulator topic (HTTP); the progress line shows while the kit waits."""
    with make_run(tmp_path) as port:
        conform = subprocess.Popen(
            [BIN / "ctibridge", "conform", f"ws://127.0.0.1:{port}", "--live", "--timeout", "20",
             "--only", "customer_hangs_up", "--only", "logout_and_login", "--only",
             "refused_hold"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        asked: list[str] = []
        err: list[str] = []

        def operator() -> None:
            assert conform.stderr is not None
            for line in conform.stderr:
                err.append(line)
                if ">>> " not in line:
                    continue
                prompt = line.rpartition(">>> ")[2].strip()
                asked.append(prompt)
                subtopic, data = next(v for k, v in PROMPTS.items() if prompt.startswith(k))
                message = {"channel": "Amazon", "topic": "Simulator", "subtopic": subtopic,
                           "source": "operator", **({"data": data} if data else {})}  # fmt: skip
                answer = httpx.post(f"http://127.0.0.1:{port}/agents/agent1/messages", json=message)
                assert answer.status_code == 202, answer.text

        reader = threading.Thread(target=operator)
        reader.start()
        out = conform.stdout.read() if conform.stdout else ""
        assert conform.wait(120) == 0, out + "".join(err)
        reader.join(10)
    assert asked == [
        "place a call to the agent's queue now from +15551234567... waiting 20 s",
        "hang up the customer's phone now... waiting 20 s",
    ]
    # the progress line (rewritten in place with \r, which text mode reads as a line end)
    assert any(line.startswith("    waiting") and line.rstrip().endswith("s ...") for line in err)
    assert out.splitlines() == [
        "PASS customer_hangs_up",
        "PASS logout_and_login",
        "SKIP refused_hold",
        "    needs an injected Amazon Connect failure (driven mode only)",
        "2 passed, 0 failed, 1 skipped (live mode, protocol revision 2)",
    ]


# --- watch mode -----------------------------------------------------------------------------------


async def watched(hub: Served, traffic: Callable[[Client], Any]) -> list[str]:
    """Every violation watch mode reports while ``traffic`` runs as another app."""
    lines: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(watch(hub.url, "agent1", report=lines.append, stop=stop))
    app = await Client.connect(hub.url, "agent1", source="crm")
    try:
        await attached(hub, 2)  # the watcher and the app
        await traffic(app)
    finally:
        stop.set()
        count = await asyncio.wait_for(task, 10)
        await app.close()
    assert count == len(lines)
    return lines


async def a_day(app: Client) -> None:
    steps: list[tuple[Any, ...]] = [
        ("Simulator", "Configure", {"answerSeconds": 0}),
        ("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}),
        ("InboundCall", "Answer"), ("InboundCall", "Hold"), ("InboundCall", "Resume"),
        ("Agent", "Mute"), ("Agent", "Unmute"),
        ("InboundCall", "Consult", "+15557654321"), ("Simulator", "ThirdPartyAnswer"),
        ("InboundCall", "Swap"), ("InboundCall", "Conference"), ("InboundCall", "Transfer"),
        ("InboundCall", "ClearContact"), ("Agent", "UpdateState", {"label": "Break"}),
        ("OutboundCall", "MakeCall", "+15551234567"),
        ("Simulator", "OutboundResult", {"result": "answer"}), ("InboundCall", "Disconnect"),
        ("InboundCall", "ClearContact"),
    ]  # fmt: skip
    for topic, subtopic, *data in steps:
        result = await app.request(topic, subtopic, *data)
        assert result.ok, (subtopic, result.error)


async def test_watch_reports_nothing_on_a_conforming_stream() -> None:
    async with served_hub() as hub:
        assert await watched(hub, a_day) == []


async def test_watch_reports_each_violation_with_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        tables.ENABLED_CALL_BUTTONS["conference"],
        "agent",
        frozenset({"transfer", "numberpad", "swap"}),
    )
    async with served_hub() as hub:
        lines = await watched(hub, a_day)
    assert len(lines) == 2
    assert lines[0].startswith("VIOLATION seq ")
    assert lines[0].endswith(
        ' agent connected: message.call.ButtonStates.items.swap: expected "Hide", got '
        '"Enable" (§4.2 conference)'
    )
    assert lines[1].endswith(
        " agent connected: message.call.ResponseActual.buttonStates.swap: expected false, "
        "got true (§4.2 conference)"
    )


async def test_the_url_defaults_to_ctibridge_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with served_hub() as hub:
        monkeypatch.setenv("CTIBRIDGE_URL", hub.url)
        code, out = await conform(capsys, "--only", "number_pad")
    assert (code, out.splitlines()[0]) == (0, "PASS number_pad")


async def attached(hub: Served, count: int) -> None:
    """Until the hub's /metrics counts ``count`` open app connections."""
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            text = (await http.get(f"{hub.http}/metrics")).text
            if f"ctibridge_app_connections {float(count)}" in text:
                return
            await asyncio.sleep(0.025)
    raise AssertionError(f"never {count} app connections")


async def test_the_watch_command_prints_violations_until_the_hub_closes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ctibridge conform --watch URL`: only violations on stdout; exit 1 when there were any."""
    monkeypatch.setitem(tables.ENABLED_CALL_BUTTONS["two_party_held"], "agent", frozenset())
    capsys.readouterr()
    async with served_hub() as hub:
        watching = asyncio.create_task(
            asyncio.to_thread(main, ["conform", "--watch", hub.url, "--agent", "agent1"])
        )
        app = await Client.connect(hub.url, "agent1", source="crm")
        await attached(hub, 2)  # the watcher and the app
        for topic, subtopic in [("Simulator", "IncomingCall"), (IB, "Answer"), (IB, "Hold")]:
            data = [{"phoneNumber": "+15551234567"}] if subtopic == "IncomingCall" else []
            assert (await app.request(topic, subtopic, *data)).ok
        await app.close()
    assert await asyncio.wait_for(watching, 15) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2, lines
    assert all(line.startswith("VIOLATION seq ") for line in lines)
    assert lines[0].endswith(
        ' agent connected: message.call.ButtonStates.items.consult: expected "Enable", got '
        '"Hide" (§4.2 2-party, customer hold)'
    )


async def test_conform_with_a_token(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "conform-secret-" + "k" * 40
    token = auth.issue(secret, ["agent1"], "conform", int(time.time()), 600)
    async with served_hub(Settings(auth=AuthSettings(secret=secret))) as hub:
        refused = await asyncio.to_thread(main, ["conform", hub.url, "--only", "number_pad"])
        code, out = await conform(capsys, hub.url, "--token", token, "--only", "number_pad")
    assert refused == 2  # the hub wants a token: the CLI says so
    assert (code, out.splitlines()[0]) == (0, "PASS number_pad")


def test_list_names_every_scenario_with_what_it_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == NAMES
    assert lines[0].split(None, 1)[1] == SCENARIOS[0].doc
