"""The command line (protocol.md §8) as a subprocess against the live hub: ``ctibridge send`` and
``ctibridge sim`` print the events a request causes as JSON lines and exit 0 on success, 1 when
the request fails; a WebSocket app of the same agent sees the same events."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Any

import pytest
from e2e_support import CUSTOMER, flush, ok, ring, rows

from published_names import DIAL_ERROR_STATES


async def cli(live: Any, *args: str, agent: str = "agent1") -> tuple[int, list[Any], str]:
    """Run ``ctibridge`` (this interpreter's) against the live hub: exit code, stdout JSON
    lines, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ctibridge.cli", args[0], "--url", live.url, "--agent", agent,
        "--timeout", "10", *args[1:],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return process.returncode, lines, err.decode()


def send(message: dict[str, Any]) -> tuple[str, str]:
    return ("send", json.dumps(message))


async def test_sim_incoming_then_send_answer(live):
    app = await live.connect(source="toolbar")
    code, lines, err = await cli(live, "sim", "incoming", CUSTOMER, "--queue", "Sales")
    assert (code, err) == (0, "")
    assert [r[:2] for r in rows(lines)] == [
        ("agent", "connecting"),
        ("inbound", "connected"),
        ("SetAgentState", "PendingBusy"),
    ]
    assert lines[0]["message"]["call"]["ResponseFields"]["MediaProperties"]["queueName"] == "Sales"
    assert lines[1]["message"]["call"]["ResponseActual"]["phoneNumber"] == CUSTOMER
    assert await flush(app) == lines  # the same events, seq and requestId included

    code, lines, err = await cli(live, *send({"topic": "InboundCall", "subtopic": "Answer"}))
    assert (code, err) == (0, "")
    assert rows(lines) == [
        ("agent", "connected", "connected", "connecting", {"consult", "numberpad"}),
        ("inbound", "connected", "connected", None, {"disconnect", "hold"}),
        ("SetAgentState", "Busy", {"NotReady", "Ready", "mute"}),
    ]
    assert await flush(app) == lines


async def test_send_with_data_and_alias(live):
    app = await live.connect()
    await ring(app)
    await ok(app, "InboundCall", "Answer")
    message = {"topic": "OutboundCall", "subtopic": "SendDTMF", "data": "123#"}
    code, lines, _ = await cli(live, *send(message))
    assert code == 0
    assert [r[:2] for r in rows(lines)] == [("agent", "connected")]
    assert await flush(app) == lines


async def test_send_a_failing_request_exits_1(live):
    app = await live.connect()
    code, lines, _ = await cli(live, *send({"topic": "InboundCall", "subtopic": "Reject"}))
    assert code == 1
    assert len(lines) == 1
    error = lines[0]
    assert error["subtopic"] == "Error"
    assert error["message"]["type"] == "REJECT_CALL_FAILED"
    assert error["message"]["text"] == "Rejecting call failed."
    assert error["message"]["request"]["source"] == "ctibridge-cli"
    assert await flush(app) == lines  # a failure reaches every app


async def test_injected_failure_through_the_cli(live):
    app = await live.connect()
    await ring(app)
    await ok(app, "InboundCall", "Answer")
    code, lines, _ = await cli(live, "sim", "fail-next", "SetHold")
    assert code == 0
    assert [line["subtopic"] for line in lines] == ["SetAgentState"]
    code, lines, _ = await cli(live, *send({"topic": "InboundCall", "subtopic": "SetHold"}))
    assert code == 1
    assert lines[0]["message"]["type"] == "HOLD_CALL_FAILED"
    assert lines[0]["message"]["code"] == "InternalServiceException: simulated failure"
    code, lines, _ = await cli(live, *send({"topic": "InboundCall", "subtopic": "SetHold"}))
    assert code == 0
    assert [r[:2] for r in rows(lines)] == [("agent", "connected"), ("inbound", "hold")]


async def test_protocol_error_exits_1(live):
    code, lines, _ = await cli(live, *send({"topic": "Chat", "subtopic": "Hello"}))
    assert code == 1
    assert [(m["topic"], m["message"]["type"]) for m in lines] == [("Chat", "UNKNOWN_TOPIC")]


@pytest.mark.parametrize(("result", "state"), DIAL_ERROR_STATES)
async def test_sim_outbound_result(live, result, state):
    app = await live.connect()
    await ok(app, "OutboundCall", "MakeCall", CUSTOMER)
    code, lines, _ = await cli(live, "sim", "outbound", result)
    assert code == 0
    assert [r[:2] for r in rows(lines)] == [
        ("agent", "ACW"),
        ("outbound", "DROPPED"),
        ("SetAgentState", state),  # the agent error state of the outcome (§3.3)
    ]


async def test_sim_failure_exits_1(live):
    code, lines, _ = await cli(live, "sim", "hangup")  # no call to hang up
    assert code == 1
    assert [(m["topic"], m["message"]["type"]) for m in lines] == [
        ("Simulator", "SIMULATOR_FAILED")
    ]


async def test_another_agent(live):
    app2 = await live.connect("agent2")
    code, lines, _ = await cli(live, "sim", "preview", CUSTOMER, agent="agent2")
    assert code == 0
    assert lines[0]["topic"] == "OutboundCall"
    assert await flush(app2) == lines


async def test_usage_errors_exit_2(live):
    code, lines, err = await cli(live, "send", "not json")
    assert (code, lines) == (2, [])
    assert "not JSON" in err
    code, lines, err = await cli(live, "sim", "incoming")  # no number
    assert (code, lines) == (2, [])
    assert "needs a value" in err


async def test_unknown_agent_fails_at_once(live):
    code, lines, err = await cli(
        live, *send({"topic": "Agent", "subtopic": "StateSync"}), agent="x9"
    )
    assert code == 2
    assert lines == []
    assert "UNKNOWN_AGENT" in err
    assert "agents: agent1, agent2, agent3" in err  # the way out


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run ``ctibridge`` (this interpreter's) with nothing added: code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ctibridge.cli", *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("scheme", ["ws", "http"])  # the address the banner prints works too
async def test_ctibridge_url_names_the_hub(live, scheme):
    request = '{"topic":"Agent","subtopic":"UpdateState","data":{"label":"Break"}}'
    env = {"CTIBRIDGE_URL": f"{scheme}://127.0.0.1:{live.port}"}
    code, out, err = await run("send", "--agent", "agent1", request, env=env)
    assert (code, err) == (0, "")
    message = json.loads(out.splitlines()[0])["message"]
    assert (message["event"], message["data"]["state"]) == ("Break", "Not_Ready")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://127.0.0.1:1", "not a hub URL: ftp://127.0.0.1:1 (e.g. ws://127.0.0.1:8765)"),
        ("ws://nohost.invalid:8765", "its host name does not resolve"),
    ],
)
async def test_a_bad_url_is_named(url, says):
    code, out, err = await run("tail", "--agent", "agent1", "--url", url)
    assert (code, out) == (2, "")
    assert says in err and "Traceback" not in err


async def test_no_hub_says_how_to_start_one():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{s.getsockname()[1]}"
    for args, env in [(["--url", url], {}), ([], {"CTIBRIDGE_URL": url})]:
        code, out, err = await run("tail", "--agent", "agent1", *args, env=env)
        assert (code, out) == (2, "")
        assert err == (
            f"ctibridge: no hub at {url}: start one with `make run` or pass --url"
            " (or set CTIBRIDGE_URL)\n"
        )


async def test_tail_of_an_unknown_agent_says_what_to_do(live):
    code, out, err = await run("tail", "--agent", "agent9", "--url", live.url)
    assert code == 2
    assert json.loads(out)["message"]["code"].startswith("agent9 is not an agent of this hub")
    assert "no such agent: GET /agents on the hub lists them" in err


async def test_schema_into_a_closed_pipe_is_quiet():
    done = await asyncio.create_subprocess_exec(
        "bash", "-o", "pipefail", "-c", f"{sys.executable} -m ctibridge.cli schema | head -n 2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(done.communicate(), 30)
    assert (done.returncode, err.decode()) == (0, "")
    assert out.decode().splitlines() == [
        "{",
        '  "$schema": "https://json-schema.org/draft/2020-12/schema",',
    ]
