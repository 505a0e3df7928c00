"""What operators see: Prometheus metrics, the audit log (who, what, result), /healthz with the
backend's and the journal's health, and JSON log lines carrying agent, contact and requestId."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from ctibridge.hub import logs
from ctibridge.protocol import decode_request
from ctibridge.settings import AuditSettings, AuthSettings, JournalSettings, Settings
from livehub import start_live_hub, stop_live_hub
from support.hub import SECRET, close_of, recv_json, request, token, ws_url


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict[Any, float], name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def scenario(url: str, grant: str) -> list[dict[str, Any]]:
    """A call with a success, a refusal, a backend failure, a forbidden id and a bad frame."""
    ws = await websockets.connect(ws_url(url, token=grant))
    await recv_json(ws), await recv_json(ws)
    two = await websockets.connect(ws_url(url, "agent2", token=token("agent2")))
    await recv_json(two), await recv_json(two)
    await two.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15550001111"}, "r2"))
    foreign = (await recv_json(two))["message"]["call"]["ResponseActual"]["contactId"]
    frames = [
        request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, "ring"),
        request("InboundCall", "Answer", rid="answer"),
        request("Simulator", "FailNext", {"subtopic": "Hold"}, "fail"),
        request("InboundCall", "Hold", rid="hold"),  # the backend refuses it
        request("InboundCall", "ClearContact", rid="clear"),  # refused: the call is live
        request("InboundCall", "Hold", foreign, rid="foreign"),  # agent2's contact
        "not json",
        request("Agent", "StateSync", rid="done"),
    ]
    for frame in frames:
        await ws.send(frame)
    received = []
    while True:
        message = await recv_json(ws)
        received.append(message)
        if message.get("requestId") == "done":
            break
    await ws.close()
    await two.close()
    return received


async def test_metrics_audit_and_health(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    settings = Settings(
        sim_seed=5,
        auth=AuthSettings(secret=SECRET),
        journal=JournalSettings(path=str(tmp_path / "journal.db")),
        audit=AuditSettings(path=str(audit)),
    )
    live = await start_live_hub(settings)
    try:
        grant = token("agent1", app="crm")
        await close_of(ws_url(live.url))  # refused: no token
        received = await scenario(live.url, grant)
        errors = {m.get("requestId"): m["message"]["type"] for m in received
                  if m["subtopic"] == "Error"}  # fmt: skip
        assert errors == {
            "hold": "HOLD_CALL_FAILED", "clear": "CLEAR_CONTACT_FAILED",
            "foreign": "FORBIDDEN", None: "INVALID_JSON",
        }  # fmt: skip
        async with httpx.AsyncClient(base_url=live.http) as http:
            metrics = samples((await http.get("/metrics")).text)
            health = await http.get("/healthz", headers={"Authorization": f"Bearer {grant}"})
            bare = await http.get("/healthz")
        # without a token /healthz names nothing: no agents, no journal path
        assert (bare.status_code, bare.json()) == (200, {"status": "ok"})
        m = metrics
        c = "ctibridge_commands_total"
        assert value(m, c, topic="InboundCall", subtopic="Answer", outcome="ok") == 1
        assert value(m, c, topic="InboundCall", subtopic="Hold", outcome="failed") == 1
        assert value(m, c, topic="InboundCall", subtopic="ClearContact", outcome="refused") == 1
        assert value(m, c, topic="InboundCall", subtopic="Hold", outcome="forbidden") == 1
        assert value(m, c, topic="Simulator", subtopic="IncomingCall", outcome="ok") == 2
        assert value(m, "ctibridge_command_latency_seconds_count", subtopic="Answer") == 1
        e = "ctibridge_errors_total"
        for kind in ("INVALID_JSON", "FORBIDDEN", "HOLD_CALL_FAILED", "CLEAR_CONTACT_FAILED"):
            assert value(m, e, type=kind) == 1, kind
        b = "ctibridge_backend_calls_total"
        assert value(m, b, action="Accept", outcome="ok") == 1
        assert value(m, b, action="Hold", outcome="error") == 1
        assert value(m, "ctibridge_connections_rejected_total", reason="auth") == 1
        assert value(m, "ctibridge_connections_total") == 2
        assert value(m, "ctibridge_app_connections") == 0
        published = value(m, "ctibridge_events_published_total")
        seqs = [msg["seq"] for msg in received if "seq" in msg]
        assert published == len(seqs) + 4  # and agent2's ringing call (with its CcpAgentState)
        assert value(m, "ctibridge_journal_lag_seconds_count") > 0
        assert value(m, "ctibridge_backend_throttles_total") == 0

        assert health.status_code == 200
        body = health.json()
        assert body["status"] == "ok" and body["auth"] == "tokens"
        assert body["backend"]["backend"] == "sim" and body["backend"]["running"] is True
        assert body["journal"]["kind"] == "sqlite" and body["journal"]["ok"] is True

        entries = [json.loads(line) for line in audit.read_text().splitlines()]
        mine = [e for e in entries if e["agent"] == "agent1"]
        assert [(e["subtopic"], e["outcome"], e["errorType"]) for e in mine] == [
            ("IncomingCall", "ok", None),
            ("Answer", "ok", None),
            ("FailNext", "ok", None),
            ("Hold", "failed", "HOLD_CALL_FAILED"),
            ("ClearContact", "refused", "CLEAR_CONTACT_FAILED"),
            ("Hold", "forbidden", "FORBIDDEN"),
        ]  # queries (the final StateSync) are not audited
        assert all(e["app"] == "crm" and e["conn"].startswith("c") for e in mine)
        assert [e["requestId"] for e in mine] == [
            "ring", "answer", "fail", "hold", "clear", "foreign"
        ]  # fmt: skip
        call = next(msg for msg in received if msg["subtopic"] == "InboundCallStateChange")
        contact = call["message"]["call"]["ResponseActual"]["contactId"]
        assert [e["contactId"] for e in mine] == [None, contact, contact, contact, contact, contact]
        assert mine[0]["data"] == {"phoneNumber": "+15551234567"}
        assert mine[3]["code"] == "InternalServiceException: simulated failure"
        assert all(isinstance(e["ms"], float) for e in mine)
        assert SECRET not in audit.read_text() and grant not in audit.read_text()
    finally:
        await stop_live_hub(live)


async def test_a_failing_journal_withholds_events_refuses_commands_and_recovers(
    tmp_path: Path,
) -> None:
    """An event that is not journaled is never sent: while writes fail the agent's commands get
    `…_FAILED` "journal unavailable", /healthz is 503 and the metric says so; once writes
    succeed again the hub recovers by itself and the apps get the current state."""
    settings = Settings(sim_seed=5, auth=AuthSettings(insecure=True),
                        journal=JournalSettings(path=str(tmp_path / "journal.db")))  # fmt: skip
    live = await start_live_hub(settings)
    try:
        ws = await websockets.connect(ws_url(live.url))
        await recv_json(ws), await recv_json(ws)
        journal = live.hub.journal
        db = journal._db  # type: ignore[attr-defined]
        journal._db = sqlite3.connect(":memory:")  # type: ignore[attr-defined]
        journal._db.close()  # type: ignore[attr-defined]  # every write now fails
        # a change the backend makes by itself (a call rings): not journaled, so not sent
        ring = decode_request(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}))
        live.hub.backend.simulate("agent1", "IncomingCall", ring.data)  # type: ignore[attr-defined]
        await ws.send(request("Agent", "UpdateState", {"label": "Break"}, "u"))
        refusal = await recv_json(ws)
        assert refusal["subtopic"] == "Error" and refusal["requestId"] == "u"
        assert refusal["message"]["type"] == "UPDATE_AGENT_STATE_FAILED"
        assert refusal["message"]["code"] == "journal unavailable"
        assert "seq" not in refusal
        await ws.send(request("Agent", "GetStates", rid="q"))  # reads still work
        assert (await recv_json(ws))["requestId"] == "q"
        async with httpx.AsyncClient(base_url=live.http) as http:
            health = await http.get("/healthz")
            metrics = samples((await http.get("/metrics")).text)
            assert health.status_code == 503
            assert health.json()["status"] == "degraded"
            assert "ProgrammingError" in health.json()["journal"]["error"]
            assert value(metrics, "ctibridge_journal_errors_total") >= 1
            assert value(metrics, "ctibridge_journal_available") == 0
            # over HTTP the refusal is the response (it goes to the sender only)
            post = await http.post("/agents/agent1/messages", content=request("Agent", "Logout"))
            assert post.status_code == 503
            assert post.json()["message"]["code"] == "journal unavailable"
            journal._db = db  # type: ignore[attr-defined]  # the disk has room again
            # recovered by itself: the apps get the current state (the ringing call)
            sync = await recv_json(ws)
            assert (sync["topic"], sync["subtopic"]) == ("Agent", "StateSync")
            call_sync = await recv_json(ws)
            assert call_sync["subtopic"] == "StateSync"
            health = await http.get("/healthz")
            assert health.status_code == 200
            metrics = samples((await http.get("/metrics")).text)
            assert value(metrics, "ctibridge_journal_available") == 1
        await ws.send(request("Agent", "UpdateState", {"label": "Break"}, "v"))
        event = await recv_json(ws)
        assert (event["subtopic"], event["requestId"]) == ("SetAgentState", "v")
        # every event sent is in the journal under its seq
        stored = journal.since("agent1", event["seq"] - 1, 1)
        assert stored is not None and json.loads(stored[0]) == event
        await ws.close()
    finally:
        await stop_live_hub(live)


async def test_json_log_lines_carry_agent_contact_and_request(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logs.configure("json", "INFO", stream=stream)
    live = await start_live_hub()
    try:
        ws = await websockets.connect(ws_url(live.url))
        await recv_json(ws), await recv_json(ws)
        await ws.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, "r1"))
        contact = (await recv_json(ws))["message"]["call"]["ResponseActual"]["contactId"]
        await recv_json(ws), await recv_json(ws)
        await ws.send(request("InboundCall", "Answer", rid="r2"))
        [await recv_json(ws) for _ in range(3)]
        await ws.close()
    finally:
        await stop_live_hub(live)
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    answer = next(line for line in lines if line.get("requestId") == "r2")
    assert answer["logger"] == "ctibridge.audit" and answer["msg"] == "command"
    assert (answer["agent"], answer["contactId"], answer["outcome"]) == ("agent1", contact, "ok")
    assert answer["audit"]["subtopic"] == "Answer"
    assert answer["ts"].endswith("Z") and answer["level"] == "INFO"
    connected = next(line for line in lines if line["msg"] == "app connected")
    assert connected["agent"] == "agent1" and connected["conn"].startswith("c")


async def test_dtmf_digits_are_masked_in_the_audit_log(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    settings = Settings(sim_seed=5, auth=AuthSettings(insecure=True),
                        audit=AuditSettings(path=str(audit)))  # fmt: skip
    live = await start_live_hub(settings)
    try:
        ws = await websockets.connect(ws_url(live.url))
        await recv_json(ws), await recv_json(ws)
        await ws.send(request("Simulator", "IncomingCall", {"phoneNumber": "+15551234567"}, "r"))
        [await recv_json(ws) for _ in range(3)]
        await ws.send(request("InboundCall", "Answer", rid="a"))
        [await recv_json(ws) for _ in range(3)]
        await ws.send(request("InboundCall", "SendDTMF", "4111111111111111", rid="card"))
        await recv_json(ws)
        await ws.close()
    finally:
        await stop_live_hub(live)
    text = audit.read_text()
    entry = next(json.loads(line) for line in text.splitlines() if '"card"' in line)
    assert entry["subtopic"] == "NumberPad" and entry["data"] == "****1111"
    assert "4111111111111111" not in text


def test_how_many_dtmf_digits_the_audit_log_keeps_is_configurable(tmp_path: Path) -> None:
    from ctibridge.hub.audit import AuditLog

    for visible, expected in ((4, "****5678"), (0, "****"), (-1, "12345678")):
        path = tmp_path / f"audit{visible}.jsonl"
        log = AuditLog(str(path), dtmf_visible=visible)
        log.record({"subtopic": "NumberPad", "data": "12345678"})
        log.record({"subtopic": "MakeCall", "data": {"phoneNumber": "+15551234567"}})
        log.close()
        first, second = (json.loads(line) for line in path.read_text().splitlines())
        assert first["data"] == expected
        assert second["data"] == {"phoneNumber": "+15551234567"}  # only keyed-in digits


async def test_the_audit_writer_drops_and_counts_what_its_queue_cannot_hold(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Records are queued and written once per loop tick; beyond ``max_queued`` in one tick
    they are dropped - counted and logged once - and the command's path never waits."""
    from ctibridge.hub.audit import AuditLog

    path = tmp_path / "audit.jsonl"
    log = AuditLog(str(path), max_queued=2)
    dropped: list[int] = []
    log.on_drop = dropped.append
    for i in range(4):
        log.record({"subtopic": "UpdateState", "requestId": f"r{i}"})
    assert path.read_text() == ""  # nothing written inside the tick
    await asyncio.sleep(0)  # the tick ends: one write
    assert [json.loads(line)["requestId"] for line in path.read_text().splitlines()] == [
        "r0", "r1"
    ]  # fmt: skip
    assert (log.dropped, dropped) == (2, [1, 1])
    assert [r.getMessage() for r in caplog.records].count("audit records dropped") == 1
    log.close()
