"""A disk that fills up (``ulimit -f`` on the hub's process): the hub sends no event it could not
journal, refuses commands with "journal unavailable", and after a restart no seq an app
received is issued again for another event."""

from __future__ import annotations

import json
import resource
import sqlite3
from pathlib import Path
from typing import Any

import websockets

from support.hub import hub_process, recv_json, request, ws_url

LIMIT = 256 * 1024  # bytes any file of the hub may grow to: the WAL fills up after a few dozen


def _small_disk() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


async def test_a_full_disk_withholds_events_and_seq_never_repeats(tmp_path: Path) -> None:
    journal = tmp_path / "journal.db"
    config = f'[auth]\ninsecure = true\n[journal]\npath = "{journal}"\n'
    seen: dict[int, dict[str, Any]] = {}
    with hub_process(tmp_path, config) as hub:
        hub.preexec = _small_disk
        hub.start()
        app = await websockets.connect(ws_url(hub.url))
        await recv_json(app), await recv_json(app)
        refusals = 0
        for i in range(150):  # within the rate limit (burst 200)
            label = ("Break", "Available")[i % 2]
            await app.send(request("Agent", "UpdateState", {"label": label}, rid=f"u{i}"))
            while True:  # its event, or its refusal (StateSyncs: the journal came back)
                answer = await recv_json(app)
                if answer.get("requestId") == f"u{i}":
                    break
            if "seq" in answer:
                assert answer["seq"] not in seen
                seen[answer["seq"]] = answer
            else:
                assert answer["message"]["type"] == "UPDATE_AGENT_STATE_FAILED"
                assert answer["message"]["code"] == "journal unavailable"
                refusals += 1
        assert refusals, "the journal never filled up"
        await app.close()
        hub.kill()
        # every event an app received is in the journal, byte for byte
        db = sqlite3.connect(journal)
        rows = dict(db.execute("SELECT seq, data FROM events WHERE login = 'agent1'").fetchall())
        db.close()
        assert {seq: json.loads(rows[seq]) for seq in seen if seq in rows} == seen

        hub.preexec = None  # the operator frees the disk and restarts the hub
        hub.start()
        last = max(seen)
        app = await websockets.connect(ws_url(hub.url, resumeFrom=last))
        for i in range(5):
            await app.send(request("Agent", "UpdateState", {"label": ("Lunch", "Break")[i % 2]},
                                   rid=f"after{i}"))  # fmt: skip
        events: list[dict[str, Any]] = []
        while [m.get("requestId") for m in events][-1:] != ["after4"]:
            message = await recv_json(app)
            if "seq" in message:
                events.append(message)
        # the replay, what changed while the hub was down (the simulator started afresh), then
        # the new events: each under a seq never used before
        for event in events:
            assert event["seq"] not in seen, f"seq {event['seq']} repeated: {json.dumps(event)}"
            seen[event["seq"]] = event
        mine = [
            m["requestId"]
            for m in events
            if str(m.get("requestId")).startswith("after") and m["subtopic"] == "SetAgentState"
        ]
        assert mine == [f"after{i}" for i in range(5)]
        await app.close()
